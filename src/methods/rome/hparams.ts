// ROME hyper-parameters: EasyEdit's / kmeng01/rome's field names (hparams/ROME/gpt2-xl.yaml).
import type { Schema } from '../hparams.js';
import type { FactToken } from '../locate.js';

export interface RomeHparams {
  layers: number[];
  fact_token: FactToken;
  v_num_grad_steps: number;
  v_lr: number;
  /** Layer whose output the value loss reads (the last layer = the model's logits, as every published config). */
  v_loss_layer: number;
  v_weight_decay: number;
  clamp_norm_factor: number;
  kl_factor: number;
  /** Use C⁻¹k* as the key direction (the reference); false uses k* (EasyEdit's YAML default). */
  mom2_adjustment: boolean;
  /** [[max tokens, count], ...] of generated context prefixes; 1 + Σ count templates. */
  context_template_length_params: number[][];
  rewrite_module_tmp: string;
  layer_module_tmp: string;
  mlp_module_tmp: string;
  attn_module_tmp: string;
  ln_f_module: string;
  lm_head_module: string;
  mom2_dataset: string;
  mom2_n_samples: number;
  mom2_dtype: string;
  /** r-ROME: average key and output over the context templates in the update (fixes "disabling edits"). */
  enable_random_prefix_keys: boolean;
  /** Explicit context templates (each with one '{}'), instead of sampling them from the model. */
  context_templates: string[] | null;
}

export const ROME_SCHEMA: Schema = {
  layers: { type: 'integer[]', doc: 'layer(s) whose MLP down-projection is rewritten' },
  fact_token: { type: 'string', default: 'subject_last' },
  v_num_grad_steps: { type: 'integer', default: 20 },
  v_lr: { type: 'number', default: 0.5 },
  v_loss_layer: { type: 'integer', default: -1 },
  v_weight_decay: { type: 'number', default: 0.5 },
  clamp_norm_factor: { type: 'number', default: 4 },
  kl_factor: { type: 'number', default: 0.0625 },
  mom2_adjustment: { type: 'boolean', default: true },
  context_template_length_params: { type: 'number[][]', default: [[5, 10], [10, 10]] },
  rewrite_module_tmp: { type: 'string' },
  layer_module_tmp: { type: 'string' },
  mlp_module_tmp: { type: 'string' },
  attn_module_tmp: { type: 'string', default: '' },
  ln_f_module: { type: 'string', default: '' },
  lm_head_module: { type: 'string', default: '' },
  mom2_dataset: { type: 'string', default: 'wikitext-2' },
  mom2_n_samples: { type: 'integer', default: 100000 },
  mom2_dtype: { type: 'string', default: 'float32' },
  enable_random_prefix_keys: { type: 'boolean', default: false },
  context_templates: { type: 'string[]|null', default: null },
};
