// MEMIT hyper-parameters (kmeng01/memit hparams/MEMIT/gpt2-xl.json; EasyEdit hparams/MEMIT/*.yaml).
import { MODULE_TEMPLATE_FIELDS, STATS_FIELDS, type ModuleTemplateHparams, type Schema, type StatsHparams } from '../hparams.js';
import { VALUE_FIELDS, type ValueHparams } from '../rome/hparams.js';

export interface MemitHparams extends ValueHparams, StatsHparams, ModuleTemplateHparams {
  layers: number[];
  layer_selection: string;
  /** λ in ΔW = R Kᵀ (λC + K Kᵀ)⁻¹. */
  mom2_update_weight: number;
  /** Explicit template groups (each template with one '{}'), instead of sampling them. */
  context_templates: string[] | null;
  /**
   * Sample ROME-style templates instead (one group, e.g. [[5, 10], [10, 10]]: 10 of 5 tokens and 10 of 10, plus
   * '{}'), so that MEMIT can be run with ROME's hparams; null (default) = MEMIT's own ('{}' and 5 of 10 tokens, in
   * two groups).
   */
  context_template_length_params: number[][] | null;
}

export const MEMIT_SCHEMA: Schema = {
  layers: { type: 'integer[]', doc: 'layers whose MLP down-projections share the update (the last one is the z layer)', min: 0, minItems: 1 },
  layer_selection: { type: 'string', default: 'all' },
  ...VALUE_FIELDS,
  clamp_norm_factor: { type: 'number', default: 0.75, exclusiveMin: 0 },
  ...STATS_FIELDS,
  mom2_update_weight: { type: 'number', default: 20000, min: 0 },
  ...MODULE_TEMPLATE_FIELDS,
  layer_module_tmp: { type: 'string' },
  context_templates: { type: 'string[]|null', default: null },
  context_template_length_params: { type: 'number[][]|null', default: null, min: 0 },
};
