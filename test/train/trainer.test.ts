// The trainer (src/train) on a SCRIPTED FAKE editor (scripted-linear-editor.ts: least squares, not an editing method):
// training lowers the loss and writes the editor, log and checkpoint; an interrupted run resumed — in-process, and
// after SIGKILL of a child process — ends with bit-identical weights, Adam state and log; early stopping; maximised
// groups ascend; a checkpoint of another run is refused; batch order is a seeded function of the step.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainEditor, type TrainOptions } from '../../src/train/trainer.js';
import { BatchOrder, permutation, scheduleFactor } from '../../src/train/batches.js';
import { readCheckpoint, disposeCheckpoint } from '../../src/train/checkpoint.js';
import { readTrainLog } from '../../src/train/log.js';
import { EDITOR_FILE, EDITOR_FORMAT } from '../../src/methods/trained.js';
import { readTensorFile } from '../../src/io/tensor-file.js';
import { ScriptedLinearEditor, hparams, records } from './scripted-linear-editor.js';
import type { TrainingHparams } from '../../src/methods/trained-hparams.js';

const manifest = { method: 'TOY', hparams: {}, base: { fingerprint: 'none', modelType: 'none', source: 'none' } };

function opts(outDir: string, over: Partial<TrainingHparams> = {}, extra: Partial<TrainOptions> = {}): TrainOptions {
  return { train: records(40), val: records(10, 100), hparams: hparams(over), outDir, identity: 'toy', manifest, ...extra };
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'lmedit-train-'));
}

function weights(e: ScriptedLinearEditor): number[] {
  return [...e.w.toFlatArray(), ...e.seen.toFlatArray()];
}

function logWithoutTimes(dir: string): unknown[] {
  return readTrainLog(join(dir, 'train-log.jsonl')).map(({ seconds: _s, ...rest }) => rest);
}

describe('trainer', () => {
  test('training lowers the loss, validates, and writes the editor, log and checkpoint', () => {
    const dir = tmp();
    try {
      const e = new ScriptedLinearEditor(1);
      const s = trainEditor(e, opts(dir));
      assert.equal(s.stoppedBy, 'max_iters');
      assert.equal(s.steps, 60);
      const log = readTrainLog(join(dir, 'train-log.jsonl'));
      const train = log.filter((l) => l.type === 'train');
      assert.ok((train.at(-1)!.loss as number) < (train[0].loss as number) / 5, `loss ${train[0].loss} → ${train.at(-1)!.loss}`);
      assert.equal(log.filter((l) => l.type === 'val').length, 6);
      assert.ok(s.best && s.best.value > -0.5, `best validation ${s.best?.value}`);
      const ed = readTensorFile(join(dir, EDITOR_FILE), EDITOR_FORMAT);
      assert.deepEqual([...ed.tensors.keys()].sort(), ['seen', 'w']);
      assert.equal((ed.manifest.training as { steps: number }).steps, 60);
      for (const t of ed.tensors.values()) t.dispose();
      assert.ok(existsSync(join(dir, 'checkpoint.safetensors')));
      e.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an interrupted run, resumed, ends bit-identical to an uninterrupted one (weights, buffers, Adam, log)', () => {
    const a = tmp();
    const b = tmp();
    try {
      const full = new ScriptedLinearEditor(3);
      trainEditor(full, opts(a, { model_save_pt: 7 }));
      // stop at step 23: the last checkpoint is at step 21, so steps 22-23 are lost and redone
      const part = new ScriptedLinearEditor(3);
      const first = trainEditor(part, opts(b, { model_save_pt: 7 }, { stopAfter: 23 }));
      assert.equal(first.stoppedBy, 'interrupted');
      const resumed = new ScriptedLinearEditor(99); // another init: everything must come from the checkpoint
      const second = trainEditor(resumed, opts(b, { model_save_pt: 7 }));
      assert.equal(second.resumedFrom, 23);
      assert.deepEqual(weights(resumed), weights(full));
      const ca = readCheckpoint(a)!;
      const cb = readCheckpoint(b)!;
      const adam = (c: typeof ca) => c.optimizers[0].params[0].buffers.expAvgSq.toFlatArray();
      assert.deepEqual(adam(cb), adam(ca));
      assert.deepEqual(cb.loop.best, ca.loop.best);
      disposeCheckpoint(ca);
      disposeCheckpoint(cb);
      assert.deepEqual(logWithoutTimes(b), logWithoutTimes(a));
      [full, part, resumed].forEach((e) => e.dispose());
    } finally {
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  });

  test('kill -9 mid-run, then resume: the same final weights as an uninterrupted run', async () => {
    const a = tmp();
    const b = tmp();
    try {
      const full = new ScriptedLinearEditor(7);
      trainEditor(full, opts(a));
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'train-child.ts'), b, '15'], { stdio: 'ignore' });
      let killedAt = -1;
      await new Promise<void>((resolve, reject) => {
        const poll = setInterval(() => {
          let step = -1;
          try {
            const c = readCheckpoint(b);
            if (c) { step = c.loop.step; disposeCheckpoint(c); }
          } catch { /* mid-rename: try again */ }
          if (step >= 15) { killedAt = step; child.kill('SIGKILL'); clearInterval(poll); }
        }, 20);
        child.on('exit', () => { clearInterval(poll); resolve(); });
        child.on('error', reject);
      });
      assert.ok(killedAt >= 15 && killedAt < 60, `killed after checkpoint step ${killedAt} (must be mid-run)`);
      assert.ok(!existsSync(join(b, EDITOR_FILE)), 'a killed run has written no editor');
      const resumed = new ScriptedLinearEditor(7);
      const s = trainEditor(resumed, opts(b));
      assert.ok(s.resumedFrom !== null && s.resumedFrom >= killedAt);
      assert.deepEqual(weights(resumed), weights(full));
      assert.deepEqual(logWithoutTimes(b), logWithoutTimes(a));
      full.dispose();
      resumed.dispose();
    } finally {
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  });

  test('training seconds are wall time, not summed again at every checkpoint', () => {
    const dir = tmp();
    try {
      const e = new ScriptedLinearEditor(8);
      e.delayMs = 5;
      const t0 = Date.now();
      const s = trainEditor(e, opts(dir, { model_save_pt: 1, max_iters: 40 }));
      const wall = (Date.now() - t0) / 1000;
      assert.ok(s.seconds <= wall + 0.01 && s.seconds > 0.2, `seconds ${s.seconds} vs wall ${wall}`);
      e.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('early stopping: no improvement for early_stop_patience validations stops, and the best tensors are saved', () => {
    const dir = tmp();
    try {
      // lr so large that the loss diverges upward after the first validation's best
      const e = new ScriptedLinearEditor(2, 3.0);
      const s = trainEditor(e, opts(dir, { early_stop_patience: 2, val_interval: 5, max_iters: 200, grad_clip: 1e6 }));
      assert.equal(s.stoppedBy, 'early_stop');
      assert.ok(s.steps < 200 && s.best !== null);
      const val = readTrainLog(join(dir, 'train-log.jsonl')).filter((l) => l.type === 'val');
      assert.equal(val.at(-1)!.step, s.best!.step + 2 * 5, 'stops two validations after the best');
      const ed = readTensorFile(join(dir, EDITOR_FILE), EDITOR_FORMAT);
      const check = new ScriptedLinearEditor(0);
      check.w.requiresGrad_(false).copy_(ed.tensors.get('w')!);
      assert.ok(Math.abs(check.validate(records(10, 100)).edit_success - s.best!.value) < 1e-6, 'the saved editor is the best one');
      for (const t of ed.tensors.values()) t.dispose();
      [e, check].forEach((x) => x.dispose());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a maximised group ascends its gradient (KE\'s Lagrange multipliers)', () => {
    const dir = tmp();
    try {
      const e = new ScriptedLinearEditor(4, 0.05, true);
      trainEditor(e, opts(dir, { max_iters: 10 }));
      assert.ok(e.ascent.item() > 0.5, `multiplier ${e.ascent.item()} grew`);
      e.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a checkpoint of another run is refused, naming the file', () => {
    const dir = tmp();
    try {
      const e = new ScriptedLinearEditor(5);
      trainEditor(e, opts(dir, {}, { stopAfter: 5 }));
      assert.throws(() => trainEditor(e, opts(dir, {}, { identity: 'other' })), /checkpoint\.safetensors: a checkpoint of a different training run/);
      e.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('batch order: seeded per epoch, covers every record once per epoch; schedules', () => {
    const recs = records(10);
    const o = new BatchOrder(recs, 3, 11);
    assert.equal(o.batchesPerEpoch, 4);
    const epoch0 = [0, 1, 2, 3].flatMap((k) => o.batch(k).map((r) => r.index)).sort((x, y) => x - y);
    assert.deepEqual(epoch0, recs.map((r) => r.index));
    assert.notDeepEqual([4, 5, 6, 7].flatMap((k) => o.batch(k).map((r) => r.index)), [0, 1, 2, 3].flatMap((k) => o.batch(k).map((r) => r.index)));
    assert.deepEqual(new BatchOrder(recs, 3, 11).batch(5), o.batch(5));
    assert.deepEqual(permutation(5, 1), permutation(5, 1));
    assert.equal(scheduleFactor('constant', 50, 100, 0), 1);
    assert.equal(scheduleFactor('linear', 100, 100, 0), 0);
    assert.ok(Math.abs(scheduleFactor('cosine', 50, 100, 0) - 0.5) < 1e-12);
    assert.ok(scheduleFactor('constant', 0, 100, 9) < 0.2);
    assert.throws(() => scheduleFactor('step', 0, 1, 0), /lr_scheduler 'step'/);
  });

  test('bad input: no validation records, another optimiser, a non-finite loss', () => {
    const dir = tmp();
    try {
      const e = new ScriptedLinearEditor(6);
      assert.throws(() => trainEditor(e, { ...opts(dir), val: [] }), /no validation records/);
      assert.throws(() => trainEditor(e, opts(dir, { opt: 'SGD' })), /opt 'SGD' is not supported/);
      const nan = new ScriptedLinearEditor(6, 1e30);
      assert.throws(() => trainEditor(nan, opts(dir, { grad_clip: 1e30 })), /the loss is (NaN|Infinity) at step [23] \(batch \d+\); lower lr/);
      [e, nan].forEach((x) => x.dispose());
      assert.ok(readFileSync(join(dir, 'train-log.jsonl'), 'utf8').length > 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
