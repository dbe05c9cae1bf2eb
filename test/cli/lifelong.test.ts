// `lmedit lifelong` as a user runs it, on kbgpt with FT-M over 4 known cases (curve 2, 4): one resumable sequential
// run directory per method, other-attribute probes from kb.json, lifelong.md with the curve rows and the efficiency
// table, the plots; a rerun finds the runs finished and only rebuilds; bad options are refused before any work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KBGPT, REPO_ROOT } from '../data.js';

function lmedit(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], { encoding: 'utf8', cwd: REPO_ROOT });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('lifelong: per-method sequential runs, other-attribute locality, the table and plots; reruns resume', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lmedit-lifelong-'));
  try {
    const out = join(dir, 'll');
    const args = ['lifelong', '--model', KBGPT, '--data', join(KBGPT, 'edits.json'), '--kb', join(KBGPT, 'kb.json'), '--methods', 'FT-M',
      '--n', '4', '--curve', '2,4', '--out', out];
    const r = lmedit(...args);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(readFileSync(join(out, 'ft-m', 'summary.json'), 'utf8'));
    assert.equal(summary.setting.mode, 'sequential');
    assert.deepEqual(summary.curve.map((p: { edits: number }) => p.edits), [2, 4]);
    // the other-attribute probes were merged and measured
    assert.ok(summary.curve[1].metrics['easyedit-token']['locality.other_attribute'] !== undefined);
    const addons = JSON.parse(readFileSync(join(out, 'other-attribute.json'), 'utf8'));
    assert.equal(addons.length, 4);
    // FT-M keeps no keys: no warnings, but the losses are still counted
    assert.equal(summary.curve[1].conflicts.warnings.flagged, 0);
    const md = readFileSync(join(out, 'lifelong.md'), 'utf8');
    assert.match(md, /\| FT-M \| 2 \|/);
    assert.match(md, /\| FT-M \| 4 \|/);
    assert.match(md, /parameters added/);
    assert.ok(existsSync(join(out, 'report', 'sequential_rome-counterfact-prob_kbgpt.svg')));
    // a rerun resumes the finished run (nothing left to edit) and rebuilds the tables
    const again = lmedit(...args);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /\| FT-M \| 4 \|/);
    const only = lmedit(...args, '--report-only');
    assert.equal(only.code, 0, only.stderr);
    // --merge: the committed 500-edit table's other methods join; FT-M keeps this run's rows, not the file's
    const prior = join(REPO_ROOT, 'docs/results/lifelong/lifelong.json');
    const merged = lmedit(...args, '--report-only', '--merge', prior);
    assert.equal(merged.code, 0, merged.stderr);
    const mmd = readFileSync(join(out, 'lifelong.md'), 'utf8');
    assert.match(mmd, /\| GRACE \| 500 \|/);
    assert.match(mmd, /\| FT-M \| 4 \|/);
    assert.doesNotMatch(mmd, /\| FT-M \| 500 \|/);
    assert.match(mmd, /Rows of GRACE, .*: from `.*lifelong\.json`/);
    const svg = readFileSync(join(out, 'report', 'sequential_easyedit-token_kbgpt.svg'), 'utf8');
    assert.match(svg, /GRACE Reliability/);
    assert.match(svg, /FT-M Reliability/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lifelong refuses an unknown method, --hparams for a method it does not run and a malformed --merge file, before any work', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lmedit-lifelong-'));
  try {
    const base = ['lifelong', '--model', KBGPT, '--data', join(KBGPT, 'edits.json'), '--out', join(dir, 'x')];
    const bad = lmedit(...base, '--methods', 'ROME,NOPE');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown editing method 'NOPE'/);
    const h = lmedit(...base, '--methods', 'ROME', '--hparams', 'GRACE=hparams/GRACE/kbgpt.yaml');
    assert.equal(h.code, 2);
    assert.match(h.stderr, /GRACE, which is not among --methods/);
    const notTable = join(dir, 'not-a-table.json');
    writeFileSync(notTable, JSON.stringify({ rows: [{ method: 'ROME' }], efficiency: [] }));
    const m = lmedit(...base, '--methods', 'ROME', '--merge', notTable);
    assert.equal(m.code, 2);
    assert.match(m.stderr, /not-a-table\.json: rows\[0\] needs a string 'method' and an integer 'edits'/);
    assert.ok(!existsSync(join(dir, 'x')), 'nothing was written');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
