// The ROME/MEMIT probability protocol on hand-computable scores, the flat case reader's errors, and the three
// editing settings measured on kbgpt (single restores after each edit, sequential accumulates, batch restores per chunk).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caseMetrics, scoreCases, summarize } from '../../src/eval/rome-protocol.js';
import { readFlatCases } from '../../src/eval/cases.js';
import { runSetting } from '../../src/editor/settings.js';
import { Editor } from '../../src/editor/editor.js';
import { FileSecondMoments } from '../../src/stats/index.js';
import { loadModel } from '../../src/models/index.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import { GOLDEN, KBGPT, REPO_ROOT } from '../data.js';

describe('ROME probability protocol', () => {
  test('success is a lower mean NLL for the new target; magnitudes are probability differences', () => {
    const m = caseMetrics({
      prompt: { newNll: Math.log(2), trueNll: Math.log(4) }, // P_new 0.5, P_true 0.25
      rephrase: { newNll: Math.log(4), trueNll: Math.log(2) },
      neighbour: { newNll: Math.log(10), trueNll: Math.log(2) }, // the neighbour keeps its answer
      portability: {},
    });
    assert.equal(m.efficacy, true);
    assert.ok(Math.abs(m.efficacyMagnitude - 0.25) < 1e-12);
    assert.equal(m.paraphrase, false);
    assert.equal(m.neighbourhood, true);
    assert.ok(Math.abs(m.neighbourhoodMagnitude! - 0.4) < 1e-12);
  });

  test('summary: means x100 and S = harmonic mean of ES, PS, NS', () => {
    const s = summarize([
      { efficacy: true, efficacyMagnitude: 0.5, paraphrase: true, paraphraseMagnitude: 0.1, neighbourhood: true, neighbourhoodMagnitude: 0.2 },
      { efficacy: true, efficacyMagnitude: 0.3, paraphrase: false, paraphraseMagnitude: -0.1, neighbourhood: false, neighbourhoodMagnitude: -0.2 },
    ]);
    assert.equal(s.ES, 100);
    assert.equal(s.PS, 50);
    assert.equal(s.NS, 50);
    assert.ok(Math.abs(s.S - 3 / (1 / 100 + 1 / 50 + 1 / 50)) < 1e-9);
    assert.ok(Math.abs(s.EM - 40) < 1e-9);
  });

  test('case files: errors name the file, record and field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lmedit-cases-'));
    const f = join(dir, 'c.json');
    writeFileSync(f, JSON.stringify([{ prompt: 'a', subject: 'a', target_new: 'b', ground_truth: 'c' }, { prompt: 'x', subject: 'x', ground_truth: 'c' }]));
    assert.throws(() => readFlatCases(f), new RegExp(`${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: record 1: field 'target_new' is missing`));
    writeFileSync(f, '{"cases": 3}');
    assert.throws(() => readFlatCases(f), /expected a list of records/);
  });
});

describe('editing settings on kbgpt', () => {
  const model = loadModel(KBGPT);
  const tok = loadTokenizer(KBGPT);
  const cases = readFlatCases(join(KBGPT, 'edits.json')).filter((c) => c.flags.known_prompt).slice(100, 103);
  const stats = new FileSecondMoments({ 'transformer.h.0.mlp.c_proj': join(GOLDEN, 'kbgpt-layer0-mom2.safetensors') });
  const editor = new Editor(model, tok, { method: 'ROME', hparams: join(REPO_ROOT, 'hparams/ROME/kbgpt.yaml'), stats });
  const efficacy = (cs: typeof cases) => scoreCases(model, tok, cs).map((s) => caseMetrics(s).efficacy);
  const pick = (requests: unknown[]) => requests.map((r) => cases.find((c) => c.request === r)!);

  test('single: each case is measured with only its own edit applied, then restored', () => {
    const seen: number[] = [];
    const { results } = runSetting(editor, cases.map((c) => c.request), {
      mode: 'single',
      measure: (reqs) => {
        seen.push(editor.activeEdits.length);
        return efficacy(pick(reqs));
      },
    });
    assert.deepEqual(seen, [1, 1, 1]);
    assert.ok(results.filter(Boolean).length >= 2, `${results}`);
    assert.equal(editor.activeEdits.length, 0);
    assert.deepEqual(efficacy(cases), [false, false, false], 'model restored');
  });

  test('sequential: edits accumulate; measured once at the end they all hold', () => {
    const seen: number[] = [];
    const { results } = runSetting(editor, cases.map((c) => c.request), {
      mode: 'sequential', measureWhen: 'end',
      measure: (reqs) => {
        seen.push(editor.activeEdits.length);
        return efficacy(pick(reqs));
      },
    });
    assert.deepEqual(seen, [3]);
    assert.equal(results.length, 3);
    assert.ok(results.filter(Boolean).length >= 2);
    assert.deepEqual(efficacy(cases), [false, false, false], 'restored at the end');
  });

  test('batch: chunks of N are edited and measured together', () => {
    const chunks: number[] = [];
    runSetting(editor, cases.map((c) => c.request), {
      mode: 'batch', batchSize: 2,
      measure: (reqs) => {
        chunks.push(reqs.length);
        return efficacy(pick(reqs));
      },
    });
    assert.deepEqual(chunks, [2, 1]);
    editor.dispose();
    model.dispose();
  });
});
