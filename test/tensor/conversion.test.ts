// Getting values in and out: zero-copy buffers, file ranges, typed arrays, nested arrays, scalars, raw bytes.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arange, fromBuffer, fromFile, tensor, zeros } from '../../src/tensor/index.js';
import { collectGarbage } from './helpers.js';

describe('fromBuffer (zero copy)', () => {
  test('writes through the JS array are visible in the tensor and the other way round', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = fromBuffer(data, 'float32', [2, 3]);
    assert.deepEqual(t.toArray(), [[1, 2, 3], [4, 5, 6]]);
    data[4] = 50;
    assert.equal(t.select(0, 1).select(0, 1).item(), 50);
    t.mul_(2);
    assert.deepEqual(Array.from(data), [2, 4, 6, 8, 100, 12]);
    t.select(0, 0).fill_(-1);
    assert.deepEqual(Array.from(data.subarray(0, 3)), [-1, -1, -1]);
  });
  test('a typed array with a byte offset and an ArrayBuffer are both accepted', () => {
    const buf = new ArrayBuffer(32);
    const view = new Float64Array(buf, 8, 2);
    const t = fromBuffer(view, 'float64', [2]);
    t.fill_(3);
    assert.deepEqual(Array.from(new Float64Array(buf)), [0, 3, 3, 0]);
    const whole = fromBuffer(buf, 'int32', [8]);
    assert.deepEqual(whole.toArray(), [0, 0, 0, 1074266112, 0, 1074266112, 0, 0]);
  });
  test('bytes of a different dtype are reinterpreted, not converted', () => {
    const t = fromBuffer(Uint8Array.of(0, 0, 128, 63), 'float32', [1]);
    assert.equal(t.item(), 1);
  });
  test('a size that does not match shape x dtype is an error', () => {
    assert.throws(() => fromBuffer(new Float32Array(5), 'float32', [2, 3]), /20 bytes given .* need 24/);
  });
  test('the tensor keeps the buffer alive after the JS reference is dropped', () => {
    const t = fromBuffer(new Float32Array([7, 8, 9]), 'float32', [3]);
    collectGarbage();
    for (let i = 0; i < 3; i++) new Float32Array(1 << 20).fill(1);
    collectGarbage();
    assert.deepEqual(t.toArray(), [7, 8, 9]);
  });
});

describe('fromFile', () => {
  test('reads a dtype/shape range at a byte offset', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lmedit-fromfile-'));
    try {
      const path = join(dir, 'weights.bin');
      const header = Buffer.from('HEADER!!');
      const body = Buffer.from(Float32Array.of(0.5, 1.5, 2.5, 3.5, 4.5, 5.5).buffer);
      writeFileSync(path, Buffer.concat([header, body]));
      const t = fromFile(path, 8, 'float32', [2, 3]);
      assert.deepEqual(t.toArray(), [[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]]);
      const tail = fromFile(path, 8 + 16, 'float32', [2]);
      assert.deepEqual(tail.toArray(), [4.5, 5.5]);
      assert.throws(() => fromFile(path, 8, 'float32', [7]), /truncated/);
      assert.throws(() => fromFile(join(dir, 'missing.bin'), 0, 'float32', [1]), /cannot open/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('values out', () => {
  test('toTypedArray returns the matching typed array class', () => {
    assert.ok(tensor([1.5]).toTypedArray() instanceof Float32Array);
    assert.ok(tensor([1.5], { dtype: 'float64' }).toTypedArray() instanceof Float64Array);
    assert.ok(tensor([1], { dtype: 'int64' }).toTypedArray() instanceof BigInt64Array);
    assert.ok(tensor([1], { dtype: 'int32' }).toTypedArray() instanceof Int32Array);
    assert.ok(tensor([1], { dtype: 'int16' }).toTypedArray() instanceof Int16Array);
    assert.ok(tensor([1], { dtype: 'int8' }).toTypedArray() instanceof Int8Array);
    assert.ok(tensor([1], { dtype: 'uint8' }).toTypedArray() instanceof Uint8Array);
    assert.ok(tensor([true]).toTypedArray() instanceof Uint8Array);
    const half = tensor([0.5], { dtype: 'float16' }).toTypedArray();
    assert.ok(half instanceof Float32Array);
    assert.equal(half[0], 0.5);
    assert.deepEqual(Array.from(tensor([-2, 5], { dtype: 'int64' }).toTypedArray() as BigInt64Array), [-2n, 5n]);
  });
  test('toTypedArray of a non-contiguous view is in logical order', () => {
    const t = arange(6).reshape(2, 3).t();
    assert.deepEqual(Array.from(t.toTypedArray() as BigInt64Array, Number), [0, 3, 1, 4, 2, 5]);
    assert.deepEqual(t.toArray(), [[0, 3], [1, 4], [2, 5]]);
  });
  test('toArray nests by shape; 0-d gives a number; toFlatArray is flat', () => {
    const t = arange(24).reshape(2, 3, 4);
    const nested = t.toArray();
    assert.equal(nested[1][2][3], 23);
    assert.deepEqual(nested[0][1], [4, 5, 6, 7]);
    assert.equal(tensor(4).toArray(), 4);
    assert.deepEqual(zeros([2, 0]).toArray(), [[], []]);
    assert.deepEqual(t.toFlatArray().slice(0, 3), [0, 1, 2]);
  });
  test('item() of one element; bool becomes 0/1; several elements is an error', () => {
    assert.equal(tensor([[3.25]]).item(), 3.25);
    assert.equal(tensor([7], { dtype: 'int64' }).item(), 7);
    assert.equal(tensor(true).item(), 1);
    assert.throws(() => tensor([1, 2]).item(), /2 elements, expected 1/);
  });
  test('bytes() are the little-endian raw storage; views of contiguous tensors share it', () => {
    assert.deepEqual(Array.from(tensor([1]).bytes()), [0, 0, 128, 63]);
    assert.deepEqual(Array.from(tensor([1], { dtype: 'bfloat16' }).bytes()), [0x80, 0x3f]);
    assert.deepEqual(Array.from(tensor([1, 256], { dtype: 'int16' }).bytes()), [1, 0, 0, 1]);
    const t = tensor([1, 2], { dtype: 'int32' });
    const view = t.bytes();
    view[0] = 9;
    assert.deepEqual(t.toArray(), [9, 2]);
    const transposed = tensor([[1, 2], [3, 4]], { dtype: 'uint8' }).t();
    assert.deepEqual(Array.from(transposed.bytes()), [1, 3, 2, 4]);
  });
  test('toString shows shape, dtype and device; a disposed tensor says so', () => {
    const t = tensor([1, 2]);
    assert.match(t.toString(), /shape=\[2\], dtype=float32, device=cpu/);
    t.dispose();
    assert.equal(t.toString(), 'Tensor(disposed)');
  });
});
