// MQuAKE-style multi-hop evaluation (src/eval/multihop.ts): answer extraction and alias matching, the MQuAKE reader
// keeping answer aliases, the seeded kbgpt case generator (scripts/kbgpt-multihop.ts: every edit changes the
// language answer), per-case multi-hop accuracy on a scripted fake text model, and evaluateMultihop end to end on
// kbgpt-ctx with IKE (two cases).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import { loadCases } from '../../src/eval/datasets/index.js';
import type { TextModel } from '../../src/models/index.js';
import type { EditCase } from '../../src/eval/cases.js';
import {
  acceptedAnswers, answerMatches, evaluateMultihop, extractAnswer, multihopCase, MULTIHOP_PROTOCOL, type AliasedProbe,
} from '../../src/eval/multihop.js';
import { makeCases } from '../../scripts/kbgpt-multihop.js';
import { Editor } from '../../src/editor/editor.js';
import { loadModel } from '../../src/models/index.js';
import { SHARED_DATA, REPO_ROOT } from '../data.js';

const KB = JSON.parse(readFileSync(join(SHARED_DATA, 'kbgpt', 'kb.json'), 'utf8'));
const tok = loadTokenizer(join(SHARED_DATA, 'kbgpt-ctx'));

describe('answer matching with aliases', () => {
  test('the answer phrase: first line, up to the first . , ;', () => {
    assert.equal(extractAnswer(' Czech. Roderick is'), 'Czech');
    assert.equal(extractAnswer(' the Czech language, and\nmore'), 'the Czech language');
    assert.equal(extractAnswer('\nCzech'), '');
  });

  test('exact (case-insensitive) or, by default, prefix at a word boundary', () => {
    assert.ok(answerMatches(' Czech.', ['Czech']));
    assert.ok(answerMatches(' czech', ['Czech'], 'exact'));
    assert.ok(answerMatches(' Farsi.', ['Persian', 'Farsi']), 'an alias counts');
    assert.ok(answerMatches(' Czech and Slovak', ['Czech']), 'prefix mode: the alias then a non-word character');
    assert.ok(!answerMatches(' Czech and Slovak', ['Czech'], 'exact'));
    assert.ok(!answerMatches(' Czechoslovak', ['Czech']), 'not inside a word');
    assert.ok(!answerMatches(' ', ['Czech']));
  });

  test('accepted answers after and before the edit', () => {
    const p: AliasedProbe = { prompt: 'q', groundTruth: 'Russian', groundTruthBefore: 'Polish', answerAliases: ['Russian language'], answerAliasesBefore: ['Polish language'] };
    assert.deepEqual(acceptedAnswers(p), ['Russian', 'Russian language']);
    assert.deepEqual(acceptedAnswers(p, true), ['Polish', 'Polish language']);
    assert.deepEqual(acceptedAnswers({ prompt: 'q', groundTruth: 'x' }, true), []);
  });
});

describe('kbgpt multi-hop cases', () => {
  const cases = makeCases(KB, 0) as any[];

  test('seeded: the same cases for the same seed, others for another', () => {
    assert.deepEqual(makeCases(KB, 0), cases);
    assert.notDeepEqual((makeCases(KB, 1) as any[]).map((c) => c.new_answer), cases.map((c) => c.new_answer));
  });

  test('one case per person; every edit changes the country and the language answer, which follow kb.json', () => {
    assert.equal(cases.length, KB.people.length);
    for (const c of cases) {
      const city = c.requested_rewrite[0].target_new.str;
      const old = c.requested_rewrite[0].target_true.str;
      assert.equal(c.new_answer, KB.country_language[KB.city_country[city]]);
      assert.equal(c.answer, KB.country_language[KB.city_country[old]]);
      assert.notEqual(c.new_answer, c.answer);
      assert.equal(c.questions[0], KB.one_hop_template.replace('{}', c.requested_rewrite[0].subject));
      assert.ok(c.new_answer_alias.includes(`${c.new_answer} language`));
    }
  });

  test("lmedit's MQuAKE reader keeps the aliases on each multi-hop probe", () => {
    const dir = mkdtempSync(join(tmpdir(), 'lmedit-multihop-'));
    try {
      const file = join(dir, 'cases.json');
      writeFileSync(file, JSON.stringify(cases.slice(0, 3)));
      const r = loadCases(file);
      assert.equal(r.format, 'mquake');
      const c = r.cases[0];
      assert.equal(c.request.targetNew, cases[0].requested_rewrite[0].target_new.str);
      const p = c.portability.multi_hop[0] as AliasedProbe;
      assert.equal(c.portability.multi_hop.length, 3);
      assert.deepEqual(p, {
        prompt: cases[0].questions[0], groundTruth: cases[0].new_answer, groundTruthBefore: cases[0].answer,
        answerAliases: cases[0].new_answer_alias, answerAliasesBefore: cases[0].answer_alias,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('multi-hop accuracy', () => {
  const c: EditCase = {
    caseId: 1, request: { prompt: '{} was born in', subject: 'Gus Hale', targetNew: 'Osaka', groundTruth: 'Paris' }, rephrases: [], locality: {}, flags: {},
    portability: { multi_hop: ['q1', 'q2', 'q3'].map((prompt) => ({ prompt, groundTruth: 'Japanese', groundTruthBefore: 'French', answerAliases: ['Japanese language'], answerAliasesBefore: [] })) },
  };
  /** A scripted fake text model: fixed generations per question. */
  const fake = (answers: Record<string, string>): TextModel => ({
    tokenizer: tok, maxPositions: Infinity,
    score: () => { throw new Error('not used'); },
    generate: (ps) => ps.map((p) => ({ ids: [], text: answers[p] })),
  });

  test('a case is correct when any question is (MQuAKE), with the share of questions beside it', () => {
    const r = multihopCase(fake({ q1: ' French.', q2: ' the Japanese language', q3: ' Osaka.' }), c)!;
    assert.equal(r.multihop, 0, '"the Japanese language" is no listed alias');
    const s = multihopCase(fake({ q1: ' French.', q2: ' Japanese language', q3: ' Osaka.' }), c)!;
    assert.equal(s.multihop, 1);
    assert.equal(s.multihopQuestions, 1 / 3);
    assert.equal(s.multihopOld, 1, 'the old answer survives on q1');
    assert.equal(multihopCase(fake({}), { ...c, portability: {} }), undefined);
  });

  test('evaluateMultihop on kbgpt-ctx with IKE: both protocols, one line per case, resumable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lmedit-multihop-run-'));
    const model = loadModel(join(SHARED_DATA, 'kbgpt-ctx'));
    try {
      const file = join(dir, 'cases.json');
      writeFileSync(file, JSON.stringify((makeCases(KB, 0) as any[]).slice(0, 2)));
      const cases = loadCases(file).cases;
      const editor = new Editor(model, tok, { method: 'IKE', hparams: join(REPO_ROOT, 'hparams/IKE/kbgpt-ctx.yaml'), overrides: { pool_file: null } });
      const out = join(dir, 'run');
      const s = evaluateMultihop(editor, cases, out);
      assert.equal(s.n, 2);
      assert.ok(MULTIHOP_PROTOCOL in s.protocols && 'easyedit-token' in s.protocols && 'rome-counterfact-prob' in s.protocols);
      assert.equal(s.protocols[MULTIHOP_PROTOCOL].post.n, 2);
      // IKE states the new city: the edit prompt itself follows it under the teacher-forced protocols
      assert.ok(s.protocols['easyedit-token'].post.reliability > 50);
      const lines = readFileSync(join(out, 'multihop.jsonl'), 'utf8').trim().split('\n');
      assert.equal(lines.length, 2);
      assert.equal(editor.activeEdits.length, 0, 'restored after each case');
      assert.deepEqual(evaluateMultihop(editor, cases, out), s, 'a rerun reads the finished cases');
      editor.dispose();
    } finally {
      model.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
