// Losses as torch.nn.functional: cross-entropy (ignore_index, weights, label smoothing), NLL, KL divergence, MSE.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { crossEntropy, klDiv, mseLoss, nllLoss, tensor } from '../../src/tensor/index.js';
import { assertClose } from './helpers.js';

const f64 = (v: unknown[]) => tensor(v, { dtype: 'float64' });
const idx = (v: unknown[]) => tensor(v, { dtype: 'int64' });
/** -log softmax(row)[k], computed by hand. */
const nll = (row: number[], k: number) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[k];

describe('crossEntropy', () => {
  const logits = [[1, 2, 3], [0.5, -1, 0], [0, 0, 0]];
  test('uniform logits over 2 classes give ln 2', () => {
    assertClose(crossEntropy(f64([[0, 0]]), idx([0])), Math.log(2), 1e-12);
  });
  test('mean over rows of -log softmax at the target', () => {
    const expected = (nll(logits[0], 2) + nll(logits[1], 0) + nll(logits[2], 1)) / 3;
    assertClose(crossEntropy(f64(logits), idx([2, 0, 1])), expected, 1e-12);
  });
  test('rows whose target is -100 are excluded from the mean', () => {
    const expected = (nll(logits[0], 2) + nll(logits[2], 1)) / 2;
    assertClose(crossEntropy(f64(logits), idx([2, -100, 1])), expected, 1e-12);
    const none = crossEntropy(f64(logits), idx([2, -100, 1]), { reduction: 'none' });
    assertClose(none, [nll(logits[0], 2), 0, nll(logits[2], 1)], 1e-12);
    assertClose(crossEntropy(f64(logits), idx([2, -100, 1]), { reduction: 'sum' }), expected * 2, 1e-12);
  });
  test('a custom ignoreIndex', () => {
    assertClose(crossEntropy(f64(logits), idx([2, 0, 1]), { ignoreIndex: 0 }), (nll(logits[0], 2) + nll(logits[2], 1)) / 2, 1e-12);
  });
  test('class weights: weighted mean sum(w_y l) / sum(w_y)', () => {
    const w = f64([1, 2, 3]);
    const expected = (3 * nll(logits[0], 2) + 1 * nll(logits[1], 0) + 2 * nll(logits[2], 1)) / 6;
    assertClose(crossEntropy(f64(logits), idx([2, 0, 1]), { weight: w }), expected, 1e-12);
  });
  test('label smoothing mixes in the uniform target: (1 - e) nll + e mean_c(-log p_c)', () => {
    const e = 0.1;
    const row = logits[0];
    const smooth = [0, 1, 2].reduce((s, c) => s + nll(row, c), 0) / 3;
    assertClose(crossEntropy(f64([row]), idx([2]), { labelSmoothing: e }), (1 - e) * nll(row, 2) + e * smooth, 1e-12);
  });
  test('[N, C, T] logits with [N, T] targets (class dim second, as PyTorch)', () => {
    const x = f64([[[1, 0.5], [2, -1], [3, 0]]]); // N=1, C=3, T=2: columns are logits[0] and logits[1]
    assertClose(crossEntropy(x, idx([[2, 0]]), { reduction: 'none' }), [[nll(logits[0], 2), nll(logits[1], 0)]], 1e-12);
  });
});

describe('nllLoss', () => {
  test('picks -input at the target, averaged; ignoreIndex and reduction', () => {
    const logp = f64([[-1, -2], [-3, -4], [-5, -6]]);
    assertClose(nllLoss(logp, idx([1, 0, 1])), (2 + 3 + 6) / 3, 1e-12);
    assertClose(nllLoss(logp, idx([1, -100, 1])), 4, 1e-12);
    assertClose(nllLoss(logp, idx([1, 0, 1]), { reduction: 'none' }), [2, 3, 6], 1e-12);
    assertClose(nllLoss(logp, idx([1, 0, 1]), { reduction: 'sum' }), 11, 1e-12);
  });
  test('on logSoftmax equals crossEntropy', () => {
    const x = f64([[0.2, -1, 3], [1, 1, 0]]);
    assertClose(nllLoss(x.logSoftmax(1), idx([0, 2])), crossEntropy(x, idx([0, 2])).item(), 1e-12);
  });
});

describe('klDiv', () => {
  const p = [[0.5, 0.5, 0], [0.1, 0.2, 0.7]];
  const q = [[0.25, 0.5, 0.25], [0.3, 0.3, 0.4]];
  const logq = f64(q).log();
  // pointwise p (log p - log q), with 0 log 0 = 0
  const pointwise = p.map((row, i) => row.map((v, j) => (v === 0 ? 0 : v * (Math.log(v) - Math.log(q[i][j])))));
  const total = pointwise.flat().reduce((s, v) => s + v, 0);
  test("reduction 'none' is pointwise p (log p - input)", () => {
    assertClose(klDiv(logq, f64(p), { reduction: 'none' }), pointwise, 1e-12);
  });
  test("'sum', 'mean' (over all elements) and 'batchmean' (over rows)", () => {
    assertClose(klDiv(logq, f64(p), { reduction: 'sum' }), total, 1e-12);
    assertClose(klDiv(logq, f64(p)), total / 6, 1e-12);
    assertClose(klDiv(logq, f64(p), { reduction: 'batchmean' }), total / 2, 1e-12);
  });
  test('log-target form takes log p and gives the same divergence', () => {
    const logp = f64([[0.5, 0.5], [0.1, 0.9]]).log();
    const lq = f64([[0.25, 0.75], [0.5, 0.5]]).log();
    const expected = (0.5 * Math.log(2) + 0.5 * Math.log(0.5 / 0.75) + 0.1 * Math.log(0.2) + 0.9 * Math.log(1.8)) / 2;
    assertClose(klDiv(lq, logp, { reduction: 'batchmean', logTarget: true }), expected, 1e-12);
    assertClose(klDiv(lq, logp, { logTarget: true, reduction: 'sum' }), klDiv(lq, logp.exp(), { reduction: 'sum' }).item(), 1e-12);
  });
  test('the divergence of a distribution from itself is 0', () => {
    assertClose(klDiv(logq, logq, { logTarget: true, reduction: 'batchmean' }), 0, 1e-15);
  });
});

describe('mseLoss', () => {
  test("mean, 'sum' and 'none' of squared differences", () => {
    const a = f64([[1, 2], [3, 4]]);
    const b = f64([[1, 0], [5, 1]]);
    assertClose(mseLoss(a, b), (0 + 4 + 4 + 9) / 4, 1e-12);
    assertClose(mseLoss(a, b, 'sum'), 17, 1e-12);
    assert.deepEqual(mseLoss(a, b, 'none').toArray(), [[0, 4], [4, 9]]);
  });
});
