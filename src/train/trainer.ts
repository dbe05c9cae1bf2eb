// The one trainer of trained editors (MEND, KE, SERAC; docs/training.md). EasyEdit's EditTrainer in outline —
// batches of edit records, Adam per parameter group, gradient clipping, validation every val_interval with early
// stopping on early_stop_key, the best editor kept — plus what it lacks: an LR schedule, atomic checkpoints every
// model_save_pt steps, and exact resumption: batch order and per-step draws are functions of (seed, step), the Adam
// state and the best tensors are checkpointed, so a run killed at any point and resumed ends with the same weights
// as an uninterrupted one (test/train/trainer.test.ts kills a child process with SIGKILL to check it).
import { Adam, clipGradNorm, keep, noGrad, tidy, type Tensor } from '../tensor/index.js';
import {
  editorTensors, restoreEditorTensors, saveTrainedEditor, type EditorManifest, type TrainRecord, type TrainableEditor,
} from '../methods/trained.js';
import type { TrainingHparams } from '../methods/trained-hparams.js';
import { BatchOrder, scheduleFactor, stepRandom } from './batches.js';
import { checkpointPath, disposeCheckpoint, readCheckpoint, writeCheckpoint, type BestSoFar, type LoopState } from './checkpoint.js';
import { TrainLog } from './log.js';

export interface TrainOptions {
  train: readonly TrainRecord[];
  val: readonly TrainRecord[];
  hparams: TrainingHparams;
  /** The editor directory (editor.safetensors, train-log.jsonl, checkpoint.safetensors). */
  outDir: string;
  /** Saved with the editor (method, hparams, base model identity). */
  manifest: Omit<EditorManifest, 'training' | 'meta'>;
  /** Names the run (method, hparams, data): a checkpoint of another run in outDir is refused, not resumed. */
  identity: string;
  onProgress?: (p: TrainProgress) => void;
  /** Polled before each step (Ctrl-C): stop after writing a checkpoint. */
  shouldStop?: () => boolean;
  /** Stop after this many steps of this call, as an interruption would (tests). */
  stopAfter?: number;
}

export interface TrainProgress {
  step: number;
  total: number;
  loss: number;
  lr: number;
  metrics: Record<string, number>;
  /** Set on validation steps. */
  val?: Record<string, number>;
  best: BestSoFar | null;
  seconds: number;
}

export type StopReason = 'max_iters' | 'early_stop' | 'max_train_seconds' | 'interrupted' | 'already_done';

export interface TrainSummary {
  steps: number;
  totalSteps: number;
  epochs: number;
  stoppedBy: StopReason;
  best: BestSoFar | null;
  /** Training seconds, summed over every resumed process. */
  seconds: number;
  /** Peak resident memory of this process (MB). */
  peakRssMb: number;
  /** Step the run resumed from (null: started fresh). */
  resumedFrom: number | null;
  trainRecords: number;
  valRecords: number;
  /** The editor file, written when the run finished (not when interrupted). */
  editorFile?: string;
}

function cloneAll(m: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  return noGrad(() => new Map([...m].map(([n, t]) => [n, keep(t.detach().clone())])));
}

function disposeAll(m: Map<string, Tensor>): void {
  for (const t of m.values()) t.dispose();
  m.clear();
}

interface Run {
  editor: TrainableEditor;
  opts: TrainOptions;
  optimizers: Adam[];
  groups: ReturnType<TrainableEditor['groups']>;
  loop: LoopState;
  best: Map<string, Tensor>;
  log: TrainLog;
  order: BatchOrder;
  accum: number;
  total: number;
}

/** Restores a checkpoint of the same run into the editor and optimisers; returns the loop state (null: none). */
function resume(run: Omit<Run, 'loop' | 'log'>): LoopState | null {
  const ck = readCheckpoint(run.opts.outDir);
  if (!ck) return null;
  try {
    const file = checkpointPath(run.opts.outDir);
    if (ck.loop.identity !== run.opts.identity) {
      throw new Error(`${file}: a checkpoint of a different training run (other method, hparams or data); use another --out, or delete it to start over`);
    }
    restoreEditorTensors(run.editor, ck.tensors, file);
    if (ck.optimizers.length !== run.optimizers.length) throw new Error(`${file}: has ${ck.optimizers.length} optimiser states, the editor ${run.optimizers.length} parameter groups`);
    run.optimizers.forEach((o, i) => o.importState(ck.optimizers[i]));
    for (const [n, t] of cloneAll(ck.best)) run.best.set(n, t);
    return ck.loop;
  } finally {
    disposeCheckpoint(ck);
  }
}

/** One optimiser step: `accum` batches' gradients, maximised groups negated, clipped, applied. */
function step(run: Run): { loss: number; metrics: Record<string, number> } {
  const { editor, opts, loop } = run;
  const h = opts.hparams;
  const metrics: Record<string, number> = {};
  let loss = 0;
  for (let a = 0; a < run.accum; a++) {
    const k = loop.step * run.accum + a;
    tidy(() => {
      const out = editor.loss(run.order.batch(k), { step: loop.step, rand: stepRandom(h.seed, k), pool: opts.train });
      const value = out.loss.item();
      if (!Number.isFinite(value)) throw new Error(`trainer: the loss is ${value} at step ${loop.step + 1} (batch ${k}); lower lr or check the editor's hparams`);
      (run.accum > 1 ? out.loss.div(run.accum) : out.loss).backward();
      loss += value / run.accum;
      for (const [m, v] of Object.entries(out.metrics)) metrics[m] = (metrics[m] ?? 0) + v / run.accum;
    });
  }
  const all = run.groups.flatMap((g) => [...g.params.values()]);
  noGrad(() => run.groups.forEach((g) => { if (g.maximize) for (const p of g.params.values()) p.grad?.mul_(-1); }));
  metrics.grad_norm = clipGradNorm(all, h.grad_clip);
  for (const o of run.optimizers) o.step();
  for (const o of run.optimizers) o.zeroGrad();
  loop.step++;
  return { loss, metrics };
}

/** Validation on the first val_steps records; updates the best tensors and the early-stopping count. */
function validate(run: Run): Record<string, number> {
  const h = run.opts.hparams;
  const val = tidy(() => noGrad(() => run.editor.validate(run.opts.val.slice(0, h.val_steps) as TrainRecord[])));
  const value = val[h.early_stop_key];
  if (typeof value !== 'number') throw new Error(`trainer: validation gives no '${h.early_stop_key}' (early_stop_key); it gives ${Object.keys(val).join(', ')}`);
  if (run.loop.best === null || value > run.loop.best.value) {
    run.loop.best = { step: run.loop.step, value, metrics: val };
    run.loop.sinceBest = 0;
    disposeAll(run.best);
    for (const [n, t] of cloneAll(editorTensors(run.editor))) run.best.set(n, t);
  } else {
    run.loop.sinceBest++;
  }
  return val;
}

function save(run: Run, seconds: number): void {
  run.loop.logLines = run.log.count;
  run.loop.seconds = seconds;
  writeCheckpoint(run.opts.outDir, {
    loop: run.loop, tensors: editorTensors(run.editor), best: run.best, optimizers: run.optimizers.map((o) => o.exportState()),
  });
}

/** Trains `editor` on opts.train (resuming a checkpoint of the same run in opts.outDir) and writes the editor. */
export function trainEditor(editor: TrainableEditor, opts: TrainOptions): TrainSummary {
  const h = opts.hparams;
  if (h.opt.toLowerCase() !== 'adam') throw new Error(`trainer: opt '${h.opt}' is not supported (only Adam, EasyEdit's default)`);
  if (opts.val.length === 0) throw new Error('trainer: no validation records (early stopping and the saved editor follow validation)');
  const groups = editor.groups();
  for (const g of groups) for (const [n, p] of g.params) if (!p.requiresGrad) throw new Error(`trainer: parameter '${n}' of group '${g.name}' does not require grad`);
  const order = new BatchOrder(opts.train, h.batch_size, h.seed);
  const accum = Math.max(1, Math.round(h.accumulate_bs / h.batch_size));
  const total = Math.min(h.max_iters, Math.ceil((h.max_epochs * order.batchesPerEpoch) / accum));
  const base = { editor, opts, groups, optimizers: groups.map((g) => new Adam([...g.params.values()], { lr: g.lr })), best: new Map<string, Tensor>(), order, accum, total };
  try {
    const resumed = resume(base);
    const loop: LoopState = resumed ?? { step: 0, best: null, sinceBest: 0, logLines: 0, seconds: 0, identity: opts.identity };
    const run: Run = { ...base, loop, log: new TrainLog(opts.outDir, resumed?.logLines ?? 0) };
    return loopUntilDone(run, resumed ? resumed.step : null);
  } finally {
    for (const o of base.optimizers) o.dispose();
    disposeAll(base.best);
  }
}

function stopReason(run: Run, started: number, before: number, stepsThisCall: number): StopReason | null {
  const h = run.opts.hparams;
  if (run.loop.step >= run.total) return 'max_iters';
  if (run.loop.best !== null && run.loop.sinceBest >= h.early_stop_patience) return 'early_stop';
  if (h.max_train_seconds > 0 && before + (Date.now() - started) / 1000 >= h.max_train_seconds) return 'max_train_seconds';
  if (run.opts.shouldStop?.() || (run.opts.stopAfter !== undefined && stepsThisCall >= run.opts.stopAfter)) return 'interrupted';
  return null;
}

function loopUntilDone(run: Run, resumedFrom: number | null): TrainSummary {
  const { opts, loop } = run;
  const h = opts.hparams;
  const started = Date.now();
  const before = loop.seconds; // seconds of earlier processes (save() updates loop.seconds)
  const seconds = () => before + (Date.now() - started) / 1000;
  const atStart = resumedFrom !== null ? stopReason(run, started, before, 0) : null;
  let stoppedBy: StopReason | null = atStart !== null && atStart !== 'interrupted' ? 'already_done' : null;
  let n = 0;
  while (stoppedBy === null && (stoppedBy = stopReason(run, started, before, n)) === null) {
    const factor = scheduleFactor(h.lr_scheduler, loop.step, run.total, h.warmup_steps);
    run.optimizers.forEach((o, i) => { o.lr = run.groups[i].lr * factor; });
    const lr = run.groups[0].lr * factor;
    const r = step(run);
    n++;
    if (loop.step % h.log_interval === 0 || loop.step === 1) run.log.write({ type: 'train', step: loop.step, lr, loss: r.loss, ...r.metrics, seconds: seconds() });
    const val = loop.step % h.val_interval === 0 || loop.step === run.total ? validate(run) : undefined;
    if (val) run.log.write({ type: 'val', step: loop.step, ...val, seconds: seconds() });
    opts.onProgress?.({ step: loop.step, total: run.total, loss: r.loss, lr, metrics: r.metrics, val, best: loop.best, seconds: seconds() });
    if (loop.step % h.model_save_pt === 0) save(run, seconds());
  }
  if (stoppedBy !== 'already_done') save(run, seconds());
  const summary: TrainSummary = {
    steps: loop.step, totalSteps: run.total, epochs: (loop.step * run.accum) / run.order.batchesPerEpoch, stoppedBy, best: loop.best,
    seconds: seconds(), peakRssMb: process.resourceUsage().maxRSS / 1024, resumedFrom, trainRecords: opts.train.length, valRecords: Math.min(opts.val.length, h.val_steps),
  };
  if (stoppedBy !== 'interrupted') summary.editorFile = writeEditor(run, summary);
  return summary;
}

/** Writes the editor with the best validated tensors (the current ones when no validation ran). */
function writeEditor(run: Run, summary: TrainSummary): string {
  const { best: _best, ...rest } = summary;
  const training = { ...rest, best: summary.best, hparams: run.opts.hparams };
  return saveTrainedEditor(run.opts.outDir, run.editor, { ...run.opts.manifest, meta: {}, training }, run.best.size ? run.best : undefined);
}
