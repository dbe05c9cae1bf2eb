// Run-directory guarantees, each reproducing a failure found by probing the CLI (docs/reliability.md):
//   - a torn last line of cases.jsonl (power loss, full disk) used to make a run impossible to finish: it is cut and
//     its case redone;
//   - a rerun with another model, data, method, hparams, setting or seed used to resume into the old directory and
//     report the old numbers: it is refused, naming what differs;
//   - --out used to overwrite a user's own files: only new, empty or lmedit-made directories are written;
//   - a sequential run killed with SIGKILL and rerun gives exactly the numbers of an uninterrupted run (ROME: its
//     context templates are sampled on the unedited model after a resume too).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Editor } from '../../src/editor/editor.js';
import { evaluate, readCaseLines } from '../../src/eval/run.js';
import { loadCases } from '../../src/eval/datasets/index.js';
import type { CausalLM } from '../../src/models/index.js';
import type { Tokenizer } from '../../src/io/tokenizer.js';
import { readHparamsFile } from '../../src/methods/hparams.js';
import { KBGPT, REPO_ROOT } from '../data.js';
import { suiteModel } from '../suite-model.js';

const ftHparams = () => ({ ...readHparamsFile(join(REPO_ROOT, 'hparams/FT-M/kbgpt.yaml')).raw, num_steps: 5, lr: 1e-2, norm_constraint: 2e-2 });

describe('run directories on kbgpt', () => {
  let model: CausalLM;
  let tok: Tokenizer;
  const { cases } = loadCases(join(KBGPT, 'edits.json'), { known: true, n: 3 });
  const root = suiteModel(KBGPT, 'lmedit-reliability-', (m, t) => {
    model = m;
    tok = t;
  });
  const editor = (h: Record<string, unknown> = ftHparams(), seed = 0) => new Editor(model, tok, { method: 'FT-M', hparams: h, seed });

  test('a torn last line of cases.jsonl is cut and its case redone', async () => {
    const out = join(root, 'torn');
    const controller = new AbortController();
    await evaluate({ editor: editor(), cases, out, mode: 'single', signal: controller.signal, onProgress: (d) => d === 2 && controller.abort() });
    const file = join(out, 'cases.jsonl');
    assert.equal(readCaseLines(file).length, 2);
    appendFileSync(file, '{"caseId": 7, "method": "FT-M", "pre": {"rewr'); // the write of the third line was cut off
    const warnings: string[] = [];
    const s = await evaluate({ editor: editor(), cases, out, mode: 'single', onWarning: (m) => warnings.push(m) });
    assert.equal(s.run.complete, true);
    assert.match(warnings.join('\n'), /cases\.jsonl: the last line \(\d+ characters\) has no end .*cut it, its case will be redone/);
    const text = readFileSync(file, 'utf8');
    assert.ok(text.endsWith('\n'));
    assert.deepEqual(text.trim().split('\n').map((l) => JSON.parse(l).caseId), cases.map((c) => c.caseId), 'every line parses; each case once');
    // a bad line that is not the last is still an error naming it
    writeFileSync(file, 'not json\n' + text);
    await assert.rejects(evaluate({ editor: editor(), cases, out, mode: 'single' }), /cases\.jsonl: line 1 is not valid JSON/);
  });

  test('a rerun that is not the same run is refused, naming what differs', async () => {
    const out = join(root, 'identity');
    const meta = { modelFingerprint: 'fp-a', data: { file: 'edits.json', n: 3 } };
    await evaluate({ editor: editor(), cases: cases.slice(0, 1), out, mode: 'single', meta });
    const rerun = (o: object) => evaluate({ editor: editor(), cases: cases.slice(0, 1), out, mode: 'single', meta, ...o });
    await assert.rejects(rerun({ editor: editor({ ...ftHparams(), num_steps: 6 }) }), /holds another run.*hparams: was/);
    await assert.rejects(rerun({ meta: { ...meta, modelFingerprint: 'fp-b' } }), /holds another run.*model: was "fp-a", now "fp-b"/);
    await assert.rejects(rerun({ meta: { ...meta, data: { file: 'other.json', n: 3 } } }), /holds another run.*data: was/);
    await assert.rejects(rerun({ editor: editor(ftHparams(), 5) }), /holds another run.*seeds: was/);
    await assert.rejects(rerun({ mode: 'batch', batchSize: 1 }), /holds another run.*setting: was/);
    const same = editor();
    await rerun({ editor: same });
    assert.equal(same.history.length, 0, 'the same run resumes: nothing left to edit');
  });

  test('--out never writes into a directory lmedit did not make', async () => {
    const out = join(root, 'users-own');
    mkdirSync(out);
    writeFileSync(join(out, 'summary.md'), 'my notes\n');
    await assert.rejects(evaluate({ editor: editor(), cases, out, mode: 'single' }), /is not empty and was not made by lmedit eval/);
    assert.equal(readFileSync(join(out, 'summary.md'), 'utf8'), 'my notes\n', 'the user\'s file is untouched');
    assert.ok(!existsSync(join(out, 'cases.jsonl')));
    writeFileSync(join(root, 'a-file'), 'x');
    await assert.rejects(evaluate({ editor: editor(), cases, out: join(root, 'a-file'), mode: 'single' }), /exists and is not a directory/);
  });

  test('a case whose probe overflows the context is named before any edit; --skip-invalid drops it and the run completes', () => {
    const data = JSON.parse(readFileSync(join(KBGPT, 'edits.json'), 'utf8'));
    const long = { ...data.cases[1], case_id: 'long', locality_prompt: `${'and then '.repeat(70)}Jasper Castellano's place of birth is` };
    const file = join(root, 'overflow.json');
    writeFileSync(file, JSON.stringify({ cases: [data.cases[0], long] }));
    const run = (out: string, ...extra: string[]) => spawnSync(process.execPath, [
      '--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'eval', '--model', KBGPT, '--data', file, '--method', 'FT-M', '--set', 'num_steps=1', '--out', out, ...extra,
    ], { encoding: 'utf8', cwd: REPO_ROOT, env: { ...process.env, LMEDIT_NUM_THREADS: '1' } });
    const refused = run(join(root, 'overflow-a'));
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /1 case\(s\) do not fit the model's context \(case long locality\.neighborhood\[0\]: \d+ tokens, more than the model's 128 positions\); drop them with --skip-invalid/);
    assert.ok(!existsSync(join(root, 'overflow-a', 'cases.jsonl')), 'nothing was edited');
    const skipped = run(join(root, 'overflow-b'), '--skip-invalid');
    assert.equal(skipped.status, 0, skipped.stderr);
    assert.match(skipped.stderr, /skipped 1 case\(s\) that do not fit the model's 128 positions/);
    assert.deepEqual(readCaseLines(join(root, 'overflow-b', 'cases.jsonl')).map((l) => l.caseId), [0]);
  });

  test('sequential ROME killed with SIGKILL mid-run and rerun equals an uninterrupted run, bit for bit', async () => {
    const args = (out: string) => [
      '--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'eval', '--model', KBGPT, '--data', join(KBGPT, 'edits.json'), '--known', '--n', '4',
      '--method', 'ROME', '--mode', 'sequential', '--set', 'v_num_grad_steps=3', '--set', 'mom2_adjustment=false', '--out', out,
    ];
    const env = { ...process.env, LMEDIT_NUM_THREADS: '1' };
    const whole = join(root, 'rome-whole');
    const w = spawnSync(process.execPath, args(whole), { encoding: 'utf8', cwd: REPO_ROOT, env });
    assert.equal(w.status, 0, w.stderr);
    const killed = join(root, 'rome-killed');
    const how = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, args(killed), { cwd: REPO_ROOT, env, stdio: 'ignore' });
      const timer = setInterval(() => {
        if (existsSync(join(killed, 'state.safetensors')) && readCaseLines(join(killed, 'cases.jsonl')).length >= 2) {
          child.kill('SIGKILL');
          clearInterval(timer);
        }
      }, 50);
      child.on('exit', (code, signal) => {
        clearInterval(timer);
        if (signal === 'SIGKILL' || code === 0) resolve(signal ?? `exit ${code}`);
        else reject(new Error(`eval exited ${code} ${signal}`));
      });
    });
    const partial = readCaseLines(join(killed, 'cases.jsonl')).length;
    const r = spawnSync(process.execPath, args(killed), { encoding: 'utf8', cwd: REPO_ROOT, env });
    assert.equal(r.status, 0, r.stderr);
    const a = readCaseLines(join(whole, 'cases.jsonl'));
    const b = readCaseLines(join(killed, 'cases.jsonl'));
    assert.equal(how, 'SIGKILL', 'the run was killed before it finished');
    assert.ok(partial >= 2 && partial < 4, `killed after ${partial} of 4 cases`);
    assert.deepEqual(b.map((l) => [l.caseId, l.editsApplied]), a.map((l) => [l.caseId, l.editsApplied]));
    assert.deepEqual(b.map((l) => l.post), a.map((l) => l.post), 'identical probe scores after the resume');
    assert.deepEqual(JSON.parse(readFileSync(join(killed, 'summary.json'), 'utf8')).metrics, JSON.parse(readFileSync(join(whole, 'summary.json'), 'utf8')).metrics);
  });
});
