// The original's training controls, re-stated: torch's ReduceLROnPlateau (mode min, relative threshold, no cooldown,
// as BartSeq2SeqEditor.configure_optimizers sets it), Lightning's gradient_clip_val (clip_grad_norm_ over the trained
// parameters) and BartSeq2SeqEditor.early_stop_editing (mode min).
import type { Optimizer } from '../../tensor/index.js';

export class Plateau {
  private best = Infinity;
  private bad = 0;
  constructor(private readonly opt: Optimizer, private readonly o: { factor: number; patience: number; threshold: number }) {}

  /** One scheduler step on the monitored value (lower is better). */
  step(value: number): void {
    if (value < this.best * (1 - this.o.threshold)) {
      this.best = value;
      this.bad = 0;
    } else {
      this.bad++;
    }
    if (this.bad > this.o.patience) {
      const lr = this.opt.lr * this.o.factor;
      if (this.opt.lr - lr > 1e-8) this.opt.lr = lr;
      this.bad = 0;
    }
  }
}

export { clipGradNorm } from '../../tensor/optim.js';

/**
 * early_stop_editing, mode min: the best value (a later value counts as better only when lower by more than thd);
 * stop when it is more than `patience` checks old.
 */
export function earlyStop(values: number[], thd: number, patience: number): boolean {
  let best = 0;
  values.forEach((v, i) => { if (v < values[best] - thd) best = i; });
  return best < values.length - patience;
}
