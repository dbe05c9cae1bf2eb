// Neural-network building blocks: products, softmax, layer norm, embedding, activations, dropout, one-hot.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  addmm, arange, bmm, dropout, embedding, gelu, Generator, layerNorm, linear, logSoftmax, matmul, ones, oneHot, outer,
  randn, relu, silu, softmax, tensor,
} from '../../src/tensor/index.js';
import { assertClose, maxAbsDiff } from './helpers.js';

const f64 = (v: unknown[]) => tensor(v, { dtype: 'float64' });

describe('matrix products', () => {
  const A = () => f64([[1, 2, 3], [4, 5, 6]]);
  const B = () => f64([[1, 0], [0, 1], [2, -1]]);
  test('matmul / mm of matrices', () => {
    assert.deepEqual(matmul(A(), B()).toArray(), [[7, -1], [16, -1]]);
    assert.deepEqual(A().mm(B()).toArray(), [[7, -1], [16, -1]]);
  });
  test('matmul with vectors: matrix-vector, vector-matrix, vector-vector', () => {
    assert.deepEqual(A().matmul(f64([1, 1, 1])).toArray(), [6, 15]);
    assert.deepEqual(f64([1, -1]).matmul(A()).toArray(), [-3, -3, -3]);
    assert.equal(f64([1, 2, 3]).matmul(f64([4, 5, 6])).item(), 32);
    assert.equal(f64([1, 2, 3]).dot(f64([4, 5, 6])).item(), 32);
  });
  test('batched matmul broadcasts the batch dims; bmm needs equal batches', () => {
    const batch = A().unsqueeze(0).expand(4, 2, 3).mul(arange(1, 5, 1, { dtype: 'float64' }).reshape(4, 1, 1));
    const out = batch.matmul(B());
    assert.deepEqual(out.shape, [4, 2, 2]);
    assert.deepEqual(out.select(0, 2).toArray(), [[21, -3], [48, -3]]);
    const bb = bmm(batch, B().unsqueeze(0).expand(4, 3, 2));
    assert.ok(bb.equal(out));
  });
  test('outer and addmm (beta * input + alpha * m1 @ m2)', () => {
    assert.deepEqual(outer(f64([1, 2]), f64([3, 4, 5])).toArray(), [[3, 4, 5], [6, 8, 10]]);
    const C = f64([[1, 1], [1, 1]]);
    assert.deepEqual(addmm(C, A(), B()).toArray(), [[8, 0], [17, 0]]);
    assert.deepEqual(addmm(C, A(), B(), 0.5, 2).toArray(), [[14.5, -1.5], [32.5, -1.5]]);
  });
  test('linear: x W^T + b with W stored [out, in]', () => {
    const x = f64([[1, 2, 3]]);
    const W = f64([[1, 0, 0], [1, 1, 1]]);
    assert.deepEqual(linear(x, W).toArray(), [[1, 6]]);
    assert.deepEqual(linear(x, W, f64([10, 20])).toArray(), [[11, 26]]);
    assert.deepEqual(linear(f64([[[1, 2, 3]], [[0, 0, 1]]]), W).shape, [2, 1, 2]);
  });
  test('float32 matmul agrees with float64 on random matrices', () => {
    const a = randn([64, 48], { dtype: 'float64', generator: new Generator(1) });
    const b = randn([48, 32], { dtype: 'float64', generator: new Generator(2) });
    assert.ok(maxAbsDiff(a.float().matmul(b.float()).double(), a.matmul(b)) < 1e-4);
  });
});

describe('softmax and logSoftmax', () => {
  test('known values: softmax([0, ln 2, ln 3]) = [1/6, 2/6, 3/6]', () => {
    assertClose(softmax(f64([0, Math.log(2), Math.log(3)]), 0), [1 / 6, 2 / 6, 3 / 6], 1e-12);
    assertClose(logSoftmax(f64([0, Math.log(2), Math.log(3)]), 0), [1 / 6, 2 / 6, 3 / 6].map(Math.log), 1e-12);
  });
  test('rows sum to 1, invariant to a shift, stable for large logits', () => {
    const x = f64([[1, 2, 3], [1001, 1002, 1003]]);
    const s = x.softmax(-1);
    assertClose(s.sum(-1), [1, 1], 1e-12);
    assertClose(s.select(0, 0), s.select(0, 1), 1e-12);
    assertClose(x.logSoftmax(1), x.softmax(1).log(), 1e-12);
  });
  test('over dim 0; -inf entries get probability 0', () => {
    assertClose(f64([[0, 0], [0, Math.log(3)]]).softmax(0), [[0.5, 0.25], [0.5, 0.75]], 1e-12);
    assertClose(f64([0, -Infinity, 0]).softmax(0), [0.5, 0, 0.5], 1e-12);
  });
  test('dtype argument computes in a wider type', () => {
    const h = tensor([1, 2], { dtype: 'bfloat16' });
    assert.equal(h.softmax(0, 'float32').dtype, 'float32');
    assert.equal(h.logSoftmax(0, 'float64').dtype, 'float64');
  });
});

describe('layerNorm', () => {
  test('matches (x - mean) / sqrt(var + eps) * weight + bias with the biased variance', () => {
    const x = randn([3, 5], { dtype: 'float64', generator: new Generator(3) });
    const w = randn([5], { dtype: 'float64', generator: new Generator(4) });
    const b = randn([5], { dtype: 'float64', generator: new Generator(5) });
    const eps = 1e-5;
    const mean = x.mean(-1, true);
    const manual = x.sub(mean).div(x.var(-1, 0, true).add(eps).sqrt()).mul(w).add(b);
    assert.ok(maxAbsDiff(layerNorm(x, [5], w, b, eps), manual) < 1e-12);
    const plain = layerNorm(x, [5]);
    assertClose(plain.mean(-1), [0, 0, 0], 1e-12);
    assertClose(plain.var(-1, 0), x.var(-1, 0).toFlatArray().map((v) => v / (v + eps)), 1e-12);
  });
  test('over the last two dims', () => {
    const x = f64([[[1, 2], [3, 4]]]);
    const y = layerNorm(x, [2, 2], undefined, undefined, 0);
    const s = Math.sqrt(1.25);
    assertClose(y, [[[-1.5 / s, -0.5 / s], [0.5 / s, 1.5 / s]]], 1e-12);
  });
});

describe('embedding and oneHot', () => {
  test('embedding picks rows of the weight for each index', () => {
    const W = f64([[0, 0], [1, 1], [2, 4], [3, 9]]);
    const e = embedding(tensor([[3, 0], [1, 1]], { dtype: 'int64' }), W);
    assert.deepEqual(e.shape, [2, 2, 2]);
    assert.deepEqual(e.toArray(), [[[3, 9], [0, 0]], [[1, 1], [1, 1]]]);
  });
  test('oneHot gives int64 rows; numClasses widens', () => {
    const o = oneHot(tensor([2, 0], { dtype: 'int64' }));
    assert.equal(o.dtype, 'int64');
    assert.deepEqual(o.toArray(), [[0, 0, 1], [1, 0, 0]]);
    assert.deepEqual(oneHot(tensor([1], { dtype: 'int64' }), 4).toArray(), [[0, 1, 0, 0]]);
  });
});

describe('activations', () => {
  const xs = [-3, -1, -0.5, 0, 0.5, 1, 2.5];
  const erf = (v: number) => f64([v]).erf().item();
  test('gelu (erf form) = x/2 (1 + erf(x / sqrt 2))', () => {
    assertClose(gelu(f64(xs)), xs.map((x) => 0.5 * x * (1 + erf(x / Math.SQRT2))), 1e-12);
    assertClose(f64([1]).gelu(), [0.8413447460685429], 1e-12);
  });
  test("gelu approximate 'tanh' (GPT-2's gelu_new) = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))", () => {
    const expected = xs.map((x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))));
    assertClose(gelu(f64(xs), 'tanh'), expected, 1e-12);
    assert.ok(Math.abs(gelu(f64([1]), 'tanh').item() - gelu(f64([1])).item()) > 1e-5, 'the two forms differ');
  });
  test('silu = x sigmoid(x); relu = max(0, x)', () => {
    assertClose(silu(f64(xs)), xs.map((x) => x / (1 + Math.exp(-x))), 1e-12);
    assert.deepEqual(relu(f64(xs)).toArray(), xs.map((x) => Math.max(0, x)));
  });
});

describe('dropout', () => {
  test('p = 0 and training = false are the identity', () => {
    const x = randn([100], { generator: new Generator(1) });
    assert.ok(dropout(x, 0).equal(x));
    assert.ok(dropout(x, 0.9, false).equal(x));
  });
  test('p = 0.5 zeroes about half and scales the rest by 2', () => {
    const n = 100_000;
    const y = dropout(ones([n]), 0.5);
    const zerosFraction = y.eq(0).sum().item() / n;
    assert.ok(Math.abs(zerosFraction - 0.5) < 0.01, `zeroed fraction ${zerosFraction}`);
    assert.equal(y.eq(0).logicalOr(y.eq(2)).sum().item(), n, 'every element is 0 or 2');
    assert.ok(Math.abs(y.mean().item() - 1) < 0.02, 'expectation preserved');
  });
  test('p = 1 zeroes everything', () => {
    assert.equal(dropout(ones([10]), 1).abs().sum().item(), 0);
  });
});
