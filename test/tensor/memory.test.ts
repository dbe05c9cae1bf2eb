// Memory scopes: tidy frees intermediates and keeps what it returns, keep() and dispose(), failure paths, and a
// long loop whose live-tensor count and resident memory stay flat.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { dispose, Generator, keep, memory, ones, randn, resetPeakMemory, tensor, tidy, zeros, type Tensor } from '../../src/tensor/index.js';
import { collectGarbage } from './helpers.js';

/** Collects garbage left by earlier tests, including handles whose finalizers run after the collection. */
async function settle(): Promise<void> {
  collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, 10));
  collectGarbage();
}

describe('tidy', () => {
  test('frees every tensor created inside except the returned one', () => {
    const before = memory().tensors;
    let inner: Tensor | undefined;
    const out = tidy(() => {
      inner = ones([4]).mul(2);
      return inner.add(1);
    });
    assert.equal(inner!.isDisposed, true);
    assert.equal(out.isDisposed, false);
    assert.deepEqual(out.toArray(), [3, 3, 3, 3]);
    assert.equal(memory().tensors, before + 1);
    out.dispose();
    assert.equal(memory().tensors, before);
  });
  test('returned arrays, nested plain objects and Maps survive', () => {
    const before = memory().tensors;
    const r = tidy(() => {
      const a = ones([2]);
      const m = new Map<string, Tensor>([['m', a.mul(5)]]);
      return { list: [a, a.add(1)], nested: { deep: [{ t: a.mul(3) }] }, m, label: 'x', n: 3 };
    });
    assert.deepEqual(r.list[1].toArray(), [2, 2]);
    assert.deepEqual(r.nested.deep[0].t.toArray(), [3, 3]);
    assert.deepEqual(r.m.get('m')!.toArray(), [5, 5]);
    assert.equal(r.label, 'x');
    assert.equal(memory().tensors, before + 4);
    dispose(r);
    assert.equal(memory().tensors, before);
  });
  test('tensors created before the scope are not touched', () => {
    const outside = ones([2]);
    tidy(() => {
      outside.add(1);
      outside.mul_(3);
    });
    assert.equal(outside.isDisposed, false);
    assert.deepEqual(outside.toArray(), [3, 3]);
  });
  test('nested scopes: an inner result moves to the outer scope and is freed there', () => {
    const before = memory().tensors;
    let fromInner: Tensor | undefined;
    const kept = tidy(() => {
      fromInner = tidy(() => ones([3]).mul(2));
      assert.equal(fromInner.isDisposed, false);
      return fromInner.sum();
    });
    assert.equal(fromInner!.isDisposed, true);
    assert.equal(kept.item(), 6);
    kept.dispose();
    assert.equal(memory().tensors, before);
  });
  test('keep() exempts a tensor from every enclosing scope', () => {
    let kept: Tensor | undefined;
    tidy(() => tidy(() => {
      kept = keep(ones([2]).mul(7));
    }));
    assert.equal(kept!.isDisposed, false);
    assert.deepEqual(kept!.toArray(), [7, 7]);
    kept!.dispose();
  });
  test('tensors created when the function throws are freed, and the error propagates', () => {
    const before = memory().tensors;
    let made: Tensor | undefined;
    assert.throws(() => tidy(() => {
      made = zeros([16]);
      made.matmul(zeros([3, 3]));
    }), /matmul|shape|size/i);
    assert.equal(made!.isDisposed, true);
    assert.equal(memory().tensors, before);
  });
  test('an async function is refused, and what it made synchronously is freed', () => {
    const before = memory().tensors;
    assert.throws(() => tidy(async () => ones([2])), /synchronous/);
    assert.equal(memory().tensors, before);
  });
});

describe('dispose and memory()', () => {
  test('dispose() frees tensors found in arrays and objects, bytes are accounted', () => {
    const before = memory();
    const a = zeros([256, 256]);
    const b = zeros([10], { dtype: 'float64' });
    assert.equal(memory().tensors, before.tensors + 2);
    assert.equal(memory().bytes, before.bytes + 256 * 256 * 4 + 80);
    dispose({ xs: [a], y: b });
    assert.equal(a.isDisposed, true);
    assert.equal(b.isDisposed, true);
    const live = () => (({ tensors, bytes, allocatedBytes }) => ({ tensors, bytes, allocatedBytes }))(memory());
    const { peakAllocatedBytes: _p, ...beforeLive } = before;
    assert.deepEqual(live(), beforeLive);
    dispose([a, b]); // a second dispose is harmless
    assert.deepEqual(live(), beforeLive);
  });
  test('tensors that are never disposed are freed by the garbage collector', async () => {
    await settle(); // garbage left by earlier tests
    const before = memory().tensors;
    for (let i = 0; i < 500; i++) zeros([64, 64]).add(1);
    assert.equal(memory().tensors, before + 1000);
    await settle();
    assert.equal(memory().tensors, before);
  });
  test('a view keeps the storage alive after its base is disposed', () => {
    const base = tensor([1, 2, 3, 4]);
    const view = base.slice(0, 2);
    base.dispose();
    assert.deepEqual(view.toArray(), [3, 4]);
  });
  test('autograd keeps what it saved after the JS handles are disposed', () => {
    const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const loss = tidy(() => x.exp().mul(x).sum()); // intermediates disposed
    loss.backward();
    assert.deepEqual(x.grad!.toArray().map((v: number) => Number(v.toFixed(9))), [1, 2].map((v) => Number(((v + 1) * Math.exp(v)).toFixed(9))));
  });
});

describe('a long loop inside tidy', () => {
  test('2,000 iterations of ~10 intermediates of 256x256: tensor count exact, RSS flat', async () => {
    const W = randn([256, 256], { generator: new Generator(1) }).div(16);
    let state = keep(zeros([256, 256]));
    const iterate = () => {
      const next = tidy(() => {
        const h = state.matmul(W).add(1).tanh();
        const g = h.mul(h).sub(0.5).relu().add(h.softmax(-1));
        const n = g.div(g.norm().add(1));
        return n.mul(0.5).add(state.mul(0.5)); // ~10 intermediates per iteration
      });
      state.dispose();
      state = keep(next);
    };
    for (let i = 0; i < 200; i++) iterate(); // warm-up: allocator pools, JIT
    await settle();
    const tensorsBefore = memory().tensors;
    const bytesBefore = memory().bytes;
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < 2000; i++) iterate();
    collectGarbage();
    const growthMB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    assert.equal(memory().tensors, tensorsBefore);
    assert.equal(memory().bytes, bytesBefore);
    assert.ok(growthMB < 50, `RSS grew by ${growthMB.toFixed(1)} MB over 2,000 iterations`);
    assert.ok(Number.isFinite(state.sum().item()));
    state.dispose();
    W.dispose();
  });
});

describe('allocated tensor memory', () => {
  test('counts libtorch storage including op intermediates, returns to its level after tidy, and keeps a peak', () => {
    const start = memory().allocatedBytes;
    resetPeakMemory();
    assert.equal(memory().peakAllocatedBytes, start);
    tidy(() => {
      const a = zeros([500, 1000]); // 2 MB
      a.matmul(a.t()).sum(); // a 500x500 product (1 MB) freed inside sum's scope
      assert.ok(memory().allocatedBytes - start >= 2e6 + 1e6);
    });
    assert.equal(memory().allocatedBytes, start, 'everything freed');
    assert.ok(memory().peakAllocatedBytes - start >= 3e6, `peak ${memory().peakAllocatedBytes - start}`);
    resetPeakMemory();
    assert.equal(memory().peakAllocatedBytes, start);
  });
});
