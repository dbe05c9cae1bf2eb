// MEMIT hyper-parameters (kmeng01/memit hparams/MEMIT/gpt2-xl.json; EasyEdit hparams/MEMIT/*.yaml).
import type { Schema } from '../hparams.js';
import type { FactToken } from '../locate.js';

export interface MemitHparams {
  layers: number[];
  layer_selection: string;
  fact_token: FactToken;
  v_num_grad_steps: number;
  v_lr: number;
  v_loss_layer: number;
  v_weight_decay: number;
  clamp_norm_factor: number;
  kl_factor: number;
  mom2_adjustment: boolean;
  /** λ in ΔW = R Kᵀ (λC + K Kᵀ)⁻¹. */
  mom2_update_weight: number;
  rewrite_module_tmp: string;
  layer_module_tmp: string;
  mlp_module_tmp: string;
  attn_module_tmp: string;
  ln_f_module: string;
  lm_head_module: string;
  mom2_dataset: string;
  mom2_n_samples: number;
  mom2_dtype: string;
  /** Explicit template groups (each template with one '{}'), instead of sampling them. */
  context_templates: string[] | null;
}

export const MEMIT_SCHEMA: Schema = {
  layers: { type: 'integer[]', doc: 'layers whose MLP down-projections share the update (the last one is the z layer)' },
  layer_selection: { type: 'string', default: 'all' },
  fact_token: { type: 'string', default: 'subject_last' },
  v_num_grad_steps: { type: 'integer', default: 20 },
  v_lr: { type: 'number', default: 0.5 },
  v_loss_layer: { type: 'integer', default: -1 },
  v_weight_decay: { type: 'number', default: 0.5 },
  clamp_norm_factor: { type: 'number', default: 0.75 },
  kl_factor: { type: 'number', default: 0.0625 },
  mom2_adjustment: { type: 'boolean', default: true },
  mom2_update_weight: { type: 'number', default: 20000 },
  rewrite_module_tmp: { type: 'string' },
  layer_module_tmp: { type: 'string' },
  mlp_module_tmp: { type: 'string', default: '' },
  attn_module_tmp: { type: 'string', default: '' },
  ln_f_module: { type: 'string', default: '' },
  lm_head_module: { type: 'string', default: '' },
  mom2_dataset: { type: 'string', default: 'wikitext-2' },
  mom2_n_samples: { type: 'integer', default: 100000 },
  mom2_dtype: { type: 'string', default: 'float32' },
  context_templates: { type: 'string[]|null', default: null },
};
