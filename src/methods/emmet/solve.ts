// EMMET's closed form (Gupta et al., 2024, "A Unified Framework for Model Editing", eq. 9; EasyEdit emmet_main.py):
//
//   min ‖ΔW K₀‖²  (preservation, through C = w·K₀K₀ᵀ/N + μI)   s.t.   (W + ΔW) k_i = v_i  for every edit i of the batch
//   ΔW = R (K_Eᵀ C⁻¹ K_E + λI)⁻¹ K_Eᵀ C⁻¹,   R = V_E − W K_E
//
// in the out_in layout (ΔW [out, in]); as low-rank factors ΔW = R · adjKᵀ with adjK = C⁻¹ K_E D⁻¹ [in, n] (D is
// symmetric). λ = emmet_lambda (0: the constraints hold exactly); one edit and λ = 0 is ROME's rank-one update.
import { eye, linalg, noGrad, tidy, type Tensor } from '../../tensor/index.js';
import type { DType } from '../../tensor/index.js';
import type { WeightDelta } from '../types.js';
import type { InverseCovarianceCache } from '../rome/key.js';

export interface EmmetSystem {
  /** Edit keys as columns, K_E [in, n] (float64). */
  K: Tensor;
  /** Residuals as columns, R = V_E − W K_E [out, n] (float64). */
  R: Tensor;
  /** C⁻¹ [in, in] (float64). */
  Cinv: Tensor;
  /** λ added to D = K_Eᵀ C⁻¹ K_E. */
  emmetLambda: number;
}

export interface EmmetFactors {
  /** adjK = C⁻¹ K_E D⁻¹ [in, n]; ΔW = R adjKᵀ. */
  adjK: Tensor;
  /** ‖D‖_F, its condition number, and whether D had to be pseudo-inverted (keys linearly dependent and λ = 0). */
  dNorm: number;
  dCondition: number;
  pseudoInverse: boolean;
  /** Per edit: ‖ΔW k_i − r_i‖ / ‖r_i‖, how far the update is from meeting constraint i (0 up to rounding at λ = 0). */
  constraintGap: number[];
}

/** Solves for the update's key factor; tensors are owned by the caller's scope. */
export function emmetFactors(x: EmmetSystem): EmmetFactors {
  return noGrad(() => {
    const n = x.K.shape[1];
    if (x.R.shape[1] !== n) throw new Error(`EMMET: ${n} keys but ${x.R.shape[1]} residuals`);
    const CK = x.Cinv.matmul(x.K); // [in, n]
    let D = x.K.t().matmul(CK); // [n, n]
    if (x.emmetLambda !== 0) D = D.add(eye(n, n, { dtype: 'float64' }).mul(x.emmetLambda));
    let pseudoInverse = false;
    let adjKt: Tensor;
    try {
      adjKt = linalg.solve(D, CK.t()); // D⁻¹ K_Eᵀ C⁻¹ [n, in]
    } catch {
      pseudoInverse = true; // EasyEdit: torch.linalg.pinv when torch.inverse fails
      adjKt = linalg.pinv(D).matmul(CK.t());
    }
    const adjK = adjKt.t();
    // ΔW K_E = R (adjKᵀ K_E): compare with R column by column
    const gap = tidy(() => {
      const achieved = x.R.matmul(adjKt.matmul(x.K));
      const rn = x.R.pow(2).sum(0).sqrt().toFlatArray();
      return achieved.sub(x.R).pow(2).sum(0).sqrt().toFlatArray().map((g, i) => (rn[i] > 0 ? g / rn[i] : g));
    });
    // an ill-conditioned D at λ = 0 means (nearly) dependent keys: e.g. two facts about one subject share its key, and
    // their constraints contradict each other; the exact solution is then huge (EasyEdit adds λ for this)
    const eig = tidy(() => linalg.eigh(D).eigenvalues.abs().toFlatArray());
    const dCondition = Math.max(...eig) / Math.min(...eig);
    return { adjK, dNorm: D.norm().item(), dCondition, pseudoInverse, constraintGap: gap };
  });
}

/** The update as factors in the parameter's own layout (out_in: left = R, right = adjK; in_out: the transpose). */
export function emmetDelta(param: string, layout: 'in_out' | 'out_in', R: Tensor, adjK: Tensor, dtype: DType): WeightDelta {
  return layout === 'out_in'
    ? { param, left: R.to(dtype), right: adjK.to(dtype) }
    : { param, left: adjK.to(dtype), right: R.to(dtype) };
}

export interface PreservationSettings {
  mom2_update_weight: number;
  update_norm_lambda: number;
}

/**
 * C⁻¹ for C = w·mom2 + μI (EasyEdit: cov *= mom2_update_weight; cov += update_norm_lambda·I), float64, with the
 * inversions cached in the session's InverseCovarianceCache; without statistics (mom2 undefined) C = (w + μ)I.
 * The result belongs to the caller's scope (it may be the cached tensor itself: never dispose it).
 */
export function preservationInverse(cache: InverseCovarianceCache, stats: { key: string; mom2: Tensor } | undefined, in_: number, h: PreservationSettings): Tensor {
  const w = h.mom2_update_weight;
  const mu = h.update_norm_lambda;
  if (!stats) return eye(in_, in_, { dtype: 'float64' }).div(w + mu);
  if (mu === 0) {
    const inv = cache.get(stats.key, stats.mom2);
    return w === 1 ? inv : inv.div(w);
  }
  // built in the caller's scope on every call (cheap next to the inversion, which is cached)
  return cache.get(`${stats.key}#emmet:w=${w},mu=${mu}`, stats.mom2.to('float64').mul(w).add(eye(in_, in_, { dtype: 'float64' }).mul(mu)));
}
