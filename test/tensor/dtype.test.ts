// Data types and devices: round trips through every dtype, half-precision rounding, type promotion, CPU/CUDA.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  backendInfo, cuda, DTYPE_BYTES, isFloatingDtype, tensor, zeros, type DType,
} from '../../src/tensor/index.js';
import { assertClose } from './helpers.js';

const ALL: DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];

describe('dtype round trips', () => {
  // Small integers are exact in every dtype; bool keeps only "non-zero".
  const values = [0, 1, 2, 3, 100, 0, 7];
  for (const dt of ALL) {
    test(`float32 -> ${dt} -> float32`, () => {
      const x = tensor(values);
      const there = x.to(dt);
      assert.equal(there.dtype, dt);
      const back = there.to('float32');
      assert.equal(back.dtype, 'float32');
      assert.deepEqual(back.toArray(), dt === 'bool' ? values.map((v) => (v === 0 ? 0 : 1)) : values);
    });
  }
  test('shorthands float/double/long', () => {
    const x = tensor([1.75, -2.5]);
    assert.equal(x.double().dtype, 'float64');
    assert.equal(x.double().float().dtype, 'float32');
    assert.deepEqual(x.long().toArray(), [1, -2]); // truncation toward zero, as a C cast
  });
  test('to() the same dtype and device returns the same values; copy: true gives independent memory', () => {
    const x = tensor([1, 2]);
    const same = x.to('float32');
    same.add_(1);
    assert.deepEqual(x.toArray(), [2, 3], 'to() without copy aliases, as in PyTorch');
    const copied = x.to({ dtype: 'float32', copy: true });
    copied.add_(1);
    assert.deepEqual(x.toArray(), [2, 3]);
    assert.deepEqual(copied.toArray(), [3, 4]);
  });
  test('float64 keeps full double precision; float32 rounds', () => {
    assert.equal(tensor([0.1], { dtype: 'float64' }).item(), 0.1);
    assert.equal(tensor([0.1]).item(), Math.fround(0.1));
  });
  test('int64 round trip of values beyond 2^31', () => {
    const big = tensor(BigInt64Array.of(3n * 2n ** 40n + 1n));
    assert.equal(big.to('float64').to('int64').item(), 3 * 2 ** 40 + 1);
    assert.equal(big.to('int32').dtype, 'int32');
  });
});

describe('half precision', () => {
  test('1/3 rounds to bf16 0.333984375 and f16 0.333251953125', () => {
    assert.equal(tensor([1 / 3]).to('bfloat16').item(), 0.333984375);
    assert.equal(tensor([1 / 3]).to('float16').item(), 0.333251953125);
    assert.equal(tensor([1 / 3], { dtype: 'bfloat16' }).toTypedArray()[0], 0.333984375);
  });
  test('bfloat16 rounds to nearest, ties to even', () => {
    // bf16 has 7 mantissa bits: between 1 and 2 the spacing is 2^-7.
    const ulp = 2 ** -7;
    const x = tensor([1 + ulp / 2, 1 + 1.5 * ulp, 1 + 0.75 * ulp, 1 + 0.25 * ulp], { dtype: 'float64' });
    assert.deepEqual(x.to('bfloat16').toArray(), [1, 1 + 2 * ulp, 1 + ulp, 1]);
  });
  test('float16 rounds to nearest even and overflows to infinity above 65504', () => {
    const ulp = 2 ** -10;
    const x = tensor([1 + ulp / 2, 1 + 1.5 * ulp, 65504, 65520, -1e6, 2 ** -24], { dtype: 'float64' });
    assert.deepEqual(x.to('float16').toArray(), [1, 1 + 2 * ulp, 65504, Infinity, -Infinity, 2 ** -24]);
  });
  test('bfloat16 keeps float32 range', () => {
    assertClose(tensor([1e30, -3e-30]).to('bfloat16'), [1e30, -3e-30], 1e-2);
  });
  test('raw bits of half types', () => {
    assert.deepEqual(Array.from(tensor([-2], { dtype: 'float16' }).bytes()), [0x00, 0xc0]);
    assert.deepEqual(Array.from(tensor([-2], { dtype: 'bfloat16' }).bytes()), [0x00, 0xc0]);
    assert.equal(tensor(Uint16Array.of(0x7bff), { dtype: 'float16' }).item(), 65504);
  });
  test('arithmetic in bfloat16 stays bfloat16', () => {
    const x = tensor([1, 2], { dtype: 'bfloat16' });
    const y = x.add(x).mul(0.5);
    assert.equal(y.dtype, 'bfloat16');
    assert.deepEqual(y.toArray(), [1, 2]);
    assert.equal(x.matmul(x).dtype, 'bfloat16');
    assert.equal(x.matmul(x).item(), 5);
  });
});

describe('type promotion', () => {
  test('integer scalars keep integer tensors integral; fractional scalars promote to float32', () => {
    const i = tensor([1, 2, 3], { dtype: 'int64' });
    assert.equal(i.add(1).dtype, 'int64');
    assert.equal(i.mul(2).dtype, 'int64');
    assert.equal(i.sub(5).dtype, 'int64');
    assert.equal(tensor([1], { dtype: 'int32' }).add(1).dtype, 'int32');
    assert.equal(tensor([1], { dtype: 'uint8' }).mul(3).dtype, 'uint8');
    assert.equal(i.add(1.5).dtype, 'float32');
    assert.equal(i.div(2).dtype, 'float32', 'div is true division');
    assert.deepEqual(i.div(2).toArray(), [0.5, 1, 1.5]);
  });
  test('float scalars do not widen float tensors', () => {
    assert.equal(tensor([1], { dtype: 'float16' }).mul(1.5).dtype, 'float16');
    assert.equal(tensor([1]).add(0.1).dtype, 'float32');
  });
  test('tensor-tensor promotion follows PyTorch', () => {
    const f32 = tensor([1]);
    const f64 = tensor([1], { dtype: 'float64' });
    const i32 = tensor([1], { dtype: 'int32' });
    const i64 = tensor([1], { dtype: 'int64' });
    assert.equal(f32.add(f64).dtype, 'float64');
    assert.equal(i32.add(i64).dtype, 'int64');
    assert.equal(i64.add(f32).dtype, 'float32');
    assert.equal(tensor([true]).add(i32).dtype, 'int32');
    assert.equal(tensor([1], { dtype: 'bfloat16' }).add(tensor([1], { dtype: 'float16' })).dtype, 'float32');
  });
  test('comparisons give bool', () => {
    assert.equal(tensor([1, 2]).gt(1).dtype, 'bool');
  });
  test('DTYPE_BYTES and isFloatingDtype', () => {
    for (const dt of ALL) assert.equal(zeros([1], { dtype: dt }).bytes().length, DTYPE_BYTES[dt], dt);
    assert.deepEqual(ALL.filter(isFloatingDtype), ['float32', 'float64', 'float16', 'bfloat16']);
  });
});

describe('devices', () => {
  const cpuOnlyBuild = backendInfo().config.includes('USE_CUDA=OFF');
  test('tensors live on the cpu; to("cpu") round trips', () => {
    const x = tensor([1, 2, 3]);
    assert.equal(x.device, 'cpu');
    const y = x.to('cpu');
    assert.equal(y.device, 'cpu');
    assert.deepEqual(y.toArray(), [1, 2, 3]);
    assert.deepEqual(x.to({ device: 'cpu', dtype: 'float64' }).toArray(), [1, 2, 3]);
  });
  test('this libtorch build reports no CUDA and refuses cuda tensors with its own message', { skip: !cpuOnlyBuild }, () => {
    assert.equal(cuda.isAvailable(), false);
    assert.equal(cuda.deviceCount(), 0);
    assert.throws(() => tensor([1]).to('cuda'), (e: Error) => e instanceof Error && /cuda/i.test(e.message) && /not linked|not compiled|CUDA/.test(e.message));
    assert.throws(() => zeros([2], { device: 'cuda' }), /cuda/i);
    assert.throws(() => tensor([1]).to('cuda:0'), /cuda/i);
  });
  test('an unknown dtype is a TypeError', () => {
    assert.throws(() => tensor([1]).to('float8' as DType), /unknown dtype 'float8'/);
  });
});
