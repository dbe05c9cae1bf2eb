// Optimizers (SGD with momentum, Adam, AdamW) and learning-rate schedules, following torch.optim's update rules.
import { noGrad } from './autograd.js';
import { keep, tidy } from './scope.js';
import { zerosLike } from './creation.js';
import type { Tensor } from './tensor.js';

/** An optimizer's state as a checkpoint keeps it (Optimizer.exportState). */
export interface OptimizerState {
  /** Calls to step(). */
  steps: number;
  params: { step: number; buffers: Record<string, Tensor> }[];
}

export abstract class Optimizer {
  /** Current learning rate (schedulers write it). */
  lr: number;
  readonly baseLr: number;
  protected readonly state = new Map<Tensor, Record<string, Tensor>>();
  /** Calls to step(). */
  protected stepCount = 0;
  /** Updates applied to each parameter: torch keeps a per-parameter `step` (a parameter without a grad does not advance). */
  private readonly paramSteps = new Map<Tensor, number>();

  constructor(readonly params: Tensor[], lr: number) {
    if (!(lr >= 0)) throw new RangeError(`learning rate must be >= 0, got ${lr}`);
    for (const [i, p] of params.entries()) {
      if (!p.requiresGrad) throw new Error(`optimizer parameter ${i} (shape [${p.shape}]) does not require grad`);
    }
    this.lr = lr;
    this.baseLr = lr;
  }

  /** Drops accumulated gradients (set to none, like PyTorch's default). */
  zeroGrad(): void {
    for (const p of this.params) p.grad = undefined;
  }

  /** Applies one update from the current .grad of every parameter (parameters without a grad are skipped). */
  step(): void {
    this.stepCount++;
    noGrad(() => {
      for (const p of this.params) {
        tidy(() => {
          const g = p.grad;
          if (g === undefined) return;
          const step = (this.paramSteps.get(p) ?? 0) + 1;
          this.paramSteps.set(p, step);
          this.update(p, g, this.stateOf(p), step);
        });
      }
    });
  }

  /** Frees the optimizer's state tensors. */
  dispose(): void {
    for (const s of this.state.values()) for (const t of Object.values(s)) t.dispose();
    this.state.clear();
    this.paramSteps.clear();
  }

  /**
   * The optimizer's state for a checkpoint, by parameter index: each parameter's update count and buffers (the
   * tensors are the optimizer's own: read them, do not dispose them).
   */
  exportState(): OptimizerState {
    return {
      steps: this.stepCount,
      params: this.params.map((p) => ({ step: this.paramSteps.get(p) ?? 0, buffers: { ...(this.state.get(p) ?? {}) } })),
    };
  }

  /** Restores exportState's output (buffers are copied): a resumed run then updates exactly as the interrupted one would. */
  importState(s: OptimizerState): void {
    if (s.params.length !== this.params.length) throw new Error(`optimizer state has ${s.params.length} parameters, this optimizer ${this.params.length}`);
    this.dispose();
    this.stepCount = s.steps;
    noGrad(() => s.params.forEach((entry, i) => {
      const p = this.params[i];
      if (entry.step > 0) this.paramSteps.set(p, entry.step);
      const own: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(entry.buffers)) {
        if (t.shape.join(',') !== p.shape.join(',')) throw new Error(`optimizer state: buffer '${name}' of parameter ${i} has shape [${t.shape}], the parameter [${p.shape}]`);
        own[name] = keep(t.to({ dtype: p.dtype, device: p.device, copy: true }));
      }
      if (Object.keys(own).length) this.state.set(p, own);
    }));
  }

  /** Updates one parameter in place; `step` counts this parameter's updates from 1. */
  protected abstract update(p: Tensor, grad: Tensor, state: Record<string, Tensor>, step: number): void;

  protected buffer(state: Record<string, Tensor>, name: string, like: Tensor): Tensor {
    state[name] ??= keep(zerosLike(like));
    return state[name];
  }

  private stateOf(p: Tensor): Record<string, Tensor> {
    let s = this.state.get(p);
    if (!s) {
      s = {};
      this.state.set(p, s);
    }
    return s;
  }
}

export interface SGDOptions { lr: number; momentum?: number; dampening?: number; weightDecay?: number; nesterov?: boolean }

/** torch.optim.SGD. */
export class SGD extends Optimizer {
  constructor(params: Tensor[], readonly opts: SGDOptions) {
    super(params, opts.lr);
  }
  protected update(p: Tensor, grad: Tensor, state: Record<string, Tensor>): void {
    const { momentum = 0, dampening = 0, weightDecay = 0, nesterov = false } = this.opts;
    let g = weightDecay !== 0 ? grad.add(p, weightDecay) : grad;
    if (momentum !== 0) {
      const first = state.momentum === undefined;
      const buf = this.buffer(state, 'momentum', p);
      if (first) buf.copy_(g);
      else buf.mul_(momentum).add_(g, 1 - dampening);
      g = nesterov ? g.add(buf, momentum) : buf;
    }
    p.add_(g, -this.lr);
  }
}

export interface AdamOptions { lr: number; betas?: [number, number]; eps?: number; weightDecay?: number }

/** torch.optim.Adam (weight decay as an L2 term added to the gradient). */
export class Adam extends Optimizer {
  protected readonly decoupled: boolean = false;
  constructor(params: Tensor[], readonly opts: AdamOptions) {
    super(params, opts.lr);
  }
  protected update(p: Tensor, grad: Tensor, state: Record<string, Tensor>, step: number): void {
    const [b1, b2] = this.opts.betas ?? [0.9, 0.999];
    const eps = this.opts.eps ?? 1e-8;
    const wd = this.opts.weightDecay ?? (this.decoupled ? 0.01 : 0);
    let g = grad;
    if (wd !== 0) {
      if (this.decoupled) p.mul_(1 - this.lr * wd);
      else g = grad.add(p, wd);
    }
    const m = this.buffer(state, 'expAvg', p).mul_(b1).add_(g, 1 - b1);
    const v = this.buffer(state, 'expAvgSq', p).mul_(b2).addcmul_(g, g, 1 - b2);
    const bias1 = 1 - b1 ** step;
    const bias2 = 1 - b2 ** step;
    const denom = v.sqrt().div_(Math.sqrt(bias2)).add_(eps);
    p.addcdiv_(m, denom, -this.lr / bias1);
  }
}

/** torch.optim.AdamW: decoupled weight decay (default 0.01). */
export class AdamW extends Adam {
  protected override readonly decoupled = true;
}

/** Sets optimizer.lr = baseLr * factor(step) on every step() (torch.optim.lr_scheduler.LambdaLR). */
export class LRScheduler {
  private current = 0;
  constructor(readonly optimizer: Optimizer, readonly factor: (step: number) => number) {
    optimizer.lr = optimizer.baseLr * factor(0);
  }
  step(): void {
    this.current++;
    this.optimizer.lr = this.optimizer.baseLr * this.factor(this.current);
  }
  get lastStep(): number {
    return this.current;
  }
}

/** Linear warm-up from 0 to the base rate over warmupSteps, then linear decay to 0 at totalSteps. */
export function linearWarmupSchedule(opt: Optimizer, warmupSteps: number, totalSteps: number): LRScheduler {
  return new LRScheduler(opt, (s) => (s < warmupSteps
    ? s / Math.max(1, warmupSteps)
    : Math.max(0, (totalSteps - s) / Math.max(1, totalSteps - warmupSteps))));
}

/** Linear warm-up, then cosine decay from the base rate to minRatio x base at totalSteps. */
export function cosineSchedule(opt: Optimizer, totalSteps: number, opts: { warmupSteps?: number; minRatio?: number } = {}): LRScheduler {
  const warm = opts.warmupSteps ?? 0;
  const minRatio = opts.minRatio ?? 0;
  return new LRScheduler(opt, (s) => {
    if (s < warm) return s / Math.max(1, warm);
    const progress = Math.min(1, (s - warm) / Math.max(1, totalSteps - warm));
    return minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress));
  });
}

/** Scales the gradients so that their joint 2-norm is at most maxNorm (torch.nn.utils.clip_grad_norm_); the norm. */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  return noGrad(() => tidy(() => {
    const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== undefined);
    const total = Math.sqrt(grads.reduce((s, g) => s + g.square().sum().item(), 0));
    const coef = maxNorm / (total + 1e-6);
    if (coef < 1) grads.forEach((g) => g.mul_(coef));
    return total;
  }));
}
