// Runtime settings: intra-op threads, the linked libtorch's build facts.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { backendInfo, getNumThreads, randn, setNumThreads } from '../../src/tensor/index.js';

describe('threads', () => {
  test('libtorch starts with one thread per core (or LMEDIT_NUM_THREADS)', () => {
    const wanted = Number(process.env.LMEDIT_NUM_THREADS ?? availableParallelism());
    assert.equal(getNumThreads(), wanted);
  });
  test('setNumThreads changes the count, results do not depend on it, bad counts are refused', () => {
    const before = getNumThreads();
    try {
      const a = randn([200, 300], { dtype: 'float64' });
      const b = randn([300, 100], { dtype: 'float64' });
      const many = a.matmul(b);
      setNumThreads(1);
      assert.equal(getNumThreads(), 1);
      assert.ok(a.matmul(b).allclose(many, 1e-12, 1e-12));
    } finally {
      setNumThreads(before);
    }
    assert.equal(getNumThreads(), before);
    assert.throws(() => setNumThreads(0), RangeError);
    assert.throws(() => setNumThreads(1.5), RangeError);
  });
});

describe('backendInfo', () => {
  test('reports the libtorch build and its parallel settings', () => {
    const { config, parallel } = backendInfo();
    assert.match(config, /PyTorch built with/);
    assert.match(config, /TORCH_VERSION=\d+\.\d+/);
    assert.match(parallel, /ATen\/Parallel/);
    assert.match(parallel, new RegExp(`at::get_num_threads\\(\\) : ${getNumThreads()}`));
  });
});
