// The examples in examples/ stay runnable and print what their comments promise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FACTGPT, KBGPT, REPO_ROOT } from './data.js';

test('examples/factgpt-trace.ts answers the question and traces the MLP', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'examples/factgpt-trace.ts'), FACTGPT], { encoding: 'utf8', cwd: REPO_ROOT });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /The mother tongue of Danielle Darrieux is → French/);
  assert.match(r.stdout, /layer 2 MLP at "ux": key norm 3.25\d \(\d+ of 1024 units > 0\.1\), value norm \d+\.\d+/);
  assert.match(r.stdout, /next token: " French"/);
});

test('examples/evaluate-kbgpt.ts evaluates FT-M on five known facts and reports the run', () => {
  const out = mkdtempSync(join(tmpdir(), 'lmedit-example-'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'examples/evaluate-kbgpt.ts'), KBGPT, out], { encoding: 'utf8', cwd: REPO_ROOT });
  assert.equal(r.status, 0, r.stderr);
  const m = /efficacy ES 0 → (\d+); reliability 0\.0 → (\d+\.\d)/.exec(r.stdout);
  assert.ok(m && Number(m[1]) >= 60 && Number(m[2]) >= 60, r.stdout);
  assert.ok(existsSync(join(out, 'report', 'report.md')));
});

test('examples/train-serac-kbgpt.ts trains an editor through the library and edits with it', () => {
  const out = mkdtempSync(join(tmpdir(), 'lmedit-example-serac-'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'examples/train-serac-kbgpt.ts'), KBGPT, out], { encoding: 'utf8', cwd: REPO_ROOT });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /trained 6 steps in [\d.]+ s → .*editor\.safetensors/);
  assert.match(r.stdout, /before: Roderick Zielinski was born in the city of → Warsaw/);
  assert.match(r.stdout, /after \(6-step editor\): Roderick Zielinski was born in the city of → \S+/);
  assert.ok(existsSync(join(out, 'editor.safetensors')));
});
