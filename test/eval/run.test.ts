// The evaluation runner on kbgpt (FT-M: no statistics needed, about a second per edit): the run directory it writes,
// resuming, an aborted run leaving a valid partial summary, the sequential curve, other-task locality.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/models/index.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import { Editor } from '../../src/editor/editor.js';
import { readFlatCases } from '../../src/eval/cases.js';
import { evaluate, readCaseLines, type RunSummary } from '../../src/eval/run.js';
import { readMultipleChoice } from '../../src/eval/multiple-choice.js';
import { KBGPT } from '../data.js';
import { mergeShards, summarizeLines } from '../../src/eval/summarize.js';

describe('evaluation runs on kbgpt', () => {
  const model = loadModel(KBGPT);
  const tok = loadTokenizer(KBGPT);
  const cases = readFlatCases(join(KBGPT, 'edits.json')).filter((c) => c.flags.known_prompt).slice(40, 43);
  const hparams = { ...ftHparams(), num_steps: 10, lr: 1e-2, norm_constraint: 2e-2 };
  const newEditor = () => new Editor(model, tok, { method: 'FT-M', hparams });
  const root = mkdtempSync(join(tmpdir(), 'lmedit-run-'));

  test('single: run directory, per-protocol summaries before and after, metadata, resume skips finished cases', async () => {
    const out = join(root, 'single');
    const editor = newEditor();
    const s = await evaluate({ editor, cases, out, mode: 'single', meta: { name: 'ftm', modelFingerprint: 'fp-test' } });
    assert.deepEqual(readdirSync(out).sort(), ['cases.jsonl', 'pre.json', 'run.json', 'summary.json', 'summary.md']);
    assert.equal(s.run.complete, true);
    assert.equal(s.run.casesDone, 3);
    assert.equal(s.model.fingerprint, 'fp-test');
    assert.equal(s.method, 'FT-M');
    assert.ok(/^\d+\.\d+\.\d+/.test(s.lmedit.version));
    const rome = s.metrics['rome-counterfact-prob'];
    assert.equal(rome.pre.ES, 0, 'known facts: the new target loses before the edit');
    assert.ok(rome.post.ES >= 66, `FT-M with L∞ 2e-2 makes the new target win: ES ${rome.post.ES}`);
    const ee = s.metrics['easyedit-token'];
    assert.equal(ee.pre.locality, 100, 'before the edit every prediction is unchanged');
    assert.ok(ee.post.reliability > ee.pre.reliability);
    assert.ok(s.efficiency.secondsPerEdit > 0 && s.efficiency.peakTensorBytes > 0 && s.efficiency.peakRssBytes > 0);
    const lines = readCaseLines(join(out, 'cases.jsonl'));
    assert.deepEqual(lines.map((l) => l.caseId), cases.map((c) => c.caseId));
    assert.equal(lines[0].editsApplied, 1, 'single: only its own edit is applied when a case is measured');
    // the model is restored: the pre scores are reproduced
    const again = newEditor();
    const s2 = await evaluate({ editor: again, cases, out, mode: 'single', meta: { modelFingerprint: 'fp-test' } });
    assert.equal(again.history.length, 0, 'nothing left to edit');
    assert.equal(s2.metrics['rome-counterfact-prob'].post.ES, rome.post.ES);
    await assert.rejects(evaluate({ editor: newEditor(), cases, out, mode: 'batch', batchSize: 2 }), /holds another run.*setting: was .*"mode":"single"/);
  });

  test('shards of one run (workers that each took some cases) merge into the summary of the whole run', async () => {
    const meta = { modelFingerprint: 'fp-test', data: { file: 'edits.json' } };
    const whole = await evaluate({ editor: newEditor(), cases, out: join(root, 'shard-all'), mode: 'single', meta });
    await evaluate({ editor: newEditor(), cases: cases.slice(0, 2), out: join(root, 'shard-a'), mode: 'single', meta });
    await evaluate({ editor: newEditor(), cases: cases.slice(2), out: join(root, 'shard-b'), mode: 'single', meta });
    const lines = mergeShards([join(root, 'shard-a'), join(root, 'shard-b')]);
    assert.deepEqual(lines.map((l) => l.caseId), cases.map((c) => c.caseId));
    // the same numbers (pre-edit scores were batched differently: equal to rounding)
    const merged = summarizeLines({ lines, curve: [] }) as Record<string, Record<string, Record<string, number>>>;
    const all = whole.metrics as Record<string, Record<string, Record<string, number>>>;
    assert.deepEqual(Object.keys(merged), Object.keys(all));
    for (const [tag, m] of Object.entries(all)) {
      for (const w of ['pre', 'post']) {
        for (const [k, v] of Object.entries(m[w])) assert.ok(Math.abs(merged[tag][w][k] - v) < 1e-3, `${tag} ${w} ${k}: ${merged[tag][w][k]} vs ${v}`);
      }
    }
    assert.throws(() => mergeShards([join(root, 'shard-a'), join(root, 'shard-a')]), /case .* is also in an earlier shard/);
    await evaluate({ editor: new Editor(model, tok, { method: 'FT-M', hparams: { ...hparams, num_steps: 3 } }), cases: cases.slice(2), out: join(root, 'shard-c'), mode: 'single', meta });
    assert.throws(() => mergeShards([join(root, 'shard-a'), join(root, 'shard-c')]), /shard of another run .*hparams/);
  });

  test('an aborted run stops after the current edit with a valid partial summary; a rerun completes it', async () => {
    const out = join(root, 'abort');
    const controller = new AbortController();
    const s = await evaluate({ editor: newEditor(), cases, out, mode: 'single', signal: controller.signal, onProgress: () => controller.abort() });
    assert.equal(s.run.complete, false);
    assert.equal(s.run.casesDone, 1);
    const saved: RunSummary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    assert.equal(saved.run.complete, false);
    assert.match(readFileSync(join(out, 'summary.md'), 'utf8'), /partial run: 1 of 3 cases/);
    const editor = newEditor();
    const done = await evaluate({ editor, cases, out, mode: 'single' });
    assert.equal(done.run.complete, true);
    assert.equal(editor.history.length, 2, 'only the two unfinished cases were edited');
  });

  test('sequential: edits accumulate; the curve measures every edit so far; other-task accuracy before and after', async () => {
    const out = join(root, 'seq');
    const mc = join(root, 'mc.jsonl');
    // a multiple-choice task from facts the model knows about other people (the locality prompts)
    writeFileSync(mc, readFlatCases(join(KBGPT, 'edits.json')).slice(200, 210).map((c) => JSON.stringify({
      question: c.locality.neighborhood[0].prompt, choices: [c.locality.neighborhood[0].groundTruth, c.request.targetNew], label: 0,
    })).join('\n') + '\n');
    const s = await evaluate({ editor: newEditor(), cases, out, mode: 'sequential', curve: [1, 3], otherTask: { file: mc, items: readMultipleChoice(mc) } });
    assert.deepEqual(s.curve!.map((p) => p.edits), [1, 3]);
    assert.equal(s.curve![1].metrics['rome-counterfact-prob'].n, 3);
    // the subset whose subject was edited once so far (kbgpt's cases come two or three per person)
    const subjects = cases.map((c) => c.request.subject);
    const once = subjects.filter((x) => subjects.filter((y) => y === x).length === 1).length;
    assert.equal(s.curve![1].oneEditPerSubject?.n, once || undefined);
    assert.equal(s.curve![0].oneEditPerSubject?.n, 1, 'one edit: its subject was edited once');
    assert.deepEqual(readCaseLines(join(out, 'cases.jsonl')).map((l) => l.editsApplied), [1, 2, 3]);
    const other = s.metrics['other-task'];
    assert.equal(other.pre.n, 10);
    assert.ok(other.pre.accuracy >= 80, `kbgpt knows these: ${other.pre.accuracy}`);
    assert.ok(existsSync(join(out, 'curve.json')));
  });

  test('sequential: a stopped run resumes from its checkpoint and gives the same numbers as an uninterrupted one', async () => {
    const whole = join(root, 'seq-whole');
    const ref = await evaluate({ editor: newEditor(), cases, out: whole, mode: 'sequential', curve: [1, 3] });
    const out = join(root, 'seq-resume');
    const controller = new AbortController();
    const partial = await evaluate({ editor: newEditor(), cases, out, mode: 'sequential', curve: [1, 3], signal: controller.signal, onProgress: () => controller.abort() });
    assert.equal(partial.run.complete, false);
    assert.equal(partial.run.casesDone, 1);
    assert.ok(existsSync(join(out, 'state.safetensors')), 'the checkpoint is written');
    const editor = newEditor();
    const done = await evaluate({ editor, cases, out, mode: 'sequential', curve: [1, 3] });
    assert.equal(done.run.complete, true);
    assert.deepEqual(editor.history.map((r) => [r.kind ?? 'edit', r.requests.length]), [['state', 1], ['edit', 1], ['edit', 1]],
      'the first edit comes back from the checkpoint, the other two are computed');
    const lines = readCaseLines(join(out, 'cases.jsonl'));
    assert.deepEqual(lines.map((l) => [l.caseId, l.editsApplied]), readCaseLines(join(whole, 'cases.jsonl')).map((l) => [l.caseId, l.editsApplied]));
    assert.deepEqual(lines.map((l) => l.post), readCaseLines(join(whole, 'cases.jsonl')).map((l) => l.post), 'identical scores');
    const json = (x: unknown) => JSON.parse(JSON.stringify(x));
    assert.deepEqual(json(done.curve), json(ref.curve), 'the same curve (its first point read back from curve.json)');
    assert.deepEqual(done.metrics, ref.metrics);
    // other options, or no checkpoint: refused with the reason
    await assert.rejects(evaluate({ editor: newEditor(), cases, out, mode: 'sequential', batchSize: 2 }), /holds another run.*setting: was \{"batchSize":1/);
    await assert.rejects(evaluate({ editor: newEditor(), cases: cases.slice(1), out, mode: 'sequential' }), /holds another run.*data: was/);
    rmSync(join(out, 'state.safetensors'));
    await assert.rejects(evaluate({ editor: newEditor(), cases, out, mode: 'sequential' }), /state\.safetensors does not/);
  });

  test('multi-edit cases (MQuAKE-style): the additional edits are applied with the case, in the single setting only', async () => {
    const [a, b] = cases;
    const joint = { ...a, caseId: 'joint', additionalRequests: [b.request], rephrases: [], portability: {} };
    const s = await evaluate({ editor: newEditor(), cases: [joint], out: join(root, 'multi'), mode: 'single' });
    const [line] = readCaseLines(join(root, 'multi', 'cases.jsonl'));
    assert.equal(line.editsApplied, 2, 'both rewrites applied when the case was measured');
    assert.equal(s.metrics['rome-counterfact-prob'].post.ES, 100);
    await assert.rejects(evaluate({ editor: newEditor(), cases: [joint], out: join(root, 'multi-b'), mode: 'batch' }), /only the single setting/);
    model.dispose();
  });
});

function ftHparams(): Record<string, unknown> {
  return { alg_name: 'FT-M', layers: [0], batch_size: 1, max_length: 40, weight_decay: 0, kl_factor: 0, objective_optimization: 'target_new', rewrite_module_tmp: 'transformer.h.{}.mlp.c_proj' };
}
