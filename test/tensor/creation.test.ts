// Tensor creation: literals, typed arrays, constant fills, ranges, seeded random sampling.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  arange, byteLength, empty, eye, full, fullLike, Generator, linspace, manualSeed, ones, onesLike, rand, randint, randn,
  tensor, zeros, zerosLike,
} from '../../src/tensor/index.js';
import { assertClose } from './helpers.js';

describe('tensor() from JS data', () => {
  test('nested arrays give the shape and float32 values', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(t.shape, [2, 3]);
    assert.equal(t.dtype, 'float32');
    assert.deepEqual(t.toArray(), [[1, 2, 3], [4, 5, 6]]);
    assert.equal(t.ndim, 2);
    assert.equal(t.numel(), 6);
    assert.equal(t.size(-1), 3);
    assert.equal(t.size(0), 2);
    assert.equal(t.size(), 6);
    assert.throws(() => t.size(2), RangeError);
  });
  test('a number is a 0-d tensor, booleans give bool, an empty array has shape [0]', () => {
    const s = tensor(2.5);
    assert.deepEqual(s.shape, []);
    assert.equal(s.item(), 2.5);
    const b = tensor([true, false, true]);
    assert.equal(b.dtype, 'bool');
    assert.deepEqual(b.toArray(), [1, 0, 1]);
    assert.deepEqual(tensor([]).shape, [0]);
  });
  test('dtype option casts the literal', () => {
    const t = tensor([[1, -2], [3, 4]], { dtype: 'int64' });
    assert.equal(t.dtype, 'int64');
    assert.deepEqual(t.toArray(), [[1, -2], [3, 4]]);
    assert.equal(tensor([0.1], { dtype: 'float64' }).item(), 0.1);
  });
  test('ragged arrays and non-numbers are rejected', () => {
    assert.throws(() => tensor([[1, 2], [3]]), /ragged/);
    assert.throws(() => tensor(['a'] as unknown[]), TypeError);
  });
  test('typed arrays keep their element type and take a shape', () => {
    const f = tensor(Float32Array.of(1, 2, 3, 4, 5, 6), { shape: [2, 3] });
    assert.equal(f.dtype, 'float32');
    assert.deepEqual(f.toArray(), [[1, 2, 3], [4, 5, 6]]);
    assert.equal(tensor(Float64Array.of(0.1)).dtype, 'float64');
    assert.equal(tensor(Int32Array.of(7)).dtype, 'int32');
    assert.equal(tensor(Int16Array.of(7)).dtype, 'int16');
    assert.equal(tensor(Int8Array.of(-7)).dtype, 'int8');
    assert.equal(tensor(Uint8Array.of(200)).item(), 200);
    const big = tensor(BigInt64Array.of(2n ** 40n, -3n));
    assert.equal(big.dtype, 'int64');
    assert.deepEqual(big.toArray(), [2 ** 40, -3]);
  });
  test('typed array with a dtype option is cast; Uint16Array needs float16/bfloat16', () => {
    assert.deepEqual(tensor(Int32Array.of(1, 2), { dtype: 'float64' }).toArray(), [1, 2]);
    assert.equal(tensor(Uint16Array.of(0x3f80), { dtype: 'bfloat16' }).item(), 1);
    assert.equal(tensor(Uint16Array.of(0x3c00), { dtype: 'float16' }).item(), 1);
    assert.throws(() => tensor(Uint16Array.of(1)), /float16/);
  });
  test('the copy is independent of the source array', () => {
    const src = Float32Array.of(1, 2);
    const t = tensor(src);
    src[0] = 99;
    assert.deepEqual(t.toArray(), [1, 2]);
  });
  test('requiresGrad option', () => {
    assert.equal(tensor([1, 2], { requiresGrad: true }).requiresGrad, true);
    assert.equal(tensor([1, 2]).requiresGrad, false);
    assert.equal(zeros([2], { requiresGrad: true }).requiresGrad, true);
  });
});

describe('constant fills', () => {
  test('zeros / ones / full / empty with dtype', () => {
    assert.deepEqual(zeros([2, 2]).toArray(), [[0, 0], [0, 0]]);
    assert.equal(zeros([3]).dtype, 'float32');
    assert.deepEqual(ones([3], { dtype: 'int32' }).toArray(), [1, 1, 1]);
    assert.equal(ones([3], { dtype: 'int32' }).dtype, 'int32');
    assert.deepEqual(full([2], 7.5, { dtype: 'float64' }).toArray(), [7.5, 7.5]);
    assert.deepEqual(full([2], true, { dtype: 'bool' }).toArray(), [1, 1]);
    const e = empty([4, 5], { dtype: 'bfloat16' });
    assert.deepEqual([e.shape, e.dtype], [[4, 5], 'bfloat16']);
  });
  test('*Like copy shape and dtype', () => {
    const ref = tensor([[1, 2, 3]], { dtype: 'float64' });
    const z = zerosLike(ref);
    assert.deepEqual([z.shape, z.dtype, z.toArray()], [[1, 3], 'float64', [[0, 0, 0]]]);
    assert.deepEqual(onesLike(ref).toArray(), [[1, 1, 1]]);
    assert.deepEqual(fullLike(ref, -2).toArray(), [[-2, -2, -2]]);
    assert.equal(zerosLike(ref, { dtype: 'int64' }).dtype, 'int64');
  });
  test('eye, square and rectangular', () => {
    assert.deepEqual(eye(3).toArray(), [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    assert.deepEqual(eye(2, 3).toArray(), [[1, 0, 0], [0, 1, 0]]);
  });
  test('byteLength', () => {
    assert.equal(byteLength([3, 4], 'float32'), 48);
    assert.equal(byteLength([3, 4], 'bfloat16'), 24);
    assert.equal(byteLength([], 'int64'), 8);
  });
});

describe('ranges', () => {
  test('arange(end) is int64, like PyTorch', () => {
    const r = arange(5);
    assert.equal(r.dtype, 'int64');
    assert.deepEqual(r.toArray(), [0, 1, 2, 3, 4]);
  });
  test('arange(start, end, step) with integer and fractional steps', () => {
    assert.deepEqual(arange(2, 11, 3).toArray(), [2, 5, 8]);
    assert.deepEqual(arange(5, 0, -2).toArray(), [5, 3, 1]);
    const f = arange(0, 1, 0.25);
    assert.equal(f.dtype, 'float32');
    assert.deepEqual(f.toArray(), [0, 0.25, 0.5, 0.75]);
    assert.equal(arange(0, 3, 1, { dtype: 'float64' }).dtype, 'float64');
  });
  test('linspace includes both ends', () => {
    assertClose(linspace(0, 1, 5), [0, 0.25, 0.5, 0.75, 1]);
    assertClose(linspace(-1, 1, 3, { dtype: 'float64' }), [-1, 0, 1], 0);
    assert.deepEqual(linspace(2, 3, 1).toArray(), [2]);
  });
});

describe('random sampling', () => {
  test('same seed gives the same values, different seeds differ', () => {
    const a = randn([64], { generator: new Generator(7) }).toFlatArray();
    const b = randn([64], { generator: new Generator(7) }).toFlatArray();
    const c = randn([64], { generator: new Generator(8) }).toFlatArray();
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.deepEqual(rand([8], { generator: new Generator(3) }).toFlatArray(), rand([8], { generator: new Generator(3) }).toFlatArray());
    assert.deepEqual(randint(0, 100, [8], { generator: new Generator(3) }).toFlatArray(),
      randint(0, 100, [8], { generator: new Generator(3) }).toFlatArray());
  });
  test('a generator advances: two draws from one generator differ, and replay from a new one', () => {
    const g = new Generator(11);
    const first = randn([16], { generator: g }).toFlatArray();
    const second = randn([16], { generator: g }).toFlatArray();
    assert.notDeepEqual(first, second);
    const h = new Generator(11);
    randn([16], { generator: h });
    assert.deepEqual(randn([16], { generator: h }).toFlatArray(), second);
  });
  test('manualSeed makes the global generator repeatable', () => {
    manualSeed(123);
    const a = rand([10]).toFlatArray();
    manualSeed(123);
    assert.deepEqual(rand([10]).toFlatArray(), a);
  });
  test('randn of 100k samples has mean ~0 and std ~1', () => {
    const x = randn([100_000], { generator: new Generator(42), dtype: 'float64' });
    assert.ok(Math.abs(x.mean().item()) < 0.02, `mean ${x.mean().item()}`);
    assert.ok(Math.abs(x.std().item() - 1) < 0.02, `std ${x.std().item()}`);
  });
  test('rand is uniform in [0, 1): mean ~0.5, variance ~1/12', () => {
    const x = rand([100_000], { generator: new Generator(5), dtype: 'float64' });
    assert.ok(x.min().item() >= 0 && x.max().item() < 1);
    assert.ok(Math.abs(x.mean().item() - 0.5) < 0.01);
    assert.ok(Math.abs(x.var().item() - 1 / 12) < 0.005);
  });
  test('randint stays in [low, high) and hits every value', () => {
    const x = randint(-3, 4, [10_000], { generator: new Generator(9) });
    assert.equal(x.dtype, 'int64');
    const seen = new Set(x.toFlatArray());
    assert.deepEqual([...seen].sort((p, q) => p - q), [-3, -2, -1, 0, 1, 2, 3]);
    assert.equal(randint(0, 5, [3], { dtype: 'int32' }).dtype, 'int32');
  });
  test('dtype option and shape', () => {
    const x = randn([2, 3, 4], { dtype: 'float64', generator: new Generator(1) });
    assert.deepEqual([x.shape, x.dtype], [[2, 3, 4], 'float64']);
  });
  test('Generator rejects negative or fractional seeds', () => {
    assert.throws(() => new Generator(-1), RangeError);
    assert.throws(() => new Generator(1.5), RangeError);
  });
});
