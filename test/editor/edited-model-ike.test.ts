// The EditedModel with a real inference wrapper: IKE on kbgpt-ctx (one demonstration from a disjoint pool). Save → load
// gives identical text scores; rolling back edit 3 of 5 leaves the other four facts answered exactly as a fresh IKE
// memory of those four; a run checkpoint (the state format) replays the memory.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Editor } from '../../src/editor/editor.js';
import { loadEditedModel } from '../../src/editor/persist.js';
import type { CausalLM, TextModel } from '../../src/models/index.js';
import type { Tokenizer } from '../../src/io/tokenizer.js';
import { loadCases } from '../../src/eval/datasets/index.js';
import { poolRequests, selectPool } from '../../src/methods/pool.js';
import { readHparamsFile } from '../../src/methods/hparams.js';
import { REPO_ROOT, SHARED_DATA } from '../data.js';
import { suiteModel } from '../suite-model.js';

const KBGPT_CTX = join(SHARED_DATA, 'kbgpt-ctx');

describe('EditedModel with IKE on kbgpt-ctx', () => {
  let model: CausalLM;
  let tok: Tokenizer;
  const { cases } = loadCases(join(KBGPT_CTX, 'edits.json'), { known: true, n: 5 });
  const pool = poolRequests(selectPool(loadCases(join(KBGPT_CTX, 'edits.json')).cases, '400:600'));
  const hparams = { ...readHparamsFile(join(REPO_ROOT, 'hparams/IKE/kbgpt-ctx.yaml')).raw, k: 1 };
  const root = suiteModel(KBGPT_CTX, 'lmedit-ike-edited-', (m, t) => {
    model = m;
    tok = t;
  });
  const editor = () => new Editor(model, tok, { method: 'IKE', hparams, pool });
  const probes = cases.flatMap((c) => [c.request.prompt.replace('{}', c.request.subject), ...c.rephrases]);
  const scores = (m: TextModel) => m.score(probes.map((p, i) => ({ prompt: p, continuation: ` ${cases[Math.min(i >> 1, 4)].request.targetNew}` }))).map((s) => s.logprobs);

  test('save → load: identical scores through the wrapper; the weights are untouched', () => {
    const e = editor();
    const plain = scores(e.edited);
    e.edit(cases.slice(0, 3).map((c) => c.request));
    const want = scores(e.edited);
    assert.notDeepEqual(want, plain, 'the memory changes the answers');
    const dir = join(root, 'ike');
    e.save(dir);
    e.restore();
    assert.deepEqual(scores(e.edited), plain, 'restore() empties the memory');
    const loaded = loadEditedModel(dir);
    assert.deepEqual(scores(loaded), want, 'identical scores after load');
    assert.equal(loaded.inferenceWrappers()[0].kind, 'IKE');
    loaded.dispose();
    loaded.base.dispose();
    e.dispose();
  });

  test('rolling back edit 3 of 5 equals a fresh memory of edits 1, 2, 4 and 5; a run checkpoint replays it', () => {
    const e = editor();
    const records = e.edit(cases.map((c) => c.request));
    e.rollback(records[2].id);
    const got = scores(e.edited);
    const file = join(root, 'ike.state');
    e.saveState(file, { weights: 'values' });
    e.restore();
    const fresh = editor();
    fresh.edit([0, 1, 3, 4].map((i) => cases[i].request));
    assert.deepEqual(scores(fresh.edited), got);
    fresh.restore();
    fresh.dispose();
    const resumed = editor();
    resumed.loadState(file);
    assert.deepEqual(scores(resumed.edited), got, 'the checkpoint holds the four facts');
    assert.equal(resumed.edited.inferenceWrappers().length, 1);
    resumed.edit(cases[2].request);
    assert.equal(resumed.edited.inferenceWrappers().length, 1, 'the session adopted the replayed memory: one wrapper');
    assert.notDeepEqual(scores(resumed.edited), got, 'the re-added fact is answered again');
    resumed.restore();
    resumed.dispose();
    e.dispose();
  });
});
