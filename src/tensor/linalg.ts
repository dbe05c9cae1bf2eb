// torch.linalg. For big covariance matrices use float64 (fp32 eigh fails at n=3072 in libtorch 1.13: docs/backend.md).
import { native } from './native.js';
import { Tensor, wrapHandle } from './tensor.js';

const pair = (hs: any[]): [Tensor, Tensor] => [wrapHandle(hs[0]), wrapHandle(hs[1])];

/** X with A X = B. */
export const solve = (A: Tensor, B: Tensor): Tensor => wrapHandle(native.solve(A.handle, B.handle));
/** Lower (or upper) Cholesky factor L with A = L L^T. */
export const cholesky = (A: Tensor, upper = false): Tensor => wrapHandle(native.cholesky(A.handle, upper));
/** X with (L L^T) X = B, given the Cholesky factor L (torch.cholesky_solve(B, L)). */
export const choleskySolve = (B: Tensor, L: Tensor, upper = false): Tensor =>
  wrapHandle(native.choleskySolve(B.handle, L.handle, upper));
export const inv = (A: Tensor): Tensor => wrapHandle(native.inv(A.handle));
/** Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix. */
export function eigh(A: Tensor, uplo: 'L' | 'U' = 'L'): { eigenvalues: Tensor; eigenvectors: Tensor } {
  const [eigenvalues, eigenvectors] = pair(native.eigh(A.handle, uplo));
  return { eigenvalues, eigenvectors };
}
/** A = U diag(S) Vh. */
export function svd(A: Tensor, fullMatrices = true): { U: Tensor; S: Tensor; Vh: Tensor } {
  const [U, S, Vh] = (native.svd(A.handle, fullMatrices) as any[]).map(wrapHandle);
  return { U, S, Vh };
}
/** Least-squares solution X minimizing ||A X - B||. */
export const lstsq = (A: Tensor, B: Tensor, rcond?: number): Tensor => wrapHandle(native.lstsq(A.handle, B.handle, rcond));
export const pinv = (A: Tensor, rtol?: number, hermitian = false): Tensor => wrapHandle(native.pinv(A.handle, rtol, hermitian));
export function qr(A: Tensor, mode: 'reduced' | 'complete' | 'r' = 'reduced'): { Q: Tensor; R: Tensor } {
  const [Q, R] = pair(native.qr(A.handle, mode));
  return { Q, R };
}
export const det = (A: Tensor): Tensor => wrapHandle(native.det(A.handle));
export function slogdet(A: Tensor): { sign: Tensor; logabsdet: Tensor } {
  const [sign, logabsdet] = pair(native.slogdet(A.handle));
  return { sign, logabsdet };
}
