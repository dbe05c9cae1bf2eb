// scripts/train-t5-kb.ts on a tiny T5 (d 16, 1 + 1 blocks): a run stopped after step 3 and continued from its
// checkpoint ends with exactly the weights of an uninterrupted run; the output loads as a T5 with the kbgpt
// tokenizer; a finished output is not overwritten by a rerun.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadT5Model } from '../../src/models/index.js';
import { KBGPT, REPO_ROOT } from '../data.js';

const root = mkdtempSync(join(tmpdir(), 'lmedit-t5-train-'));
after(() => rmSync(root, { recursive: true, force: true }));

const TINY = ['--d', '16', '--layers', '1', '--heads', '2', '--d-ff', '32', '--steps', '6', '--batch', '4', '--eval-every', '6', '--eval-n', '8',
  '--checkpoint-every', '3', '--threads', '1', '--kb', KBGPT];

function train(out: string, extra: string[] = []): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'train-t5-kb.ts'), ...TINY, '--out', out, ...extra], {
    cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test('stopped at step 3 and resumed, the run ends with the weights of an uninterrupted one', () => {
  const a = join(root, 'a');
  const b = join(root, 'b');
  assert.equal(train(a).status, 0);
  const stopped = train(b, ['--stop-at', '3']);
  assert.equal(stopped.status, 0, stopped.output);
  assert.match(stopped.output, /stopped after step 3/);
  assert.ok(existsSync(join(b, 'checkpoint.safetensors')));
  const resumed = train(b);
  assert.equal(resumed.status, 0, resumed.output);
  assert.match(resumed.output, /resuming after step 3/);
  assert.ok(!existsSync(join(b, 'checkpoint.safetensors')), 'the finished model directory has no checkpoint');
  assert.ok(readFileSync(join(a, 'model.safetensors')).equals(readFileSync(join(b, 'model.safetensors'))), 'identical weights');
  assert.deepEqual(JSON.parse(readFileSync(join(b, 'train-log.json'), 'utf8')), JSON.parse(readFileSync(join(a, 'train-log.json'), 'utf8')));
  const m = loadT5Model(b, { onWarning: () => {} });
  try {
    assert.equal(m.config.d, 16);
    assert.ok(existsSync(join(b, 'vocab.json')), 'the kbgpt tokenizer travels with the model');
  } finally {
    m.dispose();
  }
  const again = train(a);
  assert.notEqual(again.status, 0);
  assert.match(again.output, /already holds a trained model/);
});
