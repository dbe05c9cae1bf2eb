// MEMIT against the reference ROME results on kbgpt (golden/rome-kbgpt.json): the issue asks MEMIT, at the same layer
// and with the same value hparams (hparams/MEMIT/kbgpt.yaml), to do at least as well as the reference ROME run on
// the public cases, by the reference's own success definitions (first-token comparison on the edit and rephrase
// prompts, arg-max after the locality prompt unchanged). Single edits, as the reference: edit, measure, restore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/models/index.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import { Editor } from '../../src/editor/editor.js';
import { FileSecondMoments } from '../../src/stats/index.js';
import { NEIGHBORHOOD, type EditCase } from '../../src/eval/cases.js';
import { measureCases, modelScorer } from '../../src/eval/measure.js';
import { firstTokenProtocol } from '../../src/eval/rome-protocol.js';
import { GOLDEN, KBGPT, REPO_ROOT } from '../data.js';

test('MEMIT (single edits) matches or beats the reference ROME run on every public kbgpt case', () => {
  const golden = JSON.parse(readFileSync(join(GOLDEN, 'rome-kbgpt.json'), 'utf8'));
  const model = loadModel(KBGPT);
  const tok = loadTokenizer(KBGPT);
  const stats = new FileSecondMoments({ 'transformer.h.0.mlp.c_proj': join(GOLDEN, 'kbgpt-layer0-mom2.safetensors') });
  const editor = new Editor(model, tok, { method: 'MEMIT', hparams: join(REPO_ROOT, 'hparams/MEMIT/kbgpt.yaml'), stats });
  const scorer = modelScorer(model);
  const rows: string[] = [];
  for (const e of golden.edits) {
    const c: EditCase = {
      caseId: e.case_id,
      request: { prompt: e.request.prompt, subject: e.request.subject, targetNew: e.request.target_new, groundTruth: e.request.ground_truth },
      rephrases: [e.rephrase_prompt],
      locality: { [NEIGHBORHOOD]: [{ prompt: e.locality_prompt, groundTruth: e.locality_ground_truth }] },
      portability: {},
      flags: {},
    };
    const [pre] = measureCases(tok, [c], scorer);
    editor.edit(c.request);
    const [post] = measureCases(tok, [c], scorer);
    editor.restore();
    const m = firstTokenProtocol.caseMetrics(pre, post);
    rows.push(`case ${e.case_id}: ${JSON.stringify(m)} reference ${e.success_prompt}/${e.success_rephrase}/${e.locality_argmax_unchanged}`);
    if (e.success_prompt) assert.equal(m.success_prompt, 1, rows.join('\n'));
    if (e.success_rephrase) assert.equal(m.success_rephrase, 1, rows.join('\n'));
    if (e.locality_argmax_unchanged) assert.equal(m.locality_argmax_unchanged, 1, rows.join('\n'));
  }
  assert.equal(rows.length, 4);
  editor.dispose();
  model.dispose();
});
