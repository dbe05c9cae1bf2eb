// Elementwise math with tensor and scalar operands, broadcasting, and the in-place variants.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { arange, tensor, where, zeros } from '../../src/tensor/index.js';
import { assertClose } from './helpers.js';

const f64 = (v: unknown[]) => tensor(v, { dtype: 'float64' });

describe('binary arithmetic', () => {
  const a = f64([1, -2, 3.5]);
  const b = f64([2, 4, -0.5]);
  test('add / sub with tensors, scalars and alpha', () => {
    assert.deepEqual(a.add(b).toArray(), [3, 2, 3]);
    assert.deepEqual(a.add(10).toArray(), [11, 8, 13.5]);
    assert.deepEqual(a.add(b, 2).toArray(), [5, 6, 2.5]);
    assert.deepEqual(a.sub(b).toArray(), [-1, -6, 4]);
    assert.deepEqual(a.sub(0.5).toArray(), [0.5, -2.5, 3]);
    assert.deepEqual(a.sub(b, 3).toArray(), [-5, -14, 5]);
    assert.deepEqual(a.rsub(1).toArray(), [0, 3, -2.5]);
  });
  test('mul / div / pow / remainder', () => {
    assert.deepEqual(a.mul(b).toArray(), [2, -8, -1.75]);
    assert.deepEqual(a.mul(-2).toArray(), [-2, 4, -7]);
    assert.deepEqual(a.div(b).toArray(), [0.5, -0.5, -7]);
    assert.deepEqual(a.div(4).toArray(), [0.25, -0.5, 0.875]);
    assert.deepEqual(a.pow(2).toArray(), [1, 4, 12.25]);
    assert.deepEqual(f64([4, 9]).pow(0.5).toArray(), [2, 3]);
    assert.deepEqual(f64([2, 3]).pow(f64([3, 2])).toArray(), [8, 9]);
    // remainder takes the sign of the divisor (Python's %), unlike JS's %
    assert.deepEqual(f64([-3, 3, 5.5]).remainder(2).toArray(), [1, 1, 1.5]);
    assert.deepEqual(f64([7, -7]).remainder(f64([-3, 3])).toArray(), [-2, 2]);
  });
  test('integer tensors: integer scalars keep int64, integer results are exact', () => {
    const i = tensor([5, -7, 9], { dtype: 'int64' });
    assert.deepEqual([i.add(1).dtype, i.add(1).toArray()], ['int64', [6, -6, 10]]);
    assert.deepEqual([i.mul(3).dtype, i.mul(3).toArray()], ['int64', [15, -21, 27]]);
    assert.deepEqual(i.remainder(4).toArray(), [1, 1, 1]);
    assert.deepEqual(i.pow(2).toArray(), [25, 49, 81]);
    assert.deepEqual(i.neg().toArray(), [-5, 7, -9]);
    assert.deepEqual(i.abs().toArray(), [5, 7, 9]);
  });
  test('maximum / minimum', () => {
    assert.deepEqual(a.maximum(b).toArray(), [2, 4, 3.5]);
    assert.deepEqual(a.minimum(b).toArray(), [1, -2, -0.5]);
  });
  test('lerp: start + weight * (end - start)', () => {
    assert.deepEqual(f64([0, 10]).lerp(f64([4, 20]), 0.25).toArray(), [1, 12.5]);
  });
});

describe('broadcasting', () => {
  test('[3,1] + [1,4] gives [3,4] with every pair', () => {
    const col = tensor([[0], [10], [20]]);
    const row = tensor([[1, 2, 3, 4]]);
    const s = col.add(row);
    assert.deepEqual(s.shape, [3, 4]);
    assert.deepEqual(s.toArray(), [[1, 2, 3, 4], [11, 12, 13, 14], [21, 22, 23, 24]]);
  });
  test('trailing-dim broadcast of a vector over a batch, and of a 0-d tensor', () => {
    const x = arange(6, undefined, 1, { dtype: 'float32' }).reshape(2, 3);
    assert.deepEqual(x.mul(tensor([1, 10, 100])).toArray(), [[0, 10, 200], [3, 40, 500]]);
    assert.deepEqual(x.sub(tensor(1)).toArray(), [[-1, 0, 1], [2, 3, 4]]);
    assert.deepEqual(zeros([2, 1, 3]).add(zeros([4, 1])).shape, [2, 4, 3]);
  });
  test('incompatible shapes are an error', () => {
    assert.throws(() => tensor([1, 2, 3]).add(tensor([1, 2])), /size of tensor a \(3\) must match/);
  });
});

describe('comparisons and logic', () => {
  const x = tensor([1, 2, 3]);
  test('eq / ne / lt / le / gt / ge with scalars and tensors', () => {
    const y = tensor([3, 2, 1]);
    assert.deepEqual(x.eq(2).toArray(), [0, 1, 0]);
    assert.deepEqual(x.ne(y).toArray(), [1, 0, 1]);
    assert.deepEqual(x.lt(y).toArray(), [1, 0, 0]);
    assert.deepEqual(x.le(2).toArray(), [1, 1, 0]);
    assert.deepEqual(x.gt(y).toArray(), [0, 0, 1]);
    assert.deepEqual(x.ge(2).toArray(), [0, 1, 1]);
  });
  test('logicalAnd / logicalOr / logicalNot', () => {
    const p = tensor([true, true, false, false]);
    const q = tensor([true, false, true, false]);
    assert.deepEqual(p.logicalAnd(q).toArray(), [1, 0, 0, 0]);
    assert.deepEqual(p.logicalOr(q).toArray(), [1, 1, 1, 0]);
    assert.deepEqual(p.logicalNot().toArray(), [0, 0, 1, 1]);
    assert.equal(p.logicalNot().dtype, 'bool');
  });
  test('isnan / isfinite', () => {
    const v = tensor([1, NaN, Infinity, -Infinity]);
    assert.deepEqual(v.isnan().toArray(), [0, 1, 0, 0]);
    assert.deepEqual(v.isfinite().toArray(), [1, 0, 0, 0]);
  });
  test('where picks from x where the condition holds; maskedFill writes the value where the mask holds', () => {
    const cond = tensor([true, false, true]);
    assert.deepEqual(where(cond, tensor([1, 2, 3]), tensor([-1, -2, -3])).toArray(), [1, -2, 3]);
    assert.deepEqual(where(tensor([[true], [false]]), tensor([[1, 2]]), tensor(0)).toArray(), [[1, 2], [0, 0]]);
    assert.deepEqual(x.maskedFill(cond, -9).toArray(), [-9, 2, -9]);
    const causal = zeros([3, 3]).maskedFill(tensor([[false, true, true], [false, false, true], [false, false, false]]), -Infinity);
    assert.deepEqual(causal.toArray(), [[0, -Infinity, -Infinity], [0, 0, -Infinity], [0, 0, 0]]);
  });
});

describe('unary math', () => {
  const v = [0.25, 1, 2.5];
  const t = f64(v);
  const check = (name: string, out: unknown, fn: (x: number) => number, input = v) =>
    test(name, () => assertClose(out, input.map(fn), 1e-12));
  check('exp', t.exp(), Math.exp);
  check('log', t.log(), Math.log);
  check('log1p', t.log1p(), Math.log1p);
  check('sqrt', t.sqrt(), Math.sqrt);
  check('rsqrt', t.rsqrt(), (x) => 1 / Math.sqrt(x));
  check('reciprocal', t.reciprocal(), (x) => 1 / x);
  check('square', t.square(), (x) => x * x);
  check('sin', t.sin(), Math.sin);
  check('cos', t.cos(), Math.cos);
  check('tanh', t.tanh(), Math.tanh);
  check('sigmoid', t.sigmoid(), (x) => 1 / (1 + Math.exp(-x)));
  const signed = [-1.5, -0.5, 0, 0.5, 1.5, 2.5];
  const s = f64(signed);
  check('abs', s.abs(), Math.abs, signed);
  check('neg', s.neg(), (x) => -x, signed);
  check('sign', s.sign(), Math.sign, signed);
  check('floor', s.floor(), Math.floor, signed);
  check('relu', s.relu(), (x) => Math.max(0, x), signed);
  test('round is half to even', () => assert.deepEqual(s.round().toArray(), [-2, -0, 0, 0, 2, 2]));
  test('erf at known points', () => {
    assertClose(f64([0, 0.5, 1, -2]).erf(), [0, 0.5204998778130465, 0.8427007929497149, -0.9953222650189527], 1e-12);
  });
  test('log of 0 and negative numbers', () => {
    assert.deepEqual(f64([0, -1]).log().toArray().map(String), ['-Infinity', 'NaN']);
  });
});

describe('clamp', () => {
  const x = tensor([-2, -0.5, 0.5, 2]);
  test('min and max, min only, max only', () => {
    assert.deepEqual(x.clamp(-1, 1).toArray(), [-1, -0.5, 0.5, 1]);
    assert.deepEqual(x.clamp(0).toArray(), [0, 0, 0.5, 2]);
    assert.deepEqual(x.clamp(null, 0).toArray(), [-2, -0.5, 0, 0]);
  });
});

describe('in place', () => {
  test('add_ / sub_ / mul_ / div_ return this and change the values', () => {
    const x = f64([1, 2, 3]);
    assert.equal(x.add_(f64([1, 1, 1])), x);
    assert.deepEqual(x.toArray(), [2, 3, 4]);
    x.add_(f64([1, 2, 3]), -2).add_(10);
    assert.deepEqual(x.toArray(), [10, 9, 8]);
    x.sub_(1).sub_(f64([1, 1, 1]), 2);
    assert.deepEqual(x.toArray(), [7, 6, 5]);
    x.mul_(2).mul_(f64([1, 0.5, 0]));
    assert.deepEqual(x.toArray(), [14, 6, 0]);
    x.div_(f64([7, 3, 1])).div_(2);
    assert.deepEqual(x.toArray(), [1, 1, 0]);
  });
  test('addcmul_ and addcdiv_: x + value * a * b, x + value * a / b', () => {
    const x = f64([1, 1]);
    x.addcmul_(f64([2, 3]), f64([4, 5]), 0.5);
    assert.deepEqual(x.toArray(), [5, 8.5]);
    x.addcdiv_(f64([2, 3]), f64([4, 6]), -2);
    assert.deepEqual(x.toArray(), [4, 7.5]);
  });
  test('copy_ converts dtype and broadcasts; zero_ and fill_', () => {
    const x = zeros([2, 2], { dtype: 'float64' });
    x.copy_(tensor([1, 2], { dtype: 'int64' }));
    assert.deepEqual(x.toArray(), [[1, 2], [1, 2]]);
    assert.equal(x.dtype, 'float64');
    assert.deepEqual(x.zero_().toArray(), [[0, 0], [0, 0]]);
    assert.deepEqual(x.fill_(3.5).toArray(), [[3.5, 3.5], [3.5, 3.5]]);
  });
  test('clamp_ / sqrt_ / maskedFill_', () => {
    const x = f64([-4, 4, 16]);
    x.clamp_(0, 9);
    assert.deepEqual(x.toArray(), [0, 4, 9]);
    x.sqrt_();
    assert.deepEqual(x.toArray(), [0, 2, 3]);
    x.maskedFill_(tensor([false, true, false]), 7);
    assert.deepEqual(x.toArray(), [0, 7, 3]);
    x.clamp_(null, 5);
    assert.deepEqual(x.toArray(), [0, 5, 3]);
  });
  test('in-place on a view writes through to the base tensor', () => {
    const base = zeros([2, 3]);
    base.select(0, 1).fill_(1);
    base.slice(1, 0, 1).add_(5);
    assert.deepEqual(base.toArray(), [[5, 0, 0], [6, 1, 1]]);
  });
  test('indexPut_ replaces, or accumulates over repeated indices', () => {
    const x = zeros([5]);
    x.indexPut_([tensor([0, 2], { dtype: 'int64' })], tensor([1, 2]));
    assert.deepEqual(x.toArray(), [1, 0, 2, 0, 0]);
    x.indexPut_([tensor([4, 4, 4, 0], { dtype: 'int64' })], tensor([1, 1, 1, 10]), true);
    assert.deepEqual(x.toArray(), [11, 0, 2, 0, 3]);
    const m = zeros([2, 3]);
    m.indexPut_([tensor([1], { dtype: 'int64' }), tensor([2], { dtype: 'int64' })], tensor([9]));
    assert.deepEqual(m.toArray(), [[0, 0, 0], [0, 0, 9]]);
    m.indexPut_([tensor([true, false])], tensor([4]));
    assert.deepEqual(m.toArray(), [[4, 4, 4], [0, 0, 9]]);
  });
  test('indexAdd_ adds alpha x source rows at the given indices', () => {
    const x = zeros([3, 2]);
    x.indexAdd_(0, tensor([2, 0, 2], { dtype: 'int64' }), tensor([[1, 2], [3, 4], [5, 6]]), 2);
    assert.deepEqual(x.toArray(), [[6, 8], [0, 0], [12, 16]]);
  });
});
