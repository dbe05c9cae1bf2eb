// Optimizers against hand-written references of torch.optim's update equations, and learning-rate schedules.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  Adam, AdamW, cosineSchedule, linearWarmupSchedule, memory, SGD, tensor, type Optimizer, type Tensor,
} from '../../src/tensor/index.js';
import { assertClose } from './helpers.js';

const C = [1, -2, 0.5];
/** loss = sum(c * p^2) / 2, so grad = c * p. */
const lossOf = (p: Tensor) => p.mul(p).mul(tensor(C, { dtype: 'float64' })).sum().div(2);
const gradOf = (p: number[]) => p.map((v, i) => C[i] * v);
const param = (v: number[]) => tensor(v, { dtype: 'float64', requiresGrad: true });

/** Runs `steps` optimizer steps on lossOf and returns the parameter values after each. */
function run(p: Tensor, opt: Optimizer, steps: number): number[][] {
  const out: number[][] = [];
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    lossOf(p).backward();
    opt.step();
    out.push(p.toFlatArray());
  }
  return out;
}

describe('SGD', () => {
  test('without momentum: p - lr g exactly', () => {
    const p = param([1, 2, -4]);
    const opt = new SGD([p], { lr: 0.5 });
    p.grad = tensor([0.25, -1, 8], { dtype: 'float64' });
    opt.step();
    assert.deepEqual(p.toArray(), [1 - 0.5 * 0.25, 2 + 0.5, -4 - 4]);
    const q = param([0.3, -0.7, 1.1]);
    const ref = [0.3, -0.7, 1.1];
    const got = run(q, new SGD([q], { lr: 0.1 }), 3);
    for (const row of got) {
      const g = gradOf(ref);
      for (let i = 0; i < 3; i++) ref[i] -= 0.1 * g[i];
      assertClose(row, ref, 1e-15);
    }
  });
  test('momentum, dampening, weight decay and nesterov match torch over 3 steps', () => {
    for (const opts of [
      { lr: 0.1, momentum: 0.9 },
      { lr: 0.05, momentum: 0.8, dampening: 0.3, weightDecay: 0.01 },
      { lr: 0.1, momentum: 0.9, nesterov: true },
    ]) {
      const { lr, momentum, dampening = 0, weightDecay = 0, nesterov = false } = opts as
        { lr: number; momentum: number; dampening?: number; weightDecay?: number; nesterov?: boolean };
      const ref = [1, 2, -3];
      let buf: number[] | undefined;
      const p = param(ref);
      const got = run(p, new SGD([p], opts), 3);
      for (const row of got) {
        const g = gradOf(ref).map((v, i) => v + weightDecay * ref[i]);
        buf = buf === undefined ? g.slice() : buf.map((b, i) => momentum * b + (1 - dampening) * g[i]);
        const dir = nesterov ? g.map((v, i) => v + momentum * buf![i]) : buf;
        for (let i = 0; i < 3; i++) ref[i] -= lr * dir[i];
        assertClose(row, ref, 1e-14);
      }
    }
  });
});

/** torch.optim.Adam / AdamW reference (amsgrad=False, maximize=False). */
function adamReference(start: number[], steps: number, lr: number, b1: number, b2: number, eps: number, wd: number, decoupled: boolean): number[][] {
  const p = start.slice();
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const out: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    let g = gradOf(p);
    if (decoupled) for (let i = 0; i < p.length; i++) p[i] *= 1 - lr * wd;
    else g = g.map((x, i) => x + wd * p[i]);
    for (let i = 0; i < p.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps;
      p[i] -= (lr / (1 - b1 ** t)) * (m[i] / denom);
    }
    out.push(p.slice());
  }
  return out;
}

describe('Adam and AdamW', () => {
  test('Adam with defaults matches the reference over 3 steps', () => {
    const p = param([1, 2, -3]);
    const got = run(p, new Adam([p], { lr: 0.1 }), 3);
    assertClose(got, adamReference([1, 2, -3], 3, 0.1, 0.9, 0.999, 1e-8, 0, false), 1e-13);
  });
  test('Adam with betas, eps and L2 weight decay', () => {
    const p = param([0.5, -1, 2]);
    const got = run(p, new Adam([p], { lr: 0.01, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 }), 3);
    assertClose(got, adamReference([0.5, -1, 2], 3, 0.01, 0.8, 0.99, 1e-6, 0.1, false), 1e-13);
  });
  test('AdamW decays the weights directly (default 0.01) and matches the reference', () => {
    const p = param([1, 2, -3]);
    const got = run(p, new AdamW([p], { lr: 0.1 }), 3);
    assertClose(got, adamReference([1, 2, -3], 3, 0.1, 0.9, 0.999, 1e-8, 0.01, true), 1e-13);
    const q = param([1, 2, -3]);
    const got2 = run(q, new AdamW([q], { lr: 0.1, weightDecay: 0.5 }), 3);
    assertClose(got2, adamReference([1, 2, -3], 3, 0.1, 0.9, 0.999, 1e-8, 0.5, true), 1e-13);
  });
  test('Adam minimizes a quadratic', () => {
    const target = tensor([3, -1, 0.5], { dtype: 'float64' });
    const p = param([0, 0, 0]);
    const opt = new Adam([p], { lr: 0.05 });
    for (let s = 0; s < 600; s++) {
      opt.zeroGrad();
      p.sub(target).pow(2).sum().backward();
      opt.step();
    }
    assertClose(p, [3, -1, 0.5], 1e-3);
  });
  test('a parameter without a grad is skipped and keeps its own step count (bias correction as torch)', () => {
    const a = param([1, 2, -3]);
    const b = param([1, 2, -3]);
    const opt = new Adam([a, b], { lr: 0.1 });
    lossOf(a).backward();
    opt.step(); // b has no grad: untouched
    assert.deepEqual(b.toArray(), [1, 2, -3]);
    opt.zeroGrad();
    lossOf(b).backward();
    opt.step(); // b's first update: step 1 for b
    assertClose(b, adamReference([1, 2, -3], 1, 0.1, 0.9, 0.999, 1e-8, 0, false)[0], 1e-13);
  });
});

describe('optimizer bookkeeping', () => {
  test('zeroGrad clears grads; parameters must require grad; lr must be >= 0', () => {
    const p = param([1]);
    const opt = new SGD([p], { lr: 0.1 });
    lossOf(p.mul(tensor([1, 1, 1], { dtype: 'float64' }))).backward();
    assert.ok(p.grad !== undefined);
    opt.zeroGrad();
    assert.equal(p.grad?.numel(), undefined);
    assert.throws(() => new SGD([tensor([1])], { lr: 0.1 }), /does not require grad/);
    assert.throws(() => new Adam([p], { lr: -1 }), /learning rate/);
  });
  test('step() frees its temporaries; dispose() frees the state', () => {
    const p = param([1, 2, -3]);
    const opt = new Adam([p], { lr: 0.1 });
    lossOf(p).backward();
    opt.step();
    const after1 = memory().tensors;
    opt.step();
    assert.equal(memory().tensors, after1, 'no handles leak per step');
    opt.dispose();
    assert.equal(memory().tensors, after1 - 2, 'exp_avg and exp_avg_sq freed');
  });
});

describe('learning-rate schedules', () => {
  const lrsAt = (make: (o: Optimizer) => { step(): void }, steps: number[]) => {
    const opt = new SGD([param([1])], { lr: 2 });
    const sched = make(opt);
    const out: number[] = [];
    for (let s = 0; s <= Math.max(...steps); s++) {
      if (steps.includes(s)) out.push(opt.lr);
      sched.step();
    }
    return out;
  };
  test('linear warm-up to the base rate, then linear decay to 0', () => {
    const lrs = lrsAt((o) => linearWarmupSchedule(o, 10, 110), [0, 5, 10, 60, 110, 150]);
    assertClose(lrs, [0, 1, 2, 1, 0, 0], 1e-12);
  });
  test('cosine with warm-up and a floor', () => {
    const lrs = lrsAt((o) => cosineSchedule(o, 110, { warmupSteps: 10, minRatio: 0.1 }), [0, 5, 10, 35, 60, 110, 200]);
    const f = (progress: number) => 2 * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * progress)));
    assertClose(lrs, [0, 1, 2, f(0.25), f(0.5), 0.2, 0.2], 1e-12);
  });
  test('cosine without warm-up starts at the base rate and halves at mid-way', () => {
    assertClose(lrsAt((o) => cosineSchedule(o, 100), [0, 50, 100]), [2, 1, 0], 1e-12);
  });
  test('lastStep counts scheduler steps', () => {
    const sched = linearWarmupSchedule(new SGD([param([1])], { lr: 1 }), 2, 4);
    sched.step();
    sched.step();
    assert.equal(sched.lastStep, 2);
  });
});
