// PMET hyper-parameters: EasyEdit's field names (easyeditor/models/pmet/pmet_hparams.py, hparams/PMET/*.yaml).
import { MODULE_TEMPLATE_FIELDS, STATS_FIELDS, type ModuleTemplateHparams, type Schema, type StatsHparams } from '../hparams.js';
import { VALUE_FIELDS, type ValueHparams } from '../rome/hparams.js';

export interface PmetHparams extends ValueHparams, StatsHparams, ModuleTemplateHparams {
  layers: number[];
  layer_selection: string;
  /** λ in ΔW_l = R/√(L−i) · K_lᵀ (λ C_l + K_l K_lᵀ)⁻¹. */
  mom2_update_weight: number;
  /** Weight of the NLL term in the value loss (a tenth of it once the target is the argmax everywhere). */
  nll_loss_factor: number;
  /** The weights PMET writes; only the FFN down-projection (rewrite_module_tmp) is supported, as every published config. */
  rewrite_module_tmps: string[] | null;
  context_templates: string[] | null;
  /** ROME-style sampled templates (one group) instead of MEMIT's ('{}' + 5 of 10 tokens); see MEMIT's field. */
  context_template_length_params: number[][] | null;
}

export const PMET_SCHEMA: Schema = {
  layers: { type: 'integer[]', doc: 'layers whose MLP down-projections share the update (the last one is the z layer)', min: 0, minItems: 1 },
  layer_selection: { type: 'string', default: 'all' },
  ...VALUE_FIELDS,
  clamp_norm_factor: { type: 'number', default: 0.75, exclusiveMin: 0, doc: 'each δ (attention, MLP) ≤ this × its own initial norm' },
  kl_factor: { type: 'number', default: 1, min: 0 },
  v_lr: { type: 'number', default: 0.2, exclusiveMin: 0 },
  v_num_grad_steps: { type: 'integer', default: 30, min: 1 },
  nll_loss_factor: { type: 'number', default: 1, exclusiveMin: 0 },
  ...STATS_FIELDS,
  mom2_update_weight: { type: 'number', default: 15000, min: 0 },
  ...MODULE_TEMPLATE_FIELDS,
  layer_module_tmp: { type: 'string' },
  mlp_module_tmp: { type: 'string', doc: "the FFN output at the z layer that receives δ_mlp, e.g. 'transformer.h.{}.mlp.c_proj'" },
  attn_module_tmp: { type: 'string', doc: "the attention output at the z layer that receives δ_attn, e.g. 'transformer.h.{}.attn.c_proj'" },
  rewrite_module_tmps: { type: 'string[]|null', default: null, doc: 'null = [rewrite_module_tmp]' },
  context_templates: { type: 'string[]|null', default: null },
  context_template_length_params: { type: 'number[][]|null', default: null, min: 0 },
};
