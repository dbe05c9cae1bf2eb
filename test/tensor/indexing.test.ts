// Indexing with index tensors: advanced indexing, index_put, index_select, gather/scatter and index_add.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { arange, tensor, zeros } from '../../src/tensor/index.js';

const idx = (v: unknown[]) => tensor(v, { dtype: 'int64' });
const m34 = () => arange(12).reshape(3, 4); // [[0..3],[4..7],[8..11]]

describe('index (advanced indexing)', () => {
  test('one index tensor picks rows', () => {
    assert.deepEqual(m34().index([idx([2, 0])]).toArray(), [[8, 9, 10, 11], [0, 1, 2, 3]]);
  });
  test('null keeps a dim whole: x[:, [1, 3]]', () => {
    assert.deepEqual(m34().index([null, idx([1, 3])]).toArray(), [[1, 3], [5, 7], [9, 11]]);
  });
  test('two index tensors pair up: x[[0, 2], [3, 1]]', () => {
    assert.deepEqual(m34().index([idx([0, 2]), idx([3, 1])]).toArray(), [3, 9]);
  });
  test('index tensors broadcast: x[[[0],[2]], [1, 2]]', () => {
    assert.deepEqual(m34().index([idx([[0], [2]]), idx([1, 2])]).toArray(), [[1, 2], [9, 10]]);
  });
  test('a bool mask selects elements', () => {
    assert.deepEqual(m34().index([m34().gt(8)]).toArray(), [9, 10, 11]);
    assert.deepEqual(m34().index([tensor([true, false, true])]).shape, [2, 4]);
  });
  test('negative indices count from the end', () => {
    assert.deepEqual(m34().index([idx([-1])]).toArray(), [[8, 9, 10, 11]]);
  });
});

describe('indexPut (out of place)', () => {
  test('returns a new tensor and leaves the input unchanged', () => {
    const x = zeros([2, 3]);
    const y = x.indexPut([idx([1]), idx([2])], tensor([5]));
    assert.deepEqual(y.toArray(), [[0, 0, 0], [0, 0, 5]]);
    assert.deepEqual(x.toArray(), [[0, 0, 0], [0, 0, 0]]);
  });
  test('accumulate adds duplicates, replace keeps one', () => {
    const x = zeros([3]);
    assert.deepEqual(x.indexPut([idx([1, 1, 2])], tensor([1, 2, 3]), true).toArray(), [0, 3, 3]);
    assert.deepEqual(zeros([2, 2]).indexPut([null, idx([1])], tensor([[7], [8]])).toArray(), [[0, 7], [0, 8]]);
  });
});

describe('indexSelect', () => {
  test('rows and columns, with repeats', () => {
    assert.deepEqual(m34().indexSelect(0, idx([2, 2, 0])).toArray(), [[8, 9, 10, 11], [8, 9, 10, 11], [0, 1, 2, 3]]);
    assert.deepEqual(m34().indexSelect(1, idx([0, 3])).toArray(), [[0, 3], [4, 7], [8, 11]]);
    assert.deepEqual(m34().indexSelect(-1, idx([1])).shape, [3, 1]);
  });
});

describe('gather and scatter', () => {
  test('gather(dim=1): out[i][j] = x[i][index[i][j]]', () => {
    const g = m34().gather(1, idx([[3, 0], [1, 1], [2, 0]]));
    assert.deepEqual(g.toArray(), [[3, 0], [5, 5], [10, 8]]);
  });
  test('gather(dim=0): out[i][j] = x[index[i][j]][j]', () => {
    assert.deepEqual(m34().gather(0, idx([[2, 1, 0, 0]])).toArray(), [[8, 5, 2, 3]]);
  });
  test('gather picks the target log-probability per row (the language-model loss pattern)', () => {
    const logp = tensor([[-0.1, -2.3], [-1.2, -0.4]]);
    assert.deepEqual(logp.gather(1, idx([[1], [0]])).squeeze(1).toArray(), [Math.fround(-2.3), Math.fround(-1.2)]);
  });
  test('scatter with a src tensor: out[i][index[i][j]] = src[i][j]', () => {
    const s = zeros([2, 4]).scatter(1, idx([[3, 0], [1, 2]]), tensor([[1, 2], [3, 4]]));
    assert.deepEqual(s.toArray(), [[2, 0, 0, 1], [0, 3, 4, 0]]);
  });
  test('scatter with a scalar value, e.g. one-hot rows', () => {
    const s = zeros([3, 3]).scatter(1, idx([[2], [0], [1]]), 1);
    assert.deepEqual(s.toArray(), [[0, 0, 1], [1, 0, 0], [0, 1, 0]]);
  });
  test('scatterAdd sums duplicates; the input is unchanged', () => {
    const base = tensor([10, 20, 30]);
    const s = base.scatterAdd(0, idx([0, 0, 2, 0]), tensor([1, 2, 3, 4]));
    assert.deepEqual(s.toArray(), [17, 20, 33]);
    assert.deepEqual(base.toArray(), [10, 20, 30]);
  });
});

describe('indexAdd', () => {
  test('adds alpha x source slices at the indices along dim; the input is unchanged', () => {
    const base = zeros([2, 3]);
    const out = base.indexAdd(1, idx([2, 0, 2]), tensor([[1, 2, 3], [4, 5, 6]]));
    assert.deepEqual(out.toArray(), [[2, 0, 4], [5, 0, 10]]);
    assert.deepEqual(base.toArray(), [[0, 0, 0], [0, 0, 0]]);
    assert.deepEqual(base.indexAdd(0, idx([1]), tensor([[1, 1, 1]]), -3).toArray(), [[0, 0, 0], [-3, -3, -3]]);
  });
});
