// EMMET hyper-parameters: EasyEdit's field names (easyeditor/models/emmet/emmet_hparams.py, hparams/EMMET/*.yaml).
import type { Schema } from '../hparams.js';
import { MEMIT_SCHEMA, type MemitHparams } from '../memit/hparams.js';

export interface EmmetHparams extends MemitHparams {
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
  ...MEMIT_SCHEMA,
  mom2_update_weight: { type: 'number', default: 1, exclusiveMin: 0, doc: 'C is scaled by it before inversion' },
  update_norm_lambda: { type: 'number', default: 0, min: 0 },
  emmet_lambda: { type: 'number', default: 0.1, min: 0 },
  calculate_objective_value: { type: 'boolean', default: false },
};
