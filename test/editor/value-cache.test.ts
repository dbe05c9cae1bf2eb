// The value cache (src/methods/value-cache.ts): an edit whose optimised value (ROME v*, MEMIT z) comes from the cache
// is the same edit, bit for bit, as the one computed; the cache is consulted only while the model is unedited; MEMIT
// reuses the values of a batch for single edits; ROME's values serve r-ROME; the disk cache survives a new process
// view and rejects damaged entries.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Editor } from '../../src/editor/editor.js';
import { loadModel, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { FileSecondMoments } from '../../src/stats/index.js';
import { DiskValueCache, MemoryValueCache } from '../../src/methods/value-cache.js';
import type { WeightDelta } from '../../src/methods/types.js';
import { GOLDEN, KBGPT, REPO_ROOT } from '../data.js';

const cases = (JSON.parse(readFileSync(join(KBGPT, 'edits.json'), 'utf8')).cases as any[]).filter((c) => c.known_prompt);
const request = (c: any) => ({ prompt: c.prompt, subject: c.subject, targetNew: c.target_new, groundTruth: c.ground_truth });
const flat = (d: WeightDelta) => [d.left, d.right, d.dense].map((t) => t?.toFlatArray() ?? []);

describe('value cache', () => {
  let model: CausalLM;
  let tok: Tokenizer;
  const stats = new FileSecondMoments({ 'transformer.h.0.mlp.c_proj': join(GOLDEN, 'kbgpt-layer0-mom2.safetensors') });
  const hp = (m: string) => join(REPO_ROOT, `hparams/${m}/kbgpt.yaml`);
  before(() => {
    model = loadModel(KBGPT);
    tok = loadTokenizer(KBGPT);
  });
  after(() => model.dispose());

  test('ROME: a cached value gives the identical edit; an edited model never reads the cache', () => {
    const reference = new Editor(model, tok, { method: 'ROME', hparams: hp('ROME'), stats });
    const [plain] = reference.edit(request(cases[0]));
    reference.restore();

    const cache = new MemoryValueCache();
    const editor = new Editor(model, tok, { method: 'ROME', hparams: hp('ROME'), stats, valueCache: cache });
    const [first] = editor.edit(request(cases[0]));
    assert.equal(cache.size, 1);
    assert.equal(editor.valueCacheHits, 0);
    assert.equal(first.reports[0].extra?.valueCached, false);
    assert.deepEqual(flat(first.deltas[0]), flat(plain.deltas[0]), 'computing through the cache changes nothing');
    // the model is edited now: the second request is computed, and not stored
    editor.edit(request(cases[1]));
    assert.equal(editor.valueCacheHits, 0);
    assert.equal(cache.size, 1, 'values computed on edited weights are not cached');
    editor.restore();

    const [again] = editor.edit(request(cases[0]));
    assert.equal(editor.valueCacheHits, 1);
    assert.equal(again.reports[0].extra?.valueCached, true);
    assert.deepEqual(flat(again.deltas[0]), flat(plain.deltas[0]), 'the cached value gives the same delta');
    assert.deepEqual(again.reports[0].lossTrace, plain.reports[0].lossTrace, 'the loss trace is kept with the value');
    editor.restore();

    // r-ROME optimises the same value: it reads ROME's, and only the update differs
    const rrome = new Editor(model, tok, { method: 'R-ROME', hparams: hp('R-ROME'), stats, valueCache: cache });
    const [r] = rrome.edit(request(cases[0]));
    assert.equal(rrome.valueCacheHits, 2);
    assert.equal(r.reports[0].extra?.valueCached, true);
    rrome.restore();
    for (const e of [reference, editor, rrome]) e.dispose();
  });

  test('MEMIT: the values of a batch serve later single edits, with the same z', () => {
    const cache = new MemoryValueCache();
    const editor = new Editor(model, tok, { method: 'MEMIT', hparams: hp('MEMIT'), stats, valueCache: cache });
    const [batch] = editor.edit([request(cases[2]), request(cases[3])]);
    editor.restore();
    assert.equal(cache.size, 2);
    const [single] = editor.edit(request(cases[3]));
    editor.restore();
    assert.equal(editor.valueCacheHits, 1);
    assert.equal(single.reports[0].extra?.valueCached, true);
    assert.deepEqual(single.reports[0].norms, batch.reports[1].norms, 'z and its norms come from the batch');

    const plain = new Editor(model, tok, { method: 'MEMIT', hparams: hp('MEMIT'), stats });
    const [computed] = plain.edit(request(cases[3]));
    plain.restore();
    assert.deepEqual(flat(single.deltas[0]), flat(computed.deltas[0]), 'same delta as computed without the cache');
    editor.dispose();
    plain.dispose();
  });

  test('disk cache: scoped by model fingerprint, shared across Editors, damaged entries recomputed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lmedit-values-'));
    try {
      const a = new Editor(model, tok, { method: 'ROME', hparams: hp('ROME'), stats, valueCache: dir });
      const [first] = a.edit(request(cases[4]));
      a.restore();
      const [scope] = readdirSync(dir);
      assert.match(scope, /^[0-9a-f]{16}$/, 'entries live under the model fingerprint');
      const files = readdirSync(join(dir, scope));
      assert.equal(files.length, 1);

      const b = new Editor(model, tok, { method: 'ROME', hparams: hp('ROME'), stats, valueCache: dir });
      const [second] = b.edit(request(cases[4]));
      b.restore();
      assert.equal(b.valueCacheHits, 1);
      assert.deepEqual(flat(second.deltas[0]), flat(first.deltas[0]));

      writeFileSync(join(dir, scope, files[0]), '{"version":1,"key":"not this one"');
      const c = new Editor(model, tok, { method: 'ROME', hparams: hp('ROME'), stats, valueCache: dir });
      const [third] = c.edit(request(cases[4]));
      c.restore();
      assert.equal(c.valueCacheHits, 0, 'a damaged entry is not used');
      assert.deepEqual(flat(third.deltas[0]), flat(first.deltas[0]));
      const d = new DiskValueCache(join(dir, scope));
      assert.equal(d.get('some other key'), undefined);
      for (const e of [a, b, c]) e.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
