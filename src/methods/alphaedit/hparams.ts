// AlphaEdit hyper-parameters: MEMIT's fields plus the null-space projection's (jianghoucheng/AlphaEdit
// hparams/AlphaEdit/gpt2-xl.json; EasyEdit hparams/AlphaEdit/*.yaml). mom2_update_weight is accepted because the
// published files carry it, but AlphaEdit's update does not use it (the projection replaces MEMIT's λC term).
import type { Schema } from '../hparams.js';
import { MEMIT_SCHEMA, type MemitHparams } from '../memit/hparams.js';

export interface AlphaEditHparams extends MemitHparams {
  /** Eigenvalues of C = E[k kᵀ] below this span the null space that P projects onto (absolute, as the reference). */
  nullspace_threshold: number;
  /** The ridge term α in (P (K Kᵀ + K_p K_pᵀ) + α I) ΔWᵀ = P K Rᵀ. */
  L2: number;
  /** Where EasyEdit reads a precomputed P; here P is computed from the statistics and kept in the session. */
  P_loc: string;
}

export const ALPHAEDIT_SCHEMA: Schema = {
  ...MEMIT_SCHEMA,
  mom2_update_weight: { type: 'number', default: 20000, min: 0, doc: 'unused by AlphaEdit (kept for EasyEdit files)' },
  nullspace_threshold: { type: 'number', default: 2e-2, exclusiveMin: 0 },
  L2: { type: 'number', default: 10, exclusiveMin: 0 },
  P_loc: { type: 'string', default: '' },
};
