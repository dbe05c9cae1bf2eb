// ROME hyper-parameters: EasyEdit's / kmeng01/rome's field names (hparams/ROME/gpt2-xl.yaml).
import { MODULE_TEMPLATE_FIELDS, STATS_FIELDS, type ModuleTemplateHparams, type Schema, type StatsHparams } from '../hparams.js';
import type { FactToken } from '../locate.js';

/** The value optimisation's settings (ROME at the MLP output, MEMIT at the block output). */
export interface ValueHparams {
  fact_token: FactToken;
  v_num_grad_steps: number;
  v_lr: number;
  /** Layer whose output the value loss reads (the last layer = the model's logits, as every published config). */
  v_loss_layer: number;
  v_weight_decay: number;
  clamp_norm_factor: number;
  kl_factor: number;
}

export interface RomeHparams extends ValueHparams, StatsHparams, ModuleTemplateHparams {
  layers: number[];
  /** [[max tokens, count], ...] of generated context prefixes; 1 + Σ count templates. */
  context_template_length_params: number[][];
  /** r-ROME: average key and output over the context templates in the update (fixes "disabling edits"). */
  enable_random_prefix_keys: boolean;
  /** Explicit context templates (each with one '{}'), instead of sampling them from the model. */
  context_templates: string[] | null;
}

/** The value optimisation shared by ROME (at the MLP output) and MEMIT (at the block output). */
export const VALUE_FIELDS: Schema = {
  fact_token: { type: 'string', default: 'subject_last' },
  v_num_grad_steps: { type: 'integer', default: 20, min: 1 },
  v_lr: { type: 'number', default: 0.5, exclusiveMin: 0 },
  v_loss_layer: { type: 'integer', default: -1, min: -1, doc: '-1 = the last layer' },
  v_weight_decay: { type: 'number', default: 0.5, min: 0 },
  clamp_norm_factor: { type: 'number', default: 4, exclusiveMin: 0 },
  kl_factor: { type: 'number', default: 0.0625, min: 0 },
};

export const ROME_SCHEMA: Schema = {
  layers: { type: 'integer[]', doc: 'layer(s) whose MLP down-projection is rewritten', min: 0, minItems: 1 },
  ...VALUE_FIELDS,
  ...STATS_FIELDS,
  ...MODULE_TEMPLATE_FIELDS,
  layer_module_tmp: { type: 'string' },
  mlp_module_tmp: { type: 'string' },
  context_template_length_params: { type: 'number[][]', default: [[5, 10], [10, 10]], min: 0 },
  enable_random_prefix_keys: { type: 'boolean', default: false },
  context_templates: { type: 'string[]|null', default: null },
};
