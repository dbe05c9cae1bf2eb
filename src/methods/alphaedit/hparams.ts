// AlphaEdit hyper-parameters: MEMIT's fields plus the null-space projection's (jianghoucheng/AlphaEdit
// hparams/AlphaEdit/gpt2-xl.json; EasyEdit hparams/AlphaEdit/*.yaml). mom2_update_weight is accepted because the
// published files carry it, but AlphaEdit's update does not use it (the projection replaces MEMIT's λC term).
import { MODULE_TEMPLATE_FIELDS, STATS_FIELDS, type ModuleTemplateHparams, type Schema, type StatsHparams } from '../hparams.js';
import { VALUE_FIELDS, type ValueHparams } from '../rome/hparams.js';
import type { TemplateHparams } from '../memit/parts.js';

export interface AlphaEditHparams extends ValueHparams, StatsHparams, ModuleTemplateHparams, TemplateHparams {
  layers: number[];
  layer_selection: string;
  mom2_update_weight: number;
  /** Eigenvalues of C = E[k kᵀ] below this span the null space that P projects onto (absolute, as the reference). */
  nullspace_threshold: number;
  /** The ridge term α in (P (K Kᵀ + K_p K_pᵀ) + α I) ΔWᵀ = P K Rᵀ. */
  L2: number;
  /** Where EasyEdit reads a precomputed P; here P is computed from the statistics and kept in the session. */
  P_loc: string;
}

export const ALPHAEDIT_SCHEMA: Schema = {
  layers: { type: 'integer[]', doc: 'layers whose MLP down-projections share the update (the last one is the z layer)', min: 0, minItems: 1 },
  layer_selection: { type: 'string', default: 'all' },
  ...VALUE_FIELDS,
  clamp_norm_factor: { type: 'number', default: 0.75, exclusiveMin: 0 },
  ...STATS_FIELDS,
  mom2_update_weight: { type: 'number', default: 20000, min: 0, doc: 'unused by AlphaEdit (kept for EasyEdit files)' },
  ...MODULE_TEMPLATE_FIELDS,
  layer_module_tmp: { type: 'string' },
  context_templates: { type: 'string[]|null', default: null },
  context_template_length_params: { type: 'number[][]|null', default: null, min: 0 },
  nullspace_threshold: { type: 'number', default: 2e-2, exclusiveMin: 0 },
  L2: { type: 'number', default: 10, exclusiveMin: 0 },
  P_loc: { type: 'string', default: '' },
};
