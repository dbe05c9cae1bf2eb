// Failures become JS Errors carrying libtorch's message (no C++ backtrace), and the process carries on.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  cat, crossEntropy, embedding, linalg, matmul, ones, tensor, zeros,
} from '../../src/tensor/index.js';
import { native } from '../../src/tensor/native.js';

/** Asserts fn throws an Error whose message matches re and carries no C++ stack frames. */
function throwsTorch(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error, 'a JS Error');
    assert.match(e.message, re);
    assert.doesNotMatch(e.message, /frame #\d/, 'the backtrace is stripped');
    return true;
  });
}
const idx = (v: unknown[]) => tensor(v, { dtype: 'int64' });

describe('shape errors', () => {
  test('matmul of incompatible shapes', () => {
    throwsTorch(() => matmul(ones([2, 3]), ones([2, 3])), /mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)/);
    throwsTorch(() => ones([2, 3, 4]).bmm(ones([2, 5, 4])), /batch1|Expected size/);
  });
  test('reshape, view, cat and broadcast mismatches', () => {
    throwsTorch(() => ones([6]).reshape(4, 2), /shape '\[4, 2\]' is invalid for input of size 6/);
    throwsTorch(() => cat([ones([2, 3]), ones([2, 4])]), /Sizes of tensors must match except in dimension 0/);
    throwsTorch(() => ones([3]).add(ones([4])), /must match the size of tensor b/);
  });
});

describe('dtype errors', () => {
  test('indexing with float indices', () => {
    throwsTorch(() => ones([3]).index([tensor([0, 1])]), /tensors used as indices must be long, (int, )?byte or bool tensors/);
    throwsTorch(() => ones([3]).indexSelect(0, tensor([0])), /index_select\(\): Expected dtype int(32|64)/);
  });
  test('matmul of float32 with float64', () => {
    throwsTorch(() => ones([2, 2]).matmul(ones([2, 2], { dtype: 'float64' })), /expected (scalar type|m1 and m2 to have the same dtype)|Float.*Double/);
  });
  test('a float target for crossEntropy over class indices', () => {
    throwsTorch(() => crossEntropy(ones([2, 3]), tensor([0, 1])), /expected scalar type Long|Expected floating point type for target|same shape|Float/);
  });
  test('in-place add of a float into an int tensor', () => {
    throwsTorch(() => tensor([1], { dtype: 'int64' }).add_(tensor([0.5])), /result type Float can't be cast to the desired output type Long/);
  });
});

describe('index out of range', () => {
  test('indexSelect, select, gather, embedding and crossEntropy targets', () => {
    throwsTorch(() => ones([3]).indexSelect(0, idx([3])), /out of range|out of bounds/i);
    throwsTorch(() => ones([3]).select(0, 5), /select\(\): index 5 out of range for tensor of size \[3\] at dimension 0/);
    throwsTorch(() => ones([2, 3]).gather(1, idx([[0], [3]])), /index 3 is out of bounds for dimension 1 with size 3/);
    throwsTorch(() => embedding(idx([4]), ones([4, 2])), /index out of range in self/);
    throwsTorch(() => crossEntropy(ones([1, 3]), idx([5])), /Target 5 is out of bounds/);
    throwsTorch(() => ones([2]).index([idx([2])]), /index 2 is out of bounds for dimension 0 with size 2/);
  });
  test('a dim out of range', () => {
    throwsTorch(() => ones([2, 2]).sum(2), /Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)/);
  });
});

describe('linear algebra failures', () => {
  test('inverting a singular matrix names the singularity', () => {
    throwsTorch(() => linalg.inv(zeros([3, 3], { dtype: 'float64' })), /singular/);
    throwsTorch(() => linalg.solve(zeros([2, 2], { dtype: 'float64' }), ones([2], { dtype: 'float64' })), /singular/);
  });
  test('cholesky of a matrix that is not positive-definite', () => {
    throwsTorch(() => linalg.cholesky(tensor([[1, 2], [2, 1]], { dtype: 'float64' })), /not positive-definite/);
  });
  test('a non-square matrix where a square one is needed', () => {
    throwsTorch(() => linalg.inv(ones([2, 3])), /must be batches of square matrices/);
  });
});

describe('out of memory', () => {
  test('a [1e7, 1e7] float32 tensor (400 TB) is an Error, not a crash', () => {
    throwsTorch(() => zeros([1e7, 1e7]), /can't allocate memory.*400000000000000 bytes/);
    throwsTorch(() => ones([1e7, 1e7], { dtype: 'float64' }), /can't allocate memory/);
    assert.equal(ones([2]).sum().item(), 2, 'still working afterwards');
  });
});

describe('misuse from JavaScript', () => {
  test('a disposed tensor used again', () => {
    const t = ones([2]);
    t.dispose();
    assert.equal(t.isDisposed, true);
    throwsTorch(() => t.add(1), /tensor was disposed/);
    throwsTorch(() => ones([2]).add(t), /tensor was disposed/);
    throwsTorch(() => t.shape, /tensor was disposed/);
    throwsTorch(() => cat([ones([1]), t]), /tensor was disposed/);
    t.dispose(); // disposing twice is harmless
  });
  test('a string where a tensor is expected is a TypeError naming the argument', () => {
    const x = ones([2, 2]);
    assert.throws(() => x.matmul('abc' as never), (e: unknown) => e instanceof TypeError && /argument 1: expected a tensor/.test(e.message));
    assert.throws(() => native.matmul(x.handle, {}), /argument 1: expected a tensor handle/);
    assert.throws(() => x.add('1' as never), /argument 1: expected a number/);
    assert.throws(() => x.reshape('4' as never), /argument 1: expected an array of integers/);
    assert.throws(() => x.sum('a' as never), /argument 1: expected an array of integers/);
    assert.throws(() => cat([x, 5 as never]), /expected an array of tensors/);
    assert.throws(() => x.index([5 as never]), /index: expected an array of tensors or nulls/);
    assert.throws(() => x.index([null]), /index: expected at least one index tensor/);
    assert.throws(() => x.indexPut_([null, null], ones([1])), /index: expected at least one index tensor/);
    assert.throws(() => x.softmax('x' as never), /argument 1: expected an integer/);
  });
  test('backward on a tensor that does not require grad', () => {
    throwsTorch(() => ones([2]).sum().backward(), /does not require grad and does not have a grad_fn/);
  });
  test('the process survives a burst of errors', () => {
    for (let i = 0; i < 200; i++) assert.throws(() => ones([2, 3]).matmul(ones([2, 3])));
    assert.deepEqual(ones([2, 2]).matmul(ones([2, 1])).toArray(), [[2], [2]]);
  });
});
