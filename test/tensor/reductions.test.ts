// Reductions over all elements or chosen dims, with keepdim; order statistics, cumulative sums and sampling.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { arange, Generator, multinomial, tensor } from '../../src/tensor/index.js';
import { assertClose } from './helpers.js';

// x = [[1, 2, 3], [4, 5, 6]]
const x = () => tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64' });

describe('sum and mean', () => {
  test('over everything, one dim, several dims, negative dims', () => {
    assert.equal(x().sum().item(), 21);
    assert.deepEqual(x().sum().shape, []);
    assert.deepEqual(x().sum(0).toArray(), [5, 7, 9]);
    assert.deepEqual(x().sum(-1).toArray(), [6, 15]);
    assert.equal(x().sum([0, 1]).item(), 21);
    assert.equal(x().mean().item(), 3.5);
    assert.deepEqual(x().mean(1).toArray(), [2, 5]);
    assert.deepEqual(x().mean(0).toArray(), [2.5, 3.5, 4.5]);
  });
  test('keepdim keeps the reduced dim with size 1', () => {
    assert.deepEqual(x().sum(1, true).shape, [2, 1]);
    assert.deepEqual(x().sum(1, true).toArray(), [[6], [15]]);
    assert.deepEqual(x().mean([0, 1], true).shape, [1, 1]);
  });
  test('dtype argument accumulates in another type; int sums stay int64', () => {
    const i = tensor([1, 2, 3], { dtype: 'int32' });
    assert.equal(i.sum().dtype, 'int64');
    assert.equal(i.sum(null, false, 'float64').dtype, 'float64');
    const half = tensor(new Array(4096).fill(1), { dtype: 'float16' });
    assert.equal(half.sum(null, false, 'float32').item(), 4096);
    assert.equal(tensor([1, 2]).mean(0, false, 'float64').dtype, 'float64');
  });
});

describe('max, min, argmax, argmin', () => {
  const m = () => tensor([[3, 9, 1], [7, 2, 8]]);
  test('over everything', () => {
    assert.equal(m().max().item(), 9);
    assert.equal(m().min().item(), 1);
    assert.equal(m().argmax().item(), 1);
    assert.equal(m().argmin().item(), 2);
  });
  test('over a dim with indices, with and without keepdim', () => {
    const { values, indices } = m().max(1);
    assert.deepEqual(values.toArray(), [9, 8]);
    assert.deepEqual(indices.toArray(), [1, 2]);
    assert.equal(indices.dtype, 'int64');
    const lo = m().min(0, true);
    assert.deepEqual(lo.values.toArray(), [[3, 2, 1]]);
    assert.deepEqual(lo.indices.toArray(), [[0, 1, 0]]);
    assert.deepEqual(m().argmax(0).toArray(), [1, 0, 1]);
    assert.deepEqual(m().argmin(1, true).toArray(), [[2], [1]]);
  });
});

describe('logsumexp', () => {
  test('equals log(sum(exp(x))) for moderate values', () => {
    const v = tensor([[0.5, -1, 2], [3, 0, 0]], { dtype: 'float64' });
    assertClose(v.logsumexp(1), v.exp().sum(1).log(), 1e-12);
    assertClose(v.logsumexp(0, true), v.exp().sum(0, true).log(), 1e-12);
    assertClose(v.logsumexp([0, 1]), Math.log(v.exp().sum().item()), 1e-12);
  });
  test('is stable where exp overflows', () => {
    const v = tensor([1000, 1000], { dtype: 'float64' });
    assert.equal(v.exp().sum().log().item(), Infinity);
    assertClose(v.logsumexp(0), 1000 + Math.log(2), 1e-12);
  });
});

describe('var and std', () => {
  // [2, 4, 4, 4, 5, 5, 7, 9]: mean 5, sum of squared deviations 32.
  const v = () => tensor([2, 4, 4, 4, 5, 5, 7, 9], { dtype: 'float64' });
  test('correction 1 (default) divides by n-1, correction 0 by n', () => {
    assertClose(v().var(), 32 / 7, 1e-12);
    assertClose(v().var(null, 0), 4, 1e-12);
    assertClose(v().std(null, 0), 2, 1e-12);
    assertClose(v().std(), Math.sqrt(32 / 7), 1e-12);
  });
  test('over a dim, with keepdim', () => {
    const rows = v().reshape(2, 4); // [2,4,4,4] mean 3.5 ss 3; [5,5,7,9] mean 6.5 ss 11
    assertClose(rows.var(1), [1, 11 / 3], 1e-12);
    assertClose(rows.var(1, 0, true), [[0.75], [2.75]], 1e-12);
    assertClose(rows.std(0, 0), [1.5, 0.5, 1.5, 2.5], 1e-12);
  });
});

describe('norm', () => {
  const v = () => tensor([[3, -4], [0, 12]], { dtype: 'float64' });
  test('p = 1, 2, Infinity over all elements', () => {
    assert.equal(v().norm(1).item(), 19);
    assert.equal(v().norm().item(), 13);
    assert.equal(v().norm(Infinity).item(), 12);
  });
  test('per row and with keepdim', () => {
    assertClose(v().norm(2, 1), [5, 12], 1e-12);
    assertClose(v().norm(1, 0, true), [[3, 16]], 1e-12);
    assertClose(v().norm(Infinity, 1), [4, 12], 1e-12);
  });
});

describe('topk and sort', () => {
  const v = () => tensor([[4, 1, 3, 2], [0, 9, 8, 7]]);
  test('topk largest and smallest with indices', () => {
    const big = v().topk(2);
    assert.deepEqual(big.values.toArray(), [[4, 3], [9, 8]]);
    assert.deepEqual(big.indices.toArray(), [[0, 2], [1, 2]]);
    const small = v().topk(1, 1, false);
    assert.deepEqual(small.values.toArray(), [[1], [0]]);
    assert.deepEqual(small.indices.toArray(), [[1], [0]]);
    assert.deepEqual(v().topk(1, 0).indices.toArray(), [[0, 1, 1, 1]]);
  });
  test('sort ascending and descending with indices; stable keeps ties in order', () => {
    const asc = v().sort();
    assert.deepEqual(asc.values.toArray(), [[1, 2, 3, 4], [0, 7, 8, 9]]);
    assert.deepEqual(asc.indices.toArray(), [[1, 3, 2, 0], [0, 3, 2, 1]]);
    const desc = v().sort(0, true);
    assert.deepEqual(desc.values.toArray(), [[4, 9, 8, 7], [0, 1, 3, 2]]);
    const ties = tensor([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
    const stable = ties.sort(0, false, true).indices.toArray();
    assert.deepEqual(stable, [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
  });
});

describe('cumsum', () => {
  test('along each dim, with dtype', () => {
    const m = tensor([[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(m.cumsum(1).toArray(), [[1, 3, 6], [4, 9, 15]]);
    assert.deepEqual(m.cumsum(0).toArray(), [[1, 2, 3], [5, 7, 9]]);
    assert.equal(m.cumsum(-1, 'float64').dtype, 'float64');
    assert.deepEqual(arange(5).cumsum(0).toArray(), [0, 1, 3, 6, 10]);
  });
});

describe('multinomial', () => {
  test('seeded draws repeat; counts follow the (unnormalized) probabilities', () => {
    const probs = tensor([1, 2, 0, 5]); // 1/8, 2/8, 0, 5/8
    const a = multinomial(probs, 20_000, true, new Generator(3));
    const b = multinomial(probs, 20_000, true, new Generator(3));
    assert.deepEqual(a.shape, [20_000]);
    assert.equal(a.dtype, 'int64');
    assert.ok(a.equal(b));
    assert.ok(!a.equal(multinomial(probs, 20_000, true, new Generator(4))));
    const counts = [0, 0, 0, 0];
    for (const i of a.toFlatArray()) counts[i]++;
    assert.equal(counts[2], 0, 'a zero-probability class is never drawn');
    for (const [k, p] of [[0, 1 / 8], [1, 2 / 8], [3, 5 / 8]]) {
      assert.ok(Math.abs(counts[k] / 20_000 - p) < 0.015, `class ${k}: ${counts[k]} draws for p=${p}`);
    }
  });
  test('without replacement gives distinct indices; rows are sampled independently', () => {
    const draws = multinomial(tensor([[1, 1, 1, 1, 1], [0, 0, 1, 0, 0]]), 1, false, new Generator(1));
    assert.deepEqual(draws.shape, [2, 1]);
    assert.equal(draws.toArray()[1][0], 2);
    const perm = multinomial(tensor([1, 1, 1, 1, 1]), 5, false, new Generator(2)).toFlatArray();
    assert.deepEqual([...perm].sort(), [0, 1, 2, 3, 4]);
  });
});

describe('allclose and equal', () => {
  test('tolerances and exact equality', () => {
    const a = tensor([1, 2], { dtype: 'float64' });
    assert.ok(a.allclose(tensor([1 + 1e-9, 2], { dtype: 'float64' })));
    assert.ok(!a.allclose(tensor([1.01, 2], { dtype: 'float64' })));
    assert.ok(a.allclose(tensor([1.01, 2], { dtype: 'float64' }), 0.02));
    assert.ok(a.equal(tensor([1, 2], { dtype: 'float64' })));
    assert.ok(!a.equal(tensor([1, 3], { dtype: 'float64' })));
  });
});
