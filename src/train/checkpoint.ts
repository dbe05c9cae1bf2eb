// The trainer's resumable checkpoint (<out>/checkpoint.safetensors): the editor's tensors, the best tensors so far,
// every Adam's state and the loop's counters. Written atomically every model_save_pt steps, so a `kill -9` loses at
// most the steps since the last one, and resuming from it reproduces the uninterrupted run exactly (test/train).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tensor } from '../tensor/index.js';
import type { OptimizerState } from '../tensor/optim.js';
import { readTensorFile, writeTensorFile } from '../io/tensor-file.js';

export const CHECKPOINT_FORMAT = 'lmedit-train-checkpoint';
export const CHECKPOINT_FILE = 'checkpoint.safetensors';

export interface BestSoFar {
  step: number;
  value: number;
  metrics: Record<string, number>;
}

export interface LoopState {
  /** Optimiser steps done. */
  step: number;
  best: BestSoFar | null;
  /** Validations since the best one. */
  sinceBest: number;
  /** Lines of train-log.jsonl written up to this step (a resumed run truncates the log there). */
  logLines: number;
  /** Training seconds before this process (summed across resumes). */
  seconds: number;
  /** What the run is: a resumed run must be the same run (method, hparams, data). */
  identity: string;
}

export interface Checkpoint {
  loop: LoopState;
  tensors: Map<string, Tensor>;
  best: Map<string, Tensor>;
  optimizers: OptimizerState[];
}

export function checkpointPath(outDir: string): string {
  return path.join(outDir, CHECKPOINT_FILE);
}

/** Writes the checkpoint atomically (the tensors are read, not taken). */
export function writeCheckpoint(outDir: string, c: Checkpoint): void {
  const all = new Map<string, Tensor>();
  for (const [n, t] of c.tensors) all.set(`editor/${n}`, t);
  for (const [n, t] of c.best) all.set(`best/${n}`, t);
  const optimizers = c.optimizers.map((o, g) => ({
    steps: o.steps,
    params: o.params.map((p, i) => {
      for (const [b, t] of Object.entries(p.buffers)) all.set(`optim/${g}/${i}/${b}`, t);
      return { step: p.step, buffers: Object.keys(p.buffers) };
    }),
  }));
  fs.mkdirSync(outDir, { recursive: true });
  writeTensorFile(checkpointPath(outDir), CHECKPOINT_FORMAT, { loop: c.loop, optimizers }, all);
}

/** Reads a checkpoint (null when there is none); the caller disposes its tensors. */
export function readCheckpoint(outDir: string): Checkpoint | null {
  const file = checkpointPath(outDir);
  if (!fs.existsSync(file)) return null;
  const read = readTensorFile(file, CHECKPOINT_FORMAT);
  const m = read.manifest as { loop: LoopState; optimizers: { steps: number; params: { step: number; buffers: string[] }[] }[] };
  if (!m.loop || !Array.isArray(m.optimizers)) throw new Error(`${file}: not a trainer checkpoint (no loop state)`);
  const take = (name: string): Tensor => {
    const t = read.tensors.get(name);
    if (!t) throw new Error(`${file}: tensor '${name}' is missing`);
    return t;
  };
  const tensors = new Map<string, Tensor>();
  const best = new Map<string, Tensor>();
  for (const [n, t] of read.tensors) {
    if (n.startsWith('editor/')) tensors.set(n.slice(7), t);
    else if (n.startsWith('best/')) best.set(n.slice(5), t);
  }
  const optimizers: OptimizerState[] = m.optimizers.map((o, g) => ({
    steps: o.steps,
    params: o.params.map((p, i) => ({ step: p.step, buffers: Object.fromEntries(p.buffers.map((b) => [b, take(`optim/${g}/${i}/${b}`)])) })),
  }));
  return { loop: m.loop, tensors, best, optimizers };
}

export function disposeCheckpoint(c: Checkpoint): void {
  for (const t of c.tensors.values()) t.dispose();
  for (const t of c.best.values()) t.dispose();
  for (const o of c.optimizers) for (const p of o.params) for (const t of Object.values(p.buffers)) t.dispose();
}
