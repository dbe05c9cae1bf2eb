// GRACE hyper-parameters: EasyEdit's field names (easyeditor/models/grace/grace_hparams.py, hparams/GRACE/*.yaml),
// which are the original code's `config.editor` fields (Thartvigsen/GRACE grace/config/editor/grace.yaml) plus
// inner_params. See docs/grace.md for what each one does here.
import type { CausalLM } from '../../models/index.js';
import type { Schema } from '../hparams.js';

export type Replacement = 'replace_last' | 'replace_all' | 'replace_prompt';
export type EpsExpand = 'coverage' | 'moving_average';

export interface GraceHparams {
  /** One weight (or module) path of the layer GRACE wraps, EasyEdit style: `transformer.h[35].mlp.c_fc.weight`. */
  inner_params: string[];
  edit_lr: number;
  n_iter: number;
  /** ε_init: the radius of a new key, and the margin of the new-key rule. */
  eps: number;
  dist_fn: string;
  val_init: 'cold' | 'warm';
  val_train: string;
  val_reg: string;
  reg: string;
  replacement: Replacement;
  eps_expand: EpsExpand;
  num_pert: number;
  dropout: number;
}

export const GRACE_SCHEMA: Schema = {
  inner_params: { type: 'string[]|null', doc: "the wrapped layer, e.g. ['transformer.h[35].mlp.c_fc.weight']" },
  edit_lr: { type: 'number', default: 1.0 },
  n_iter: { type: 'integer', default: 100 },
  eps: { type: 'number', default: 1.0 },
  dist_fn: { type: 'string', default: 'euc' },
  val_init: { type: 'string', default: 'cold' },
  val_train: { type: 'string', default: 'sgd' },
  val_reg: { type: 'string|null', default: 'None' },
  reg: { type: 'string|null', default: 'early_stop' },
  replacement: { type: 'string', default: 'replace_last' },
  eps_expand: { type: 'string', default: 'coverage' },
  num_pert: { type: 'integer', default: 8 },
  dropout: { type: 'number', default: 0 },
};

const ALLOWED: Record<string, readonly string[]> = {
  dist_fn: ['euc'],
  val_init: ['cold', 'warm'],
  val_train: ['sgd', 'adv'],
  replacement: ['replace_last', 'replace_all', 'replace_prompt'],
  eps_expand: ['coverage', 'moving_average'],
};

/**
 * The module GRACE wraps, from `inner_params[0]`: brackets become dots and a trailing `.weight`/`.bias` is dropped,
 * as the original does (`transformer.h[4].mlp.c_fc.weight` → `transformer.h.4.mlp.c_fc`).
 */
export function graceModulePath(innerParam: string): string {
  const dotted = innerParam.trim().replace(/\[(\d+)\]/g, '.$1');
  return dotted.replace(/\.(weight|bias)$/, '');
}

/** Checks the hparams against the model; every error names the file and the field. */
export function checkGraceHparams(model: CausalLM, h: GraceHparams, source: string): void {
  if (!Array.isArray(h.inner_params) || h.inner_params.length !== 1) {
    throw new Error(`${source}: inner_params must list exactly one layer (GRACE wraps one layer), got ${JSON.stringify(h.inner_params)}`);
  }
  for (const [field, allowed] of Object.entries(ALLOWED)) {
    const v = (h as unknown as Record<string, unknown>)[field];
    if (!allowed.includes(v as string)) {
      const why = field === 'dist_fn' ? ' (the original code computes the Euclidean distance whatever dist_fn says)' : '';
      throw new Error(`${source}: ${field} must be one of ${allowed.join(', ')}, got '${v}'${why}`);
    }
  }
  if (!(h.eps > 0)) throw new Error(`${source}: eps must be > 0, got ${h.eps}`);
  if (!(h.edit_lr > 0)) throw new Error(`${source}: edit_lr must be > 0, got ${h.edit_lr}`);
  if (h.n_iter < 1) throw new Error(`${source}: n_iter must be >= 1, got ${h.n_iter}`);
  const path = graceModulePath(h.inner_params[0]);
  const known = model.modulePaths();
  if (!known.includes(path)) {
    const last = path.split('.').slice(-1)[0];
    const near = known.filter((k) => k.endsWith(`.${last}`)).slice(0, 3);
    throw new Error(`${source}: inner_params '${h.inner_params[0]}' names the module '${path}', which this ${model.modelType} model ` +
      `(${model.dims.numLayers} layers) does not have` + (near.length ? `; modules of that name: ${near.join(', ')}, …` : '') +
      ' (see `lmedit inspect`)');
  }
}
