// MemPrompt (src/methods/memprompt): the original's key normalisation and Levenshtein matching under a threshold,
// TF-IDF / BM25 matching, the rewritten prompt, the shared memory (overwrite by key, rollback of one edit),
// save/load of the wrapper state, the registry, and the edit itself on kbgpt-ctx.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import type { TextModel, TextScoreRequest } from '../../src/models/index.js';
import { validateHparams, readHparamsFile } from '../../src/methods/hparams.js';
import { normalizeRequest, type EditRequest } from '../../src/methods/request.js';
import {
  fill, levenshtein, memprompt, MEMPROMPT_SCHEMA, MemPromptMemory, MemPromptWrapper, memPromptSettings, normalizeKey, type MemPromptHparams,
} from '../../src/methods/memprompt/index.js';
import { methodFor } from '../../src/editor/methods.js';
import { Editor } from '../../src/editor/editor.js';
import { loadEditedModel } from '../../src/editor/persist.js';
import { loadCases } from '../../src/eval/datasets/index.js';
import type { CausalLM } from '../../src/models/index.js';
import type { Tokenizer } from '../../src/io/tokenizer.js';
import { REPO_ROOT, SHARED_DATA } from '../data.js';
import { suiteModel } from '../suite-model.js';

const KBGPT_CTX = join(SHARED_DATA, 'kbgpt-ctx');
const tok = loadTokenizer(KBGPT_CTX);
const hparams = (raw: Record<string, unknown>) => validateHparams<MemPromptHparams>({ alg_name: 'MEMPROMPT', ...raw }, MEMPROMPT_SCHEMA, 'test');
const req = (r: EditRequest, i = 0) => normalizeRequest(r, i);
const GUS = req({ prompt: 'Gus Hale was born in', subject: 'Gus Hale', targetNew: 'Paris', groundTruth: 'Bern', caseId: 'g' });
const ADA = req({ prompt: 'Ada Vance plays the', subject: 'Ada Vance', targetNew: 'violin', groundTruth: 'piano', caseId: 'a' }, 1);

function recorder(): TextModel & { seen: TextScoreRequest[]; generated: string[] } {
  const seen: TextScoreRequest[] = [];
  const generated: string[] = [];
  return {
    tokenizer: tok, maxPositions: Infinity, seen, generated,
    score: (rs) => rs.map((r) => { seen.push(r); return { logprobs: [0], sum: 0, mean: 0, argmax: [0], ids: [0] }; }),
    generate: (ps) => ps.map((p) => { generated.push(p); return { ids: [], text: '' }; }),
  };
}

describe('MemPrompt memory: the original ClosestMatchMemory', () => {
  test('keys normalised as _process_key_for_closest', () => {
    assert.equal(normalizeKey('what rings like < papaya > ?'), 'what rings like');
    assert.equal(normalizeKey('  Gus  Hale\'s place of birth is:  '), 'gus hales place of birth is');
    assert.equal(normalizeKey('< dice > ka matlab kya hai'), 'ka matlab kya hai');
  });

  test('Levenshtein distance', () => {
    assert.equal(levenshtein('kitten', 'sitting'), 3);
    assert.equal(levenshtein('', 'abc'), 3);
    assert.equal(levenshtein('flaw', 'lawn'), 2);
    assert.equal(levenshtein('same', 'same'), 0);
  });

  const settings = (over: Partial<ReturnType<typeof memPromptSettings>> = {}) => ({ ...memPromptSettings(hparams({})), ...over });
  const entry = (q: string, feedback: string, editId = 'e1') => ({ editId, question: q, key: normalizeKey(q), feedback });

  test('fuzzy: the nearest key strictly below the threshold (6 characters by default), none otherwise', () => {
    const m = new MemPromptMemory(settings());
    m.add([entry('what rings like < papaya > ?', 'homonym'), entry('use < carrot > in a sentence', 'sentence')]);
    assert.equal(m.lookup('what rings like < tomato > ?')?.entry.feedback, 'homonym');
    assert.equal(m.lookup('use < cake > in a sentence')?.entry.feedback, 'sentence');
    assert.equal(m.lookup('what rings like < tomato > ?')?.score, 0);
    // distance 5 < 6 matches; 6 does not
    assert.equal(m.lookup('what rings likeXXXXX')?.score, 5);
    assert.equal(m.lookup('what rings likeXXXXXX'), undefined);
    assert.equal(new MemPromptMemory(settings()).lookup('anything'), undefined, 'an empty memory has nothing');
  });

  test('fuzzy normalised: distance over the longer key', () => {
    const m = new MemPromptMemory(settings({ fuzzyNormalized: true, fuzzyThreshold: 0.2 }));
    m.add([entry('Gus Hale was born in', 'f')]);
    assert.ok(m.lookup('Gus Hale was born at')); // 2 / 20
    assert.equal(m.lookup('Ada Vance was born in'), undefined);
  });

  test('tfidf and bm25: the best score at or above the threshold', () => {
    for (const retriever of ['tfidf', 'bm25'] as const) {
      const m = new MemPromptMemory(settings({ retriever, scoreThreshold: 0.3 }));
      m.add([entry('Gus Hale was born in', 'gus'), entry('Ada Vance plays the', 'ada')]);
      assert.equal(m.lookup('The birthplace of Gus Hale is')?.entry.feedback, 'gus', retriever);
      assert.equal(m.lookup('Ada Vance is a player of the')?.entry.feedback, 'ada', retriever);
      assert.equal(m.lookup('Zed Quill writes'), undefined, retriever);
    }
  });

  test('a later entry with the same key shadows the older one; removing it brings the older back', () => {
    const m = new MemPromptMemory(settings());
    m.add([entry('Gus Hale was born in', 'Paris', 'e1')]);
    m.add([entry('gus hale was born in!', 'Rome', 'e2')]);
    assert.equal(m.lookup('Gus Hale was born in')?.entry.feedback, 'Rome');
    m.removeEdit('e2');
    assert.equal(m.lookup('Gus Hale was born in')?.entry.feedback, 'Paris');
    m.removeEdit('e1');
    assert.equal(m.lookup('Gus Hale was born in'), undefined);
  });
});

describe('MemPrompt wrapper', () => {
  const open = (raw: Record<string, unknown> = {}) => memprompt.open(undefined as never, hparams(raw), { tokenizer: tok, seed: 0 });

  test("the original's enriched question by default; the template and feedback as configured", () => {
    assert.equal(fill('{question} | {feedback}', { question: 'q {feedback}', feedback: 'f' }), 'q {feedback} | f');
    const s = open();
    const e = s.compute([GUS], { editId: 'e1' });
    const w = e.wrapper as MemPromptWrapper;
    assert.equal(w.kind, 'MEMPROMPT');
    assert.equal(e.deltas.length, 0);
    assert.deepEqual(e.diagnostics[0].extra, { key: 'gus hale was born in', feedback: 'Gus Hale was born in Paris' });
    const inner = recorder();
    w.score(inner, [{ prompt: 'Gus Hale was born in', continuation: ' Paris' }, { prompt: 'Ada Vance plays the', continuation: ' piano' }]);
    assert.deepEqual(inner.seen, [
      { prompt: 'Gus Hale was born in | Gus Hale was born in Paris', continuation: ' Paris' },
      { prompt: 'Ada Vance plays the', continuation: ' piano' },
    ]);
    const t = open({ prompt_template: 'New Fact: {feedback}\nPrompt: {question}', retriever: 'tfidf', score_threshold: 0.35 });
    const w2 = t.compute([GUS], { editId: 'e1' }).wrapper as MemPromptWrapper;
    w2.generate(inner, ['The birthplace of Gus Hale is']);
    assert.deepEqual(inner.generated, ['New Fact: Gus Hale was born in Paris\nPrompt: The birthplace of Gus Hale is']);
  });

  test('one memory across edits: rollback of one edit, state round trip', () => {
    const s = open();
    const w = s.compute([GUS], { editId: 'e1' }).wrapper as MemPromptWrapper;
    assert.equal(s.compute([ADA], { editId: 'e2' }).wrapper, w, 'the same wrapper');
    assert.deepEqual(w.editIds(), ['e1', 'e2']);
    const copy = MemPromptWrapper.fromState(w.state());
    assert.deepEqual(copy.state(), w.state());
    assert.equal(copy.contextFor('Ada Vance plays the'), w.contextFor('Ada Vance plays the'));
    w.removeEdit('e1');
    assert.deepEqual(w.editIds(), ['e2']);
    assert.equal(w.contextFor('Gus Hale was born in'), 'Gus Hale was born in');
    assert.equal(w.contextFor('Ada Vance plays the'), 'Ada Vance plays the | Ada Vance plays the violin');
    assert.throws(() => MemPromptWrapper.fromState({ tensors: {}, meta: { format: 'x' } }), /not a MemPrompt wrapper state/);
  });

  test('registry and hparams checks', () => {
    assert.equal(methodFor('MemPrompt').method, memprompt);
    assert.throws(() => memprompt.check(undefined as never, hparams({ retriever: 'nope' }), 'f.yaml'), /f.yaml: retriever must be one of fuzzy, tfidf, bm25/);
    assert.throws(() => memprompt.check(undefined as never, hparams({ prompt_template: '{question}' }), 'f.yaml'), /must contain \{feedback\}/);
    assert.throws(() => memprompt.check(undefined as never, hparams({ fuzzy_normalized: true, fuzzy_threshold: 6 }), 'f.yaml'), /\[0, 1\]/);
  });
});

describe('MemPrompt on kbgpt-ctx', () => {
  let model: CausalLM;
  let mtok: Tokenizer;
  const root = suiteModel(KBGPT_CTX, 'lmedit-memprompt-', (m, t) => { model = m; mtok = t; });
  const { cases } = loadCases(join(KBGPT_CTX, 'edits.json'), { known: true, n: 3 });
  const hp = readHparamsFile(join(REPO_ROOT, 'hparams/MEMPROMPT/kbgpt-ctx.yaml')).raw;

  test('the edit makes the new target likely on the prompt and its rephrase; save → load; rollback', () => {
    const e = new Editor(model, mtok, { method: 'MEMPROMPT', hparams: hp });
    const c = cases[0];
    const prompt = c.request.prompt.replace('{}', c.request.subject);
    const probe = [{ prompt, continuation: ` ${c.request.targetNew}` }, { prompt: c.rephrases[0], continuation: ` ${c.request.targetNew}` }];
    const before = e.edited.score(probe).map((s) => s.sum);
    const [rec] = e.edit([c.request]);
    e.edit([cases[1].request]);
    const after = e.edited.score(probe).map((s) => s.sum);
    assert.ok(after[0] > before[0] + 2 && after[1] > before[1] + 2, `log P(new) ${before} → ${after}`);
    const dir = join(root, 'mp');
    e.save(dir);
    const loaded = loadEditedModel(dir);
    assert.deepEqual(loaded.score(probe).map((s) => s.sum), after);
    loaded.dispose();
    loaded.base.dispose();
    e.rollback(rec.id);
    const fresh = new Editor(model, mtok, { method: 'MEMPROMPT', hparams: hp });
    fresh.edit([cases[1].request]);
    assert.deepEqual(e.edited.score(probe).map((s) => s.sum), fresh.edited.score(probe).map((s) => s.sum), 'rollback = a memory of the other edit alone');
    fresh.dispose();
    e.restore();
    assert.deepEqual(e.edited.score(probe).map((s) => s.sum), before, 'restore empties the memory');
    e.dispose();
  });
});
