// WISE hyper-parameters: EasyEdit's field names (easyeditor/models/wise/wise_hparams.py, hparams/WISE/*.yaml). EasyEdit's
// files write the three routing margins as `act_margin: [alpha, beta, gamma]`, which WISEHyperParams.from_hparams splits
// into alpha, beta and gamma; both spellings are accepted here (an explicit alpha/beta/gamma wins over act_margin).
// One lmedit field: loc_file, where the irrelevant prompts of the routing loss come from (EasyEdit takes them as the
// `loc_prompts` argument of editor.edit). docs/wise.md says what each field does.
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { CausalLM } from '../../models/index.js';
import type { Schema } from '../hparams.js';
import { packageRoot } from '../../util/package-root.js';

export type MergeAlg = 'ties' | 'magnitude_norm' | 'magnitude' | 'sign';

export interface WiseHparams {
  /** One weight (or module) path of the FFN matrix WISE copies, EasyEdit style: `transformer.h[4].mlp.c_proj.weight`. */
  inner_params: string[];
  edit_lr: number;
  n_iter: number;
  objective_optimization: string;
  mask_ratio: number;
  act_margin: number[];
  alpha: number | null;
  beta: number | null;
  gamma: number | null;
  act_ratio: number;
  save_freq: number;
  merge_freq: number;
  merge_alg: MergeAlg;
  norm_constraint: number;
  weights: number;
  densities: number;
  retrieve: boolean;
  replay: boolean;
  use_chat_template: boolean;
  save_path: string | null;
  load_path: string | null;
  /** Text file of irrelevant prompts (one candidate per line); '' = WikiText-2 test beside the package. */
  loc_file: string;
}

export const WISE_SCHEMA: Schema = {
  inner_params: { type: 'string[]|null', doc: "the side-memory layer, e.g. ['transformer.h[4].mlp.c_proj.weight']" },
  edit_lr: { type: 'number', default: 1.0, exclusiveMin: 0 },
  n_iter: { type: 'integer', default: 40, min: 1 },
  objective_optimization: { type: 'string', default: 'only_label' },
  mask_ratio: { type: 'number', default: 0.2, exclusiveMin: 0 },
  act_margin: { type: 'integer[]', default: [5, 20, 10], doc: '[alpha, beta, gamma] (whole numbers; write alpha/beta/gamma for others)' },
  alpha: { type: 'number', default: null },
  beta: { type: 'number', default: null },
  gamma: { type: 'number', default: null },
  act_ratio: { type: 'number', default: 0.8, exclusiveMin: 0 },
  save_freq: { type: 'integer', default: 500, min: 1 },
  merge_freq: { type: 'integer', default: 1000, min: 1 },
  merge_alg: { type: 'string', default: 'ties' },
  norm_constraint: { type: 'number', default: 1.0, exclusiveMin: 0 },
  weights: { type: 'number', default: 1.0, exclusiveMin: 0 },
  densities: { type: 'number', default: 0.53, exclusiveMin: 0 },
  retrieve: { type: 'boolean', default: true },
  replay: { type: 'boolean', default: false },
  use_chat_template: { type: 'boolean', default: false },
  save_path: { type: 'string|null', default: null },
  load_path: { type: 'string|null', default: null },
  loc_file: { type: 'string', default: '' },
};

const MERGE_ALGS: readonly MergeAlg[] = ['ties', 'magnitude_norm', 'magnitude', 'sign'];

/** The routing margins (EasyEdit's act_margin = [alpha, beta, gamma]). */
export function margins(h: WiseHparams): { alpha: number; beta: number; gamma: number } {
  const m = h.act_margin ?? [];
  return { alpha: h.alpha ?? m[0], beta: h.beta ?? m[1], gamma: h.gamma ?? m[2] };
}

/** The module from `inner_params[0]`: brackets become dots, a trailing `.weight`/`.bias` is dropped. */
export function wiseModulePath(innerParam: string): string {
  return innerParam.trim().replace(/\[(\d+)\]/g, '.$1').replace(/\.(weight|bias)$/, '');
}

/** The irrelevant-prompt file: loc_file as given (absolute, or relative to the working directory or the package). */
export function locFilePath(h: WiseHparams): string {
  const given = h.loc_file === '' ? join('..', 'shared', 'data', 'wikitext-2', 'test.txt') : h.loc_file;
  if (isAbsolute(given)) return given;
  const here = resolve(given);
  return existsSync(here) ? here : resolve(packageRoot(), given);
}

function checkChoices(h: WiseHparams, source: string): void {
  if (!MERGE_ALGS.includes(h.merge_alg)) {
    throw new Error(`${source}: merge_alg must be one of ${MERGE_ALGS.join(', ')}, got '${h.merge_alg}' (EasyEdit's slerp, linear and the random dare variants are not implemented)`);
  }
  if (h.objective_optimization !== 'only_label') {
    throw new Error(`${source}: objective_optimization must be 'only_label' (the loss on the target tokens, as every EasyEdit WISE file), got '${h.objective_optimization}'`);
  }
  if (h.replay && h.retrieve) throw new Error(`${source}: replay (WISE-Retrieve's replay of past edits, paper appendix B.3) is not implemented; set replay: false`);
  if (h.use_chat_template) throw new Error(`${source}: use_chat_template is not supported (no chat templates in lmedit); set it to false`);
}

function checkNumbers(h: WiseHparams, source: string): void {
  const m = h.act_margin;
  if (!Array.isArray(m) || m.length !== 3) throw new Error(`${source}: act_margin must list 3 numbers [alpha, beta, gamma], got ${JSON.stringify(m)}`);
  const { alpha, beta, gamma } = margins(h);
  for (const [k, v] of Object.entries({ alpha, beta, gamma })) if (!(v >= 0)) throw new Error(`${source}: ${k} must be >= 0, got ${v}`);
  if (h.mask_ratio > 1) throw new Error(`${source}: mask_ratio must be in (0, 1], got ${h.mask_ratio}`);
  if (h.densities > 1) throw new Error(`${source}: densities must be in (0, 1], got ${h.densities}`);
  if (h.merge_freq % h.save_freq !== 0) {
    throw new Error(`${source}: merge_freq (${h.merge_freq}) must be a multiple of save_freq (${h.save_freq}), as EasyEdit requires`);
  }
}

/** Checks the hparams against the model; every error names the file and the field. */
export function checkWiseHparams(model: CausalLM, h: WiseHparams, source: string): void {
  if (!Array.isArray(h.inner_params) || h.inner_params.length !== 1) {
    throw new Error(`${source}: inner_params must list exactly one weight (WISE keeps a side copy of one layer), got ${JSON.stringify(h.inner_params)}`);
  }
  checkChoices(h, source);
  checkNumbers(h, source);
  const path = wiseModulePath(h.inner_params[0]);
  if (!model.modulePaths().includes(path) || !model.params.has(`${path}.weight`)) {
    const near = model.modulePaths().filter((k) => k.endsWith(`.${path.split('.').slice(-1)[0]}`)).slice(0, 3);
    throw new Error(`${source}: inner_params '${h.inner_params[0]}' names '${path}', which is not a linear layer of this ${model.modelType} model` +
      (near.length ? `; layers of that name: ${near.join(', ')}, …` : '') + ' (see `lmedit inspect`)');
  }
  if (model.parameter(`${path}.weight`).shape.length !== 2) throw new Error(`${source}: '${path}.weight' is not a matrix`);
  if (!existsSync(locFilePath(h))) throw new Error(`${source}: loc_file: no file at ${locFilePath(h)} (the irrelevant prompts of WISE's routing loss)`);
}
