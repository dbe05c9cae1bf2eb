// The Editor on kbgpt (facts stored at the subject): edits take, restore() and rollback() return exactly to the
// original weights, save() writes a checkpoint that reloads with the edit, and hparams errors name the field.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Editor } from '../../src/editor/editor.js';
import { editWithChecks } from '../../src/eval/check.js';
import { loadModel, nextTokenLogprobs, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { readSafetensorsHeader } from '../../src/io/safetensors.js';
import { fromFile, keep, tidy } from '../../src/tensor/index.js';
import type { SecondMomentProvider } from '../../src/methods/types.js';
import { readHparamsFile } from '../../src/methods/hparams.js';
import { GOLDEN, KBGPT, REPO_ROOT } from '../data.js';

const cases = JSON.parse(readFileSync(join(KBGPT, 'edits.json'), 'utf8')).cases as any[];
const known = cases.filter((c) => c.known_prompt && c.known_rephrase);

/** kbgpt's layer-0 statistics as the reference computed them. */
function layer0Stats(): SecondMomentProvider {
  const file = join(GOLDEN, 'kbgpt-layer0-mom2.safetensors');
  const h = readSafetensorsHeader(file);
  const e = h.tensors.get('mom2')!;
  const mom2 = keep(fromFile(file, e.byteOffset, 'float32', e.shape));
  return {
    get(_m, module) {
      if (module !== 'transformer.h.0.mlp.c_proj') throw new Error(`no statistics for ${module} in this test`);
      return { mom2, count: Number(h.metadata.count), key: 'golden:kbgpt-layer0' };
    },
  };
}

function argmaxOf(model: CausalLM, tok: Tokenizer, prompt: string): number {
  return tidy(() => nextTokenLogprobs(model, [tok.encode(prompt)]).argmax(-1).item());
}

const request = (c: any) => ({ prompt: c.prompt, subject: c.subject, targetNew: c.target_new, groundTruth: c.ground_truth, caseId: c.case_id });

describe('Editor on kbgpt', () => {
  let model: CausalLM;
  let tok: Tokenizer;
  let stats: SecondMomentProvider;
  before(() => {
    model = loadModel(KBGPT);
    tok = loadTokenizer(KBGPT);
    stats = layer0Stats();
  });
  after(() => model.dispose());

  test('ROME edits take, generalise to a held-out paraphrase, and restore() is exact', () => {
    const editor = new Editor(model, tok, { method: 'ROME', hparams: join(REPO_ROOT, 'hparams/ROME/kbgpt.yaml'), stats });
    const c = known[5];
    const logitsBefore = tidy(() => nextTokenLogprobs(model, [tok.encode(c.prompt)]).toFlatArray());
    const [record] = editWithChecks(editor, request(c));
    const report = record.reports[0];
    assert.ok(report.before.groundTruth! > report.before.targetNew, 'before: the true answer is more likely');
    assert.equal(report.success, true, 'after: the new target is more likely');
    assert.equal(argmaxOf(model, tok, c.prompt), c.target_new_first_token, 'greedy answer is the new target');
    assert.equal(argmaxOf(model, tok, c.rephrase_prompt), c.target_new_first_token, 'held-out paraphrase follows');
    assert.ok(report.lossTrace!.length >= 1 && report.norms!.deltaW > 0);
    assert.deepEqual(record.statsKeys, ['golden:kbgpt-layer0']);
    editor.restore();
    assert.deepEqual(tidy(() => nextTokenLogprobs(model, [tok.encode(c.prompt)]).toFlatArray()), logitsBefore);
    assert.equal(editor.activeEdits.length, 0);
    editor.dispose();
  });

  test('sequential edits accumulate; rollback(id) undoes one of them', () => {
    const editor = new Editor(model, tok, { method: 'ROME', hparams: join(REPO_ROOT, 'hparams/ROME/kbgpt.yaml'), stats });
    const [a, b] = [known[10], known[11]];
    const [ra] = editor.edit(request(a));
    const [rb] = editor.edit(request(b));
    assert.equal(argmaxOf(model, tok, a.prompt), a.target_new_first_token);
    assert.equal(argmaxOf(model, tok, b.prompt), b.target_new_first_token);
    editor.rollback(ra.id);
    assert.equal(argmaxOf(model, tok, a.prompt), a.ground_truth_first_token, 'first edit undone');
    assert.equal(argmaxOf(model, tok, b.prompt), b.target_new_first_token, 'second edit kept');
    assert.throws(() => editor.rollback(ra.id), /already rolled back/);
    assert.throws(() => editor.rollback('edit-99'), /no edit 'edit-99'/);
    assert.deepEqual(editor.activeEdits.map((r) => r.id), [rb.id]);
    editor.restore();
    assert.equal(argmaxOf(model, tok, b.prompt), b.ground_truth_first_token);
    editor.dispose();
  });

  test('MEMIT edits a batch of facts at once', () => {
    const editor = new Editor(model, tok, { method: 'MEMIT', hparams: join(REPO_ROOT, 'hparams/MEMIT/kbgpt.yaml'), stats });
    const batch = known.slice(20, 26);
    const [record] = editor.edit(batch.map(request));
    const flipped = batch.filter((c) => argmaxOf(model, tok, c.prompt) === c.target_new_first_token).length;
    // 0/6 before the edit (asserted after restore below)
    assert.ok(flipped >= 3, `${flipped}/6 edited`);
    assert.equal(record.deltas.length, 1);
    assert.equal(record.deltas[0].left!.shape[1], 6, 'rank-6 factors for 6 edits');
    editor.restore();
    assert.equal(batch.filter((c) => argmaxOf(model, tok, c.prompt) === c.ground_truth_first_token).length, 6);
    editor.dispose();
  });

  test('FT-M edits and stays within the L-infinity constraint', () => {
    const editor = new Editor(model, tok, { method: 'FT-M', hparams: join(REPO_ROOT, 'hparams/FT-M/kbgpt.yaml') });
    const c = known[30];
    const [record] = editWithChecks(editor, request(c));
    assert.equal(record.reports[0].success, true);
    const maxChange = tidy(() => Math.max(...record.deltas.map((d) => d.dense!.abs().max().item())));
    assert.ok(maxChange <= 5e-3 + 1e-6, `max |ΔW| ${maxChange}`);
    editor.restore();
    editor.dispose();
  });

  test('adoptState() sets saved weights as one record of earlier edits; restore() is exact', () => {
    const editor = new Editor(model, tok, { method: 'FT-M', hparams: join(REPO_ROOT, 'hparams/FT-M/kbgpt.yaml') });
    const c = known[31];
    const param = 'transformer.h.0.mlp.c_proj.weight';
    const params = [param, 'transformer.h.0.mlp.c_proj.bias']; // FT trains the module's weight and bias
    const original = model.snapshot(params);
    editor.edit(request(c));
    const edited = model.snapshot(params);
    const answer = argmaxOf(model, tok, c.prompt);
    editor.restore();
    assert.deepEqual(editor.touchedParameters.sort(), [...params].sort());

    const fresh = new Editor(model, tok, { method: 'FT-M', hparams: join(REPO_ROOT, 'hparams/FT-M/kbgpt.yaml') });
    const record = fresh.adoptState(edited, [request(c)]);
    assert.equal(record.kind, 'state');
    assert.equal(fresh.activeEdits.length, 1);
    assert.equal(argmaxOf(model, tok, c.prompt), answer, 'the adopted weights answer as the edited model did');
    const held = fresh.edited.applied.find((a) => a.id === record.id)!.values!;
    assert.equal(tidy(() => held.get(param)!.equal(edited.get(param)!)), true, 'the record holds the saved values bit for bit');
    fresh.restore();
    for (const p of params) assert.equal(tidy(() => model.snapshot([p]).get(p)!.equal(original.get(p)!)), true, `restore() is exact (${p})`);
    assert.throws(() => fresh.adoptState(new Map([[param, edited.get(param)!.t()]]), [request(c)]), /has shape \[256,1024\], the model's is \[1024,256\]/);
    fresh.restore();
    for (const t of [...original.values(), ...edited.values()]) t.dispose();
    editor.dispose();
    fresh.dispose();
  });

  test('save() writes a checkpoint that reloads with the edit and a record of it', () => {
    const editor = new Editor(model, tok, { method: 'ROME', hparams: join(REPO_ROOT, 'hparams/ROME/kbgpt.yaml'), stats });
    const c = known[40];
    editor.edit(request(c));
    const dir = join(mkdtempSync(join(tmpdir(), 'lmedit-editor-')), 'edited');
    try {
      editor.save(dir);
      const reloaded = loadModel(dir);
      assert.equal(argmaxOf(reloaded, tok, c.prompt), c.target_new_first_token);
      reloaded.dispose();
      const record = JSON.parse(readFileSync(join(dir, 'lmedit_edits.json'), 'utf8'));
      assert.equal(record.method, 'ROME');
      assert.equal(record.edits[0].requests[0].subject, c.subject);
      assert.equal(record.hparams.layers[0], 0);
    } finally {
      editor.restore();
      editor.dispose();
      rmSync(join(dir, '..'), { recursive: true });
    }
  });

  test('bad requests and hparams give errors naming the request or field', () => {
    const editor = new Editor(model, tok, { method: 'ROME', hparams: join(REPO_ROOT, 'hparams/ROME/kbgpt.yaml'), stats });
    assert.throws(() => editor.edit({ prompt: 'Paris is nice', subject: 'Eiffel Tower', targetNew: 'Rome' }), /edit request 0: subject 'Eiffel Tower' does not occur in the prompt/);
    assert.throws(() => editor.edit({ prompt: '{} and {}', subject: 'x', targetNew: 'y' }), /exactly one is supported/);
    assert.throws(() => new Editor(model, tok, { method: 'ROME', hparams: { ...readYaml('ROME/kbgpt.yaml'), layers: [9] } }), /layer 9 is out of range \(the model has 6 layers/);
    assert.throws(() => new Editor(model, tok, { method: 'ROME', hparams: { ...readYaml('ROME/kbgpt.yaml'), v_lrr: 1 } }), /unknown field 'v_lrr'/);
    assert.throws(() => new Editor(model, tok, { method: 'ROME', hparams: { ...readYaml('ROME/kbgpt.yaml'), v_lr: 'fast' } }), /field 'v_lr' must be number/);
    assert.throws(() => new Editor(model, tok, { method: 'ROME', hparams: { ...readYaml('ROME/kbgpt.yaml'), rewrite_module_tmp: 'model.layers.{}.mlp.down_proj' } }), /does not name a module/);
    assert.throws(() => new Editor(model, tok, { method: 'MALMEN', hparams: {} }), /unknown editing method 'MALMEN'/);
    editor.dispose();
  });
});

function readYaml(rel: string): Record<string, unknown> {
  return readHparamsFile(join(REPO_ROOT, 'hparams', rel)).raw;
}
