// Shape and layout: views, permutations, squeezing, broadcasting, joining and splitting, triangles, flips.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { arange, cat, stack, tensor, zeros } from '../../src/tensor/index.js';

const r6 = () => arange(6).reshape(2, 3); // [[0,1,2],[3,4,5]]

describe('reshape and view', () => {
  test('reshape with -1, view shares memory', () => {
    assert.deepEqual(arange(6).reshape(3, -1).toArray(), [[0, 1], [2, 3], [4, 5]]);
    const base = zeros([6]);
    const v = base.view(2, 3);
    v.select(0, 1).fill_(1);
    assert.deepEqual(base.toArray(), [0, 0, 0, 1, 1, 1]);
  });
  test('view of a non-contiguous tensor fails, reshape copies', () => {
    const t = r6().t();
    assert.throws(() => t.view(6), /view size is not compatible/);
    assert.deepEqual(t.reshape(6).toArray(), [0, 3, 1, 4, 2, 5]);
    assert.throws(() => r6().reshape(4, 2), /invalid for input of size 6/);
  });
  test('flatten over all dims or a range', () => {
    const t = arange(24).reshape(2, 3, 4);
    assert.deepEqual(t.flatten().shape, [24]);
    assert.deepEqual(t.flatten(1).shape, [2, 12]);
    assert.deepEqual(t.flatten(0, 1).shape, [6, 4]);
    assert.deepEqual(t.flatten(0, 1).toArray()[5], [20, 21, 22, 23]);
  });
});

describe('transpose, permute, contiguous', () => {
  test('transpose and t() swap dims without copying', () => {
    const t = r6().t();
    assert.deepEqual(t.toArray(), [[0, 3], [1, 4], [2, 5]]);
    assert.equal(t.isContiguous(), false);
    const c = t.contiguous();
    assert.equal(c.isContiguous(), true);
    assert.deepEqual(c.toArray(), t.toArray());
    assert.deepEqual(arange(24).reshape(2, 3, 4).transpose(0, 2).shape, [4, 3, 2]);
  });
  test('permute puts dims in the given order', () => {
    const t = arange(24).reshape(2, 3, 4);
    const p = t.permute(2, 0, 1);
    assert.deepEqual(p.shape, [4, 2, 3]);
    // p[k][i][j] = t[i][j][k] = 12i + 4j + k
    assert.equal(p.toArray()[3][1][2], 12 + 8 + 3);
  });
});

describe('squeeze, unsqueeze, expand, broadcastTo', () => {
  test('squeeze all size-1 dims or one; unsqueeze inserts', () => {
    const t = zeros([1, 3, 1, 2]);
    assert.deepEqual(t.squeeze().shape, [3, 2]);
    assert.deepEqual(t.squeeze(2).shape, [1, 3, 2]);
    assert.deepEqual(t.squeeze(1).shape, [1, 3, 1, 2], 'a dim of size 3 is left alone');
    assert.deepEqual(arange(3).unsqueeze(0).shape, [1, 3]);
    assert.deepEqual(arange(3).unsqueeze(-1).toArray(), [[0], [1], [2]]);
  });
  test('expand repeats size-1 dims as a view; -1 keeps a size', () => {
    const col = tensor([[1], [2]]);
    const e = col.expand(2, 3);
    assert.deepEqual(e.toArray(), [[1, 1, 1], [2, 2, 2]]);
    assert.deepEqual(col.expand(-1, 2).shape, [2, 2]);
    assert.deepEqual(tensor([5]).expandAs(zeros([2, 2])).toArray(), [[5, 5], [5, 5]]);
    assert.throws(() => tensor([1, 2]).expand(3), /expanded size/);
  });
  test('broadcastTo adds leading dims', () => {
    assert.deepEqual(tensor([1, 2]).broadcastTo(2, 2).toArray(), [[1, 2], [1, 2]]);
  });
});

describe('narrow, slice, select', () => {
  test('narrow(dim, start, length)', () => {
    assert.deepEqual(r6().narrow(1, 1, 2).toArray(), [[1, 2], [4, 5]]);
    assert.deepEqual(r6().narrow(0, 1, 1).toArray(), [[3, 4, 5]]);
  });
  test('slice with start/end/step and open ends', () => {
    const v = arange(10);
    assert.deepEqual(v.slice(0, 1, 8, 3).toArray(), [1, 4, 7]);
    assert.deepEqual(v.slice(0, null, null, 4).toArray(), [0, 4, 8]);
    assert.deepEqual(v.slice(0, -3).toArray(), [7, 8, 9]);
    assert.deepEqual(v.slice(0, 2, -5).toArray(), [2, 3, 4]);
    assert.deepEqual(r6().slice(1, 1).toArray(), [[1, 2], [4, 5]]);
    assert.deepEqual(v.slice(0, 20).toArray(), [], 'out-of-range bounds clamp like Python slices');
  });
  test('select removes the dim; negative indices count from the end', () => {
    assert.deepEqual(r6().select(0, 1).toArray(), [3, 4, 5]);
    assert.deepEqual(r6().select(1, -1).toArray(), [2, 5]);
  });
});

describe('cat, stack, split, chunk', () => {
  test('cat along dims 0 and 1', () => {
    const a = tensor([[1, 2]]);
    const b = tensor([[3, 4], [5, 6]]);
    assert.deepEqual(cat([a, b]).toArray(), [[1, 2], [3, 4], [5, 6]]);
    assert.deepEqual(cat([b, b], 1).toArray(), [[3, 4, 3, 4], [5, 6, 5, 6]]);
    assert.deepEqual(cat([b, a], -2).shape, [3, 2]);
  });
  test('stack adds a new dim', () => {
    const a = tensor([1, 2]);
    const b = tensor([3, 4]);
    assert.deepEqual(stack([a, b]).toArray(), [[1, 2], [3, 4]]);
    assert.deepEqual(stack([a, b], 1).toArray(), [[1, 3], [2, 4]]);
    assert.throws(() => stack([a, tensor([1])]), /stack expects each tensor to be equal size/);
  });
  test('split by size (last piece shorter) and by a list of sizes', () => {
    const parts = arange(7).split(3);
    assert.deepEqual(parts.map((p) => p.toArray()), [[0, 1, 2], [3, 4, 5], [6]]);
    const sized = arange(10).reshape(2, 5).split([1, 4], 1);
    assert.deepEqual(sized.map((p) => p.shape), [[2, 1], [2, 4]]);
    assert.deepEqual(sized[1].toArray(), [[1, 2, 3, 4], [6, 7, 8, 9]]);
    assert.throws(() => arange(5).split([2, 2]), /split_with_sizes/);
  });
  test('chunk into equal pieces', () => {
    const parts = arange(6).chunk(3);
    assert.deepEqual(parts.map((p) => p.toArray()), [[0, 1], [2, 3], [4, 5]]);
    assert.equal(arange(5).chunk(2).length, 2);
    assert.deepEqual(r6().chunk(3, 1)[2].toArray(), [[2], [5]]);
  });
});

describe('triangles, flips, rolls, repeats', () => {
  const ones3 = () => tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
  test('triu and tril with diagonal offsets', () => {
    assert.deepEqual(ones3().triu().toArray(), [[1, 2, 3], [0, 5, 6], [0, 0, 9]]);
    assert.deepEqual(ones3().triu(1).toArray(), [[0, 2, 3], [0, 0, 6], [0, 0, 0]]);
    assert.deepEqual(ones3().tril().toArray(), [[1, 0, 0], [4, 5, 0], [7, 8, 9]]);
    assert.deepEqual(ones3().tril(-1).toArray(), [[0, 0, 0], [4, 0, 0], [7, 8, 0]]);
  });
  test('flip one or several dims', () => {
    assert.deepEqual(r6().flip(1).toArray(), [[2, 1, 0], [5, 4, 3]]);
    assert.deepEqual(r6().flip(0, 1).toArray(), [[5, 4, 3], [2, 1, 0]]);
  });
  test('roll along one dim or several', () => {
    assert.deepEqual(arange(5).roll(2, 0).toArray(), [3, 4, 0, 1, 2]);
    assert.deepEqual(arange(5).roll(-1, 0).toArray(), [1, 2, 3, 4, 0]);
    assert.deepEqual(r6().roll([1, 1], [0, 1]).toArray(), [[5, 3, 4], [2, 0, 1]]);
  });
  test('repeat tiles the whole tensor', () => {
    assert.deepEqual(tensor([1, 2]).repeat(2).toArray(), [1, 2, 1, 2]);
    assert.deepEqual(tensor([1, 2]).repeat(2, 2).toArray(), [[1, 2, 1, 2], [1, 2, 1, 2]]);
  });
  test('repeatInterleave repeats each element; over a dim', () => {
    assert.deepEqual(tensor([1, 2, 3]).repeatInterleave(2).toArray(), [1, 1, 2, 2, 3, 3]);
    assert.deepEqual(tensor([[1, 2], [3, 4]]).repeatInterleave(2, 0).toArray(), [[1, 2], [1, 2], [3, 4], [3, 4]]);
    assert.deepEqual(tensor([[1, 2], [3, 4]]).repeatInterleave(2).shape, [8], 'without dim the input is flattened');
  });
  test('nonzero lists coordinates', () => {
    assert.deepEqual(tensor([[0, 1], [2, 0]]).nonzero().toArray(), [[0, 1], [1, 0]]);
  });
});
