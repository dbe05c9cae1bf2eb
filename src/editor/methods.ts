// Method registry: alg_name → method (EasyEdit's ALG_DICT). One line per method.
import type { EditMethod } from '../methods/types.js';
import { rome } from '../methods/rome/index.js';
import { memit } from '../methods/memit/index.js';
import { ft } from '../methods/ft/index.js';
import { ike } from '../methods/ike/index.js';
import { grace } from '../methods/grace/index.js';
import { pmet } from '../methods/pmet/index.js';
import { alphaedit } from '../methods/alphaedit/index.js';
import { emmet } from '../methods/emmet/index.js';
import { kn } from '../methods/kn/index.js';
import { wise } from '../methods/wise/index.js';
import { tpatcher } from '../methods/tpatcher/index.js';
import { calinet } from '../methods/calinet/index.js';
import { mend } from '../methods/mend/index.js';
import { serac } from '../methods/serac/index.js';
import { ke } from '../methods/ke/index.js';
import { memprompt } from '../methods/memprompt/index.js';
import { mello } from '../methods/mello/index.js';
import { setEncoderDecoderListing } from '../methods/architecture.js';

const METHODS = new Map<string, { method: EditMethod; defaults?: Record<string, unknown> }>([
  ['ROME', { method: rome }],
  ['R-ROME', { method: rome, defaults: { enable_random_prefix_keys: true } }],
  ['MEMIT', { method: memit }],
  ['FT', { method: ft }],
  ['FT-L', { method: ft, defaults: { objective_optimization: 'prompt_last' } }],
  ['FT-M', { method: ft, defaults: { objective_optimization: 'target_new' } }],
  ['IKE', { method: ike }],
  ['GRACE', { method: grace }],
  ['PMET', { method: pmet }],
  ['ALPHAEDIT', { method: alphaedit }],
  ['EMMET', { method: emmet }],
  ['KN', { method: kn }],
  ['WISE', { method: wise }],
  ['T-PATCHER', { method: tpatcher }],
  ['CALINET', { method: calinet }],
  ['MEND', { method: mend }],
  ['SERAC', { method: serac }],
  ['KE', { method: ke }],
  ['MEMPROMPT', { method: memprompt }],
  ['MELLO', { method: mello }],
]);

/** alg_names of the methods that also edit encoder-decoder models (T5). */
export function encoderDecoderMethodNames(): string[] {
  return [...METHODS.entries()].filter(([, m]) => m.method.encoderDecoder).map(([n]) => n);
}
setEncoderDecoderListing(encoderDecoderMethodNames);

export function registerMethod(name: string, method: EditMethod, defaults?: Record<string, unknown>): void {
  METHODS.set(name.toUpperCase(), { method, defaults });
}

/** The method for an alg_name (case-insensitive), with hparams defaults that distinguish variants (R-ROME). */
export function methodFor(name: string): { method: EditMethod; defaults: Record<string, unknown> } {
  const m = METHODS.get(name.toUpperCase());
  if (!m) throw new Error(`unknown editing method '${name}' (available: ${[...METHODS.keys()].join(', ')})`);
  return { method: m.method, defaults: m.defaults ?? {} };
}

export function methodNames(): string[] {
  return [...METHODS.keys()];
}
