// EMMET hyper-parameters: EasyEdit's field names (easyeditor/models/emmet/emmet_hparams.py, hparams/EMMET/*.yaml).
import { MODULE_TEMPLATE_FIELDS, STATS_FIELDS, type ModuleTemplateHparams, type Schema, type StatsHparams } from '../hparams.js';
import { VALUE_FIELDS, type ValueHparams } from '../rome/hparams.js';
import type { TemplateHparams } from '../memit/parts.js';

export interface EmmetHparams extends ValueHparams, StatsHparams, ModuleTemplateHparams, TemplateHparams {
  layers: number[];
  layer_selection: string;
  /** w in C = w·E[k kᵀ] + μI (EasyEdit: cov *= mom2_update_weight). */
  mom2_update_weight: number;
  /** μ in C = w·E[k kᵀ] + μI: a penalty on ‖ΔW‖ added to the preservation term. */
  update_norm_lambda: number;
  /** λ in D = K_Eᵀ C⁻¹ K_E + λI, "to counter ill-conditioned D" (the equality constraints are then soft). */
  emmet_lambda: number;
  /** Accepted for EasyEdit's files; the edit distances are always in the diagnostics. */
  calculate_objective_value: boolean;
}

export const EMMET_SCHEMA: Schema = {
  layers: { type: 'integer[]', doc: 'layers whose MLP down-projections share the update (the last one is the z layer)', min: 0, minItems: 1 },
  layer_selection: { type: 'string', default: 'all' },
  ...VALUE_FIELDS,
  clamp_norm_factor: { type: 'number', default: 0.75, exclusiveMin: 0 },
  ...STATS_FIELDS,
  mom2_update_weight: { type: 'number', default: 1, exclusiveMin: 0, doc: 'C is scaled by it before inversion' },
  update_norm_lambda: { type: 'number', default: 0, min: 0 },
  emmet_lambda: { type: 'number', default: 0.1, min: 0 },
  calculate_objective_value: { type: 'boolean', default: false },
  ...MODULE_TEMPLATE_FIELDS,
  layer_module_tmp: { type: 'string' },
  context_templates: { type: 'string[]|null', default: null },
  context_template_length_params: { type: 'number[][]|null', default: null, min: 0 },
};
