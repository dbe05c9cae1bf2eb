// GRACE: General Retrieval Adaptors for Continual Editing (Hartvigsen et al., NeurIPS 2023; Thartvigsen/GRACE,
// EasyEdit easyeditor/models/grace). A codebook adaptor at one layer replaces the layer's output with a trained value
// when the input lies within a key's deferral radius; the model's weights never change. docs/grace.md has the
// algorithm, the hparams, where lmedit follows the original rather than EasyEdit, rollback, and the checks.
//
// One session owns one adaptor (kind 'GRACE') at the hparams' layer: it adopts the one a loaded model already has
// installed there, or starts an empty one (the identity). Each compute adds the request's keys to it, tagged with the
// edit id, and returns it as the edit's shared patch.
import { Generator } from '../../tensor/index.js';
import type { CausalLM, ModulePatch } from '../../models/index.js';
import type { Tensor } from '../../tensor/index.js';
import type { EditMethod, MethodSession, SessionContext } from '../types.js';
import { SharedPatch } from '../shared-patch.js';
import { recordKeys } from '../footprint.js';
import { GraceAdaptor, type AdaptorConfig } from './adaptor.js';
import { graceEdit } from './edit.js';
import { checkGraceHparams, graceModulePath, GRACE_SCHEMA, type GraceHparams } from './hparams.js';
import { stringSeed } from '../../util/random.js';

export type { GraceHparams } from './hparams.js';
export { GraceAdaptor } from './adaptor.js';

function adaptorConfig(h: GraceHparams): AdaptorConfig {
  return { eps: h.eps, replacement: h.replacement, eps_expand: h.eps_expand };
}

/** The GRACE adaptor installed at `module` (the last one there), if any; its settings must be the session's. */
function installedAdaptor(patches: readonly ModulePatch[], module: string, config: AdaptorConfig): GraceAdaptor | undefined {
  const found = patches.filter((p): p is GraceAdaptor => p instanceof GraceAdaptor && p.module === module).at(-1);
  if (!found) return undefined;
  const differ = (Object.keys(config) as (keyof AdaptorConfig)[]).filter((k) => found.config[k] !== config[k]);
  if (differ.length) {
    const show = (c: AdaptorConfig) => differ.map((k) => `${k} ${c[k]}`).join(', ');
    throw new Error(`the GRACE adaptor installed at '${module}' was built with ${show(found.config)}; these hparams say ${show(config)} (use the adaptor's values to add edits to it)`);
  }
  return found;
}

function openSession(model: CausalLM, h: GraceHparams, ctx: SessionContext): MethodSession {
  const module = graceModulePath(h.inner_params[0]);
  const config = adaptorConfig(h);
  const shared = new SharedPatch(model, (ps) => installedAdaptor(ps, module, config), () => new GraceAdaptor(module, config));
  return {
    compute: (requests, cctx) => shared.edit(cctx.editId, requests, (r, edit) => {
      // a cold value's random start depends on the seed and the request only, not on how many edits came before:
      // a resumed run draws what an uninterrupted one does
      const generator = new Generator(stringSeed(ctx.seed, `${r.text}\u0000${r.targetNew}`));
      const onKey = (query: Tensor) => recordKeys(edit, module, query.unsqueeze(0)); // the footprint
      return graceEdit(model, ctx.tokenizer, shared.patch, r, h, { editId: cctx.editId, generator, recordVectors: ctx.recordVectors, log: ctx.log, onKey });
    }),
    adopt: (edited) => shared.adopt(edited),
    dispose: () => shared.release(),
  };
}

export const grace: EditMethod<GraceHparams> = {
  name: 'GRACE',
  schema: GRACE_SCHEMA,
  batching: 'sequential',
  check: checkGraceHparams,
  open: openSession,
  loadPatch(state, model, h) {
    const module = (state.meta as { module?: string }).module ?? graceModulePath(h.inner_params[0]);
    if (!model.modulePaths().includes(module)) throw new Error(`GRACE state: the model has no module '${module}'`);
    return GraceAdaptor.fromState(module, state);
  },
};
