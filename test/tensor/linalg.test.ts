// torch.linalg checked by identities in float64: solves, factorizations, inverses, decompositions, determinants.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { eye, Generator, linalg, randn, tensor, type Tensor } from '../../src/tensor/index.js';
import { assertClose, maxAbsDiff } from './helpers.js';

const rnd = (shape: number[], seed: number) => randn(shape, { dtype: 'float64', generator: new Generator(seed) });
/** A symmetric positive-definite matrix X X^T + n I. */
const spd = (n: number, seed: number): Tensor => {
  const X = rnd([n, n], seed);
  return X.matmul(X.t()).add(eye(n, n, { dtype: 'float64' }).mul(n));
};
const isUpperTriangular = (R: Tensor) => maxAbsDiff(R, R.triu()) === 0;

describe('solve, cholesky, choleskySolve, inv', () => {
  test('A solve(A, b) = b for a vector and a matrix right-hand side', () => {
    const A = rnd([6, 6], 1);
    const b = rnd([6, 2], 2);
    assert.ok(maxAbsDiff(A.matmul(linalg.solve(A, b)), b) < 1e-10);
    const v = rnd([6], 3);
    assert.ok(maxAbsDiff(A.matmul(linalg.solve(A, v)), v) < 1e-10);
  });
  test('known 2x2 system', () => {
    // 2x + y = 5, x + 3y = 10  ->  x = 1, y = 3
    assertClose(linalg.solve(tensor([[2, 1], [1, 3]], { dtype: 'float64' }), tensor([5, 10], { dtype: 'float64' })), [1, 3], 1e-12);
  });
  test('cholesky: L lower triangular with L L^T = A; upper gives U^T U = A', () => {
    const A = spd(8, 4);
    const L = linalg.cholesky(A);
    assert.equal(maxAbsDiff(L, L.tril()), 0);
    assert.ok(L.mul(eye(8, 8, { dtype: 'float64' })).sum(1).min().item() > 0, 'positive diagonal');
    assert.ok(maxAbsDiff(L.matmul(L.t()), A) < 1e-10);
    const U = linalg.cholesky(A, true);
    assert.ok(isUpperTriangular(U));
    assert.ok(maxAbsDiff(U.t().matmul(U), A) < 1e-10);
  });
  test('choleskySolve(B, L) solves A X = B', () => {
    const A = spd(5, 5);
    const B = rnd([5, 3], 6);
    const X = linalg.choleskySolve(B, linalg.cholesky(A));
    assert.ok(maxAbsDiff(A.matmul(X), B) < 1e-10);
    const Xu = linalg.choleskySolve(B, linalg.cholesky(A, true), true);
    assert.ok(maxAbsDiff(Xu, X) < 1e-10);
  });
  test('inv(A) A = I and A inv(A) = I', () => {
    const A = rnd([7, 7], 7);
    const I = eye(7, 7, { dtype: 'float64' });
    assert.ok(maxAbsDiff(linalg.inv(A).matmul(A), I) < 1e-10);
    assert.ok(maxAbsDiff(A.matmul(linalg.inv(A)), I) < 1e-10);
    assertClose(linalg.inv(tensor([[4, 7], [2, 6]], { dtype: 'float64' })), [[0.6, -0.7], [-0.2, 0.4]], 1e-12);
  });
});

describe('eigh and svd', () => {
  test('eigh: V diag(w) V^T = A, V orthonormal, eigenvalues ascending', () => {
    const A = spd(10, 8).sub(eye(10, 10, { dtype: 'float64' }).mul(15)); // indefinite
    const { eigenvalues: w, eigenvectors: V } = linalg.eigh(A);
    assert.ok(maxAbsDiff(V.mul(w).matmul(V.t()), A) < 1e-10);
    assert.ok(maxAbsDiff(V.t().matmul(V), eye(10, 10, { dtype: 'float64' })) < 1e-10);
    const ws = w.toFlatArray();
    for (let i = 1; i < ws.length; i++) assert.ok(ws[i - 1] <= ws[i], 'ascending');
    assert.ok(ws[0] < 0 && ws[ws.length - 1] > 0);
  });
  test('eigh of a known matrix', () => {
    // [[2, 1], [1, 2]] has eigenvalues 1 and 3
    assertClose(linalg.eigh(tensor([[2, 1], [1, 2]], { dtype: 'float64' })).eigenvalues, [1, 3], 1e-12);
    // uplo 'U' reads only the upper triangle
    assertClose(linalg.eigh(tensor([[2, 1], [99, 2]], { dtype: 'float64' }), 'U').eigenvalues, [1, 3], 1e-12);
  });
  test('float64 eigh at n = 512 reconstructs', () => {
    const A = spd(512, 9);
    const { eigenvalues: w, eigenvectors: V } = linalg.eigh(A);
    assert.deepEqual(w.shape, [512]);
    assert.ok(maxAbsDiff(V.mul(w).matmul(V.t()), A) / A.abs().max().item() < 1e-12);
  });
  test('svd: U diag(S) Vh = A with S descending and non-negative; thin and full shapes', () => {
    const A = rnd([6, 4], 10);
    const { U, S, Vh } = linalg.svd(A, false);
    assert.deepEqual([U.shape, S.shape, Vh.shape], [[6, 4], [4], [4, 4]]);
    assert.ok(maxAbsDiff(U.mul(S).matmul(Vh), A) < 1e-10);
    const s = S.toFlatArray();
    for (let i = 1; i < s.length; i++) assert.ok(s[i - 1] >= s[i] && s[i] >= 0);
    const full = linalg.svd(A);
    assert.deepEqual(full.U.shape, [6, 6]);
    assert.ok(maxAbsDiff(full.U.t().matmul(full.U), eye(6, 6, { dtype: 'float64' })) < 1e-10);
  });
});

describe('least squares and pseudo-inverse', () => {
  test('lstsq on an overdetermined system equals the normal-equations solution', () => {
    const A = rnd([20, 4], 11);
    const b = rnd([20, 2], 12);
    const x = linalg.lstsq(A, b);
    const normal = linalg.solve(A.t().matmul(A), A.t().matmul(b));
    assert.deepEqual(x.shape, [4, 2]);
    assert.ok(maxAbsDiff(x, normal) < 1e-10);
  });
  test('lstsq fits a line exactly when the data lie on it', () => {
    // y = 2 + 3 t at t = 0..3
    const A = tensor([[1, 0], [1, 1], [1, 2], [1, 3]], { dtype: 'float64' });
    const y = tensor([[2], [5], [8], [11]], { dtype: 'float64' });
    assertClose(linalg.lstsq(A, y), [[2], [3]], 1e-10);
  });
  test('pinv satisfies A pinv(A) A = A and equals (A^T A)^-1 A^T for full column rank', () => {
    const A = rnd([7, 3], 13);
    const P = linalg.pinv(A);
    assert.deepEqual(P.shape, [3, 7]);
    assert.ok(maxAbsDiff(A.matmul(P).matmul(A), A) < 1e-10);
    assert.ok(maxAbsDiff(P, linalg.inv(A.t().matmul(A)).matmul(A.t())) < 1e-10);
  });
  test('pinv of a rank-deficient matrix; rtol cuts small singular values; hermitian path', () => {
    const u = tensor([[1], [2]], { dtype: 'float64' });
    const R = u.matmul(u.t()); // rank 1: [[1,2],[2,4]], pinv = R / 25
    assertClose(linalg.pinv(R), R.div(25), 1e-12);
    assertClose(linalg.pinv(R, undefined, true), R.div(25), 1e-12);
    const D = tensor([[1, 0], [0, 1e-3]], { dtype: 'float64' });
    assertClose(linalg.pinv(D), [[1, 0], [0, 1000]], 1e-9);
    // rtol is relative to the largest singular value: 1e-2 x 100 = 1 cuts 0.5 (an absolute 1e-2 would not)
    const S = tensor([[100, 0], [0, 0.5]], { dtype: 'float64' });
    assertClose(linalg.pinv(S), [[0.01, 0], [0, 2]], 1e-12);
    assertClose(linalg.pinv(S, 1e-2), [[0.01, 0], [0, 0]], 1e-12);
  });
});

describe('qr, det, slogdet', () => {
  test('qr: Q orthonormal columns, R upper triangular, QR = A', () => {
    const A = rnd([6, 4], 14);
    const { Q, R } = linalg.qr(A);
    assert.deepEqual([Q.shape, R.shape], [[6, 4], [4, 4]]);
    assert.ok(maxAbsDiff(Q.t().matmul(Q), eye(4, 4, { dtype: 'float64' })) < 1e-10);
    assert.ok(isUpperTriangular(R));
    assert.ok(maxAbsDiff(Q.matmul(R), A) < 1e-10);
    const complete = linalg.qr(A, 'complete');
    assert.deepEqual([complete.Q.shape, complete.R.shape], [[6, 6], [6, 4]]);
    assert.ok(maxAbsDiff(complete.Q.matmul(complete.R), A) < 1e-10);
    const rOnly = linalg.qr(A, 'r');
    assert.ok(maxAbsDiff(rOnly.R.abs(), R.abs()) < 1e-10);
  });
  test('det and slogdet of known matrices', () => {
    const A = tensor([[2, 0, 1], [1, 3, 2], [1, 1, 1]], { dtype: 'float64' }); // det = 2(3 - 2) + 1(1 - 3) = 0
    assertClose(linalg.det(A), 0, 1e-12);
    const B = tensor([[4, 3], [6, 3]], { dtype: 'float64' }); // det = 12 - 18 = -6
    assertClose(linalg.det(B), -6, 1e-12);
    const { sign, logabsdet } = linalg.slogdet(B);
    assert.equal(sign.item(), -1);
    assertClose(logabsdet, Math.log(6), 1e-12);
    assertClose(linalg.det(eye(4, 4, { dtype: 'float64' }).mul(2)), 16, 1e-12);
  });
  test('slogdet stays finite where det overflows', () => {
    const big = eye(400, 400, { dtype: 'float64' }).mul(10);
    assert.equal(linalg.det(big).item(), Infinity);
    assertClose(linalg.slogdet(big).logabsdet, 400 * Math.log(10), 1e-12);
  });
  test('det of a product is the product of dets', () => {
    const A = rnd([5, 5], 15);
    const B = rnd([5, 5], 16);
    assertClose(linalg.det(A.matmul(B)), linalg.det(A).item() * linalg.det(B).item(), 1e-10);
  });
});
