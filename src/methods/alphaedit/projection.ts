// The null-space projector (AlphaEdit §3.2; get_project in the reference): with C = E[k kᵀ] the second moment of the
// rewrite module's input over a corpus (the knowledge to preserve, K₀K₀ᵀ/N), and C = U Λ Uᵀ,
//   P = Û Ûᵀ,  Û = the eigenvectors whose eigenvalue is below nullspace_threshold,
// so P k₀ ≈ 0 for the preserved keys: ‖P k₀‖² summed over the corpus is N · Σ_{λ<τ} λ. The reference takes an SVD of
// C; C is symmetric positive semi-definite, so its singular values are its eigenvalues and eigh (float64) is the same.
import { linalg, noGrad, tidy, keep, type Tensor } from '../../tensor/index.js';

export interface Projection {
  /** P [in, in] (float32, as the reference stores it; solved in float64). */
  P: Tensor;
  /** dim of the null space: how many eigenvalues fell below the threshold. */
  nullity: number;
  /** Largest eigenvalue kept in the null space and smallest left out (for reports). */
  largestKept: number;
  smallestExcluded: number;
}

export function nullSpaceProjection(mom2: Tensor, threshold: number, what: string): Projection {
  return tidy(() => noGrad(() => {
    const { eigenvalues, eigenvectors } = linalg.eigh(mom2.to('float64'));
    const values = eigenvalues.toFlatArray(); // ascending
    const nullity = values.filter((v) => v < threshold).length;
    if (nullity === 0) {
      throw new Error(`AlphaEdit: ${what}: no eigenvalue of C is below nullspace_threshold ${threshold} (the smallest is ${values[0].toExponential(3)}): ` +
        'the null space is empty and every update would be zero; raise nullspace_threshold');
    }
    const U = eigenvectors.narrow(1, 0, nullity);
    return {
      P: keep(U.matmul(U.t()).to('float32')),
      nullity,
      largestKept: values[nullity - 1],
      smallestExcluded: nullity < values.length ? values[nullity] : Infinity,
    };
  }));
}
