// The EditedModel with a real installed patch: GRACE on kbgpt (hparams/GRACE/kbgpt.yaml, fewer iterations). The edited
// model's text-level score sees the edit (it scores incrementally, as the model generates, because GRACE reads each
// pass's last token); save → load gives identical scores with the weights untouched; rolling back edit 3 of 5 leaves
// the other four answered as before; a bad layer is refused naming the hparams field.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Editor } from '../../src/editor/editor.js';
import { loadEditedModel } from '../../src/editor/persist.js';
import { nextTokenLogprobs, type CausalLM, type TextModel } from '../../src/models/index.js';
import type { Tokenizer } from '../../src/io/tokenizer.js';
import { readHparamsFile } from '../../src/methods/hparams.js';
import { tidy } from '../../src/tensor/index.js';
import { KBGPT, REPO_ROOT } from '../data.js';
import { suiteModel } from '../suite-model.js';

const cases = (JSON.parse(readFileSync(join(KBGPT, 'edits.json'), 'utf8')).cases as any[]).filter((c) => c.known_prompt).slice(0, 5);
const request = (c: any) => ({ prompt: c.prompt, subject: c.subject, targetNew: c.target_new, groundTruth: c.ground_truth, caseId: c.case_id });

describe('EditedModel with GRACE on kbgpt', () => {
  let model: CausalLM;
  let tok: Tokenizer;
  const file = join(REPO_ROOT, 'hparams/GRACE/kbgpt.yaml');
  const hparams = { ...readHparamsFile(file).raw, n_iter: 40 };
  const root = suiteModel(KBGPT, 'lmedit-grace-edited-', (m, t) => {
    model = m;
    tok = t;
  });
  const editor = () => new Editor(model, tok, { method: 'GRACE', hparams });
  const pNew = (m: TextModel) => m.score(cases.map((c) => ({ prompt: c.prompt.replace('{}', c.subject), continuation: ` ${c.target_new}` }))).map((s) => Math.exp(s.logprobs[0]));
  const logits = (m: CausalLM) => tidy(() => nextTokenLogprobs(m, cases.map((c) => tok.encode(c.prompt.replace('{}', c.subject)))).toFlatArray());

  test('the text-level score sees the edit; save → load gives identical scores and logits; weights untouched', () => {
    const e = editor();
    const before = pNew(e.edited);
    e.edit(cases.slice(0, 2).map(request));
    const after = pNew(e.edited);
    assert.ok(after[0] > 0.5 && after[1] > 0.5, `P(new target) after the edit: ${after.slice(0, 2)}`);
    assert.ok(before[0] < 0.05, `before: ${before[0]}`);
    assert.ok(Math.abs(after[4] - before[4]) < 1e-6, 'an unedited case is untouched');
    const want = logits(model);
    const dir = join(root, 'grace');
    e.save(dir);
    e.restore();
    assert.deepEqual(pNew(e.edited), before, 'restore() empties the codebook');
    const loaded = loadEditedModel(dir);
    assert.deepEqual(pNew(loaded), after, 'identical scores after load');
    assert.deepEqual(logits(loaded.base), want, 'identical next-token logits after load');
    assert.equal(loaded.patches()[0].kind, 'GRACE');
    loaded.dispose();
    loaded.base.dispose();
    e.dispose();
  });

  test('rolling back edit 3 of 5 keeps the other four', () => {
    const e = editor();
    const records = e.edit(cases.map(request));
    const all = pNew(e.edited);
    e.rollback(records[2].id);
    const got = pNew(e.edited);
    for (const i of [0, 1, 3, 4]) assert.ok(Math.abs(got[i] - all[i]) < 1e-6, `edit ${i + 1} kept: ${got[i]} vs ${all[i]}`);
    assert.ok(got[2] < 0.05, `edit 3 undone: P(new) ${got[2]}`);
    e.restore();
    e.dispose();
  });

  test('a GRACE layer that does not exist is refused naming the file and field', () => {
    assert.throws(() => new Editor(model, tok, { method: 'GRACE', hparams: { ...hparams, inner_params: ['transformer.h[9].mlp.c_fc.weight'] } }), /inner_params/);
  });
});
