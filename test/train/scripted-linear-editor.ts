// A SCRIPTED FAKE trained editor for testing the trainer's control flow (batches, Adam, checkpoints, resumption,
// early stopping): it fits y = A·x by least squares on vectors derived from each record's index. It is not an
// editing method; it only exercises src/train the way MEND/KE/SERAC do (parameter groups, a buffer, per-step draws).
import { keep, noGrad, randn, tensor, zeros, manualSeed, type Tensor } from '../../src/tensor/index.js';
import type { NormalizedRequest } from '../../src/methods/request.js';
import type { ParamGroup, StepContext, StepLoss, TrainableEditor } from '../../src/methods/trained.js';
import { TRAINING_FIELDS, type TrainingHparams } from '../../src/methods/trained-hparams.js';

const A = [[1, -2, 0.5], [0.25, 3, -1]];

function xOf(i: number): number[] {
  return [Math.sin(i + 1), Math.cos(2 * i + 1), ((i * 7) % 5) / 5 - 0.4];
}

export function records(n: number, offset = 0): NormalizedRequest[] {
  return Array.from({ length: n }, (_, k) => ({
    prompt: `{} ${k + offset}`, template: `{} ${k + offset}`, text: `r ${k + offset}`, subject: 'r', targetNew: ' x', index: k + offset,
  }));
}

export class ScriptedLinearEditor implements TrainableEditor {
  readonly w: Tensor;
  readonly ascent: Tensor;
  readonly seen: Tensor;
  /** Milliseconds to busy-wait per loss call (makes a child process slow enough to kill mid-run). */
  delayMs = 0;

  constructor(seed: number, private readonly lr = 0.05, private readonly withAscent = false) {
    manualSeed(seed);
    this.w = keep(randn([2, 3]).mul(0.1)).requiresGrad_(true);
    this.ascent = keep(zeros([1])).requiresGrad_(true);
    this.seen = keep(zeros([1]));
  }

  groups(): ParamGroup[] {
    const g: ParamGroup[] = [{ name: 'main', params: new Map([['w', this.w]]), lr: this.lr }];
    if (this.withAscent) g.push({ name: 'multiplier', params: new Map([['ascent', this.ascent]]), lr: 0.1, maximize: true });
    return g;
  }

  buffers(): Map<string, Tensor> {
    return new Map([['seen', this.seen]]);
  }

  private mse(batch: NormalizedRequest[], noise: number): Tensor {
    const x = tensor(batch.map((r) => xOf(r.index)));
    const y = tensor(batch.map((r) => A.map((row) => row.reduce((s, a, j) => s + a * xOf(r.index)[j], 0) + noise)));
    return x.matmul(this.w.t()).sub(y).square().mean();
  }

  loss(batch: NormalizedRequest[], ctx: StepContext): StepLoss {
    const until = Date.now() + this.delayMs;
    while (Date.now() < until) { /* busy wait */ }
    noGrad(() => this.seen.add_(tensor([batch.length])));
    const noise = (ctx.rand() - 0.5) * 0.01;
    const mse = this.mse(batch, noise);
    // the ascent parameter enters as +ascent·1: gradient ascent makes it grow, descent would make it shrink
    const loss = this.withAscent ? mse.add(this.ascent.sum()) : mse;
    return { loss, metrics: { mse: mse.item() } };
  }

  validate(recs: NormalizedRequest[]): Record<string, number> {
    const mse = this.mse(recs, 0).item();
    return { edit_success: -mse, mse };
  }

  meta(): Record<string, unknown> {
    return { kind: 'scripted-linear' };
  }

  dispose(): void {
    this.w.dispose();
    this.ascent.dispose();
    this.seen.dispose();
  }
}

/** Training hparams with the schema's defaults and `over`. */
export function hparams(over: Partial<TrainingHparams> = {}): TrainingHparams {
  const d = Object.fromEntries(Object.entries(TRAINING_FIELDS).map(([k, f]) => [k, f.default])) as unknown as TrainingHparams;
  return { ...d, batch_size: 4, accumulate_bs: 4, max_iters: 60, val_interval: 10, model_save_pt: 5, log_interval: 5, early_stop_patience: 100, ...over };
}
