// Gradient checks: autograd against central finite differences in float64 for every differentiable op the
// editing methods rely on.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  cat, crossEntropy, embedding, gelu, Generator, klDiv, layerNorm, linear, logSoftmax, mseLoss, randn, silu, softmax,
  tensor, type Tensor,
} from '../../src/tensor/index.js';
import { gradcheck } from './gradcheck.js';

const rnd = (shape: number[], seed: number) => randn(shape, { dtype: 'float64', generator: new Generator(seed) });
const idx = (v: unknown[]) => tensor(v, { dtype: 'int64' });
/** Values in (0.5, 2.5): safe inputs for log, sqrt, pow with fractional exponents. */
const positive = (shape: number[], seed: number) => rnd(shape, seed).sigmoid().mul(2).add(0.5);

describe('gradcheck helper', () => {
  test('catches a wrong gradient', () => {
    // x * stopgrad(x): autograd sees only one factor, so d/dx is x, not 2x.
    assert.throws(() => gradcheck((x: Tensor) => x.mul(x.detach()), [rnd([3], 1)]), /autograd .* vs finite difference/);
  });
  test('passes for x * x and reports a small error', () => {
    assert.ok(gradcheck((x: Tensor) => x.mul(x), [rnd([3], 1)]) < 1e-7);
  });
});

describe('products and linear layers', () => {
  test('matmul (both operands, batched)', () => {
    gradcheck((a, b) => a.matmul(b), [rnd([2, 3, 4], 1), rnd([4, 2], 2)]);
  });
  test('linear (input, weight, bias)', () => {
    gradcheck((x, w, b) => linear(x, w, b), [rnd([3, 4], 3), rnd([2, 4], 4), rnd([2], 5)]);
  });
});

describe('normalizations and activations', () => {
  test('softmax and logSoftmax', () => {
    gradcheck((x) => softmax(x, -1), [rnd([3, 5], 6)]);
    gradcheck((x) => logSoftmax(x, 0), [rnd([3, 5], 7)]);
  });
  test('layerNorm (input, weight, bias)', () => {
    gradcheck((x, w, b) => layerNorm(x, [4], w, b), [rnd([3, 4], 8), rnd([4], 9), rnd([4], 10)]);
  });
  test("gelu, exact and 'tanh' forms", () => {
    gradcheck((x) => gelu(x), [rnd([6], 11)]);
    gradcheck((x) => gelu(x, 'tanh'), [rnd([6], 12)]);
  });
  test('silu', () => {
    gradcheck((x) => silu(x), [rnd([6], 13)]);
  });
  test('tanh, sigmoid, exp', () => {
    gradcheck((x) => x.tanh(), [rnd([5], 14)]);
    gradcheck((x) => x.sigmoid(), [rnd([5], 15)]);
    gradcheck((x) => x.exp(), [rnd([5], 16)]);
  });
  test('log, sqrt, pow (scalar and tensor exponent)', () => {
    gradcheck((x) => x.log(), [positive([5], 17)]);
    gradcheck((x) => x.sqrt(), [positive([5], 18)]);
    gradcheck((x) => x.pow(3), [rnd([5], 19)]);
    gradcheck((x) => x.pow(-1.5), [positive([5], 20)]);
    gradcheck((x, y) => x.pow(y), [positive([4], 21), rnd([4], 22)]);
  });
});

describe('embedding and selection', () => {
  test('embedding: gradient w.r.t. the weight, repeated indices accumulate', () => {
    const ids = idx([[0, 2], [2, 2]]);
    gradcheck((w) => embedding(ids, w), [rnd([4, 3], 23)]);
  });
  test('gather', () => {
    const index = idx([[0, 0, 2], [1, 2, 1]]);
    gradcheck((x) => x.gather(1, index), [rnd([2, 3], 24)]);
  });
  test('index with index tensors and nulls', () => {
    gradcheck((x) => x.index([idx([2, 0, 2]), null]), [rnd([3, 2], 25)]);
    gradcheck((x) => x.index([null, idx([1])]), [rnd([3, 2], 26)]);
  });
  test('select, slice with a step, narrow', () => {
    gradcheck((x) => x.select(1, -1), [rnd([3, 4], 27)]);
    gradcheck((x) => x.slice(1, 0, null, 2), [rnd([3, 4], 28)]);
    gradcheck((x) => x.narrow(0, 1, 2), [rnd([3, 4], 29)]);
  });
  test('cat of two inputs', () => {
    gradcheck((a, b) => cat([a, b], 1), [rnd([2, 2], 30), rnd([2, 3], 31)]);
  });
  test('transpose and reshape', () => {
    gradcheck((x) => x.transpose(0, 1).reshape(6).mul(tensor([1, 2, 3, 4, 5, 6], { dtype: 'float64' })), [rnd([2, 3], 32)]);
    gradcheck((x) => x.t().matmul(x), [rnd([3, 2], 33)]);
  });
});

describe('losses and reductions', () => {
  test('crossEntropy with an ignored row', () => {
    gradcheck((x) => crossEntropy(x, idx([1, -100, 0])), [rnd([3, 4], 34)]);
  });
  test('klDiv w.r.t. the input and the (log) target', () => {
    gradcheck((lq, lp) => klDiv(lq.logSoftmax(-1), lp.logSoftmax(-1), { reduction: 'batchmean', logTarget: true }),
      [rnd([2, 3], 35), rnd([2, 3], 36)]);
    gradcheck((lq, lp) => klDiv(lq.logSoftmax(-1), lp.softmax(-1), { reduction: 'sum' }), [rnd([2, 3], 37), rnd([2, 3], 38)]);
  });
  test('mseLoss (both arguments)', () => {
    gradcheck((a, b) => mseLoss(a, b), [rnd([2, 3], 39), rnd([2, 3], 40)]);
  });
  test('vector 2-norm, whole and per row', () => {
    gradcheck((x) => x.norm(), [rnd([5], 41)]);
    gradcheck((x) => x.norm(2, 1), [rnd([2, 3], 42)]);
  });
  test('sum, mean, var over dims', () => {
    gradcheck((x) => x.sum(1), [rnd([2, 3], 43)]);
    gradcheck((x) => x.mean(), [rnd([2, 3], 44)]);
    gradcheck((x) => x.var(1), [rnd([2, 4], 45)]);
    gradcheck((x) => x.var(null, 0), [rnd([5], 46)]);
  });
});
