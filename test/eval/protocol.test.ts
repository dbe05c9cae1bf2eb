// Every protocol on a model whose logits are constructed (hand-computable), the flat case reader's errors, and the three
// editing settings measured on kbgpt (single restores after each edit, sequential accumulates, batch restores per chunk).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstTokenProtocol, harmonicMean, romeCaseMetrics, romeProtocol } from '../../src/eval/rome-protocol.js';
import { easyEditCaseMetrics, easyEditProtocol, romeZsreProtocol } from '../../src/eval/easyedit-protocol.js';
import { summarizeMetrics } from '../../src/eval/protocol.js';
import { summarizeAll } from '../../src/eval/protocols.js';
import { measureCases, modelScorer, tokenAccuracy, unchangedShare, type Scorer } from '../../src/eval/measure.js';
import { multipleChoiceAccuracy, readMultipleChoice } from '../../src/eval/multiple-choice.js';
import { NEIGHBORHOOD, readFlatCases, type EditCase } from '../../src/eval/cases.js';
import type { Tokenizer } from '../../src/io/tokenizer.js';
import { runSetting } from '../../src/editor/settings.js';
import { Editor } from '../../src/editor/editor.js';
import { FileSecondMoments } from '../../src/stats/index.js';
import { loadModel } from '../../src/models/index.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import { GOLDEN, KBGPT, REPO_ROOT } from '../data.js';

// A model whose logits we construct: the next-token logits depend only on the previous token (a bigram table),
// over four words a b c d, so every probability and arg-max below is computed by hand.
const WORDS = ['a', 'b', 'c', 'd'];
const L3 = Math.log(3);
const fakeTok = {
  encode: (s: string) => s.trim().split(/\s+/).map((w) => {
    const i = WORDS.indexOf(w);
    if (i < 0) throw new Error(`unknown word ${w}`);
    return i;
  }),
} as unknown as Tokenizer;

function bigramScorer(table: number[][]): Scorer {
  return (reqs) => reqs.map((r) => {
    const logprobs: number[] = [];
    const argmax: number[] = [];
    r.continuation.forEach((tok, j) => {
      const row = table[j === 0 ? r.prompt[r.prompt.length - 1] : r.continuation[j - 1]];
      const lse = Math.log(row.reduce((a, x) => a + Math.exp(x), 0));
      logprobs.push(row[tok] - lse);
      argmax.push(row.indexOf(Math.max(...row)));
    });
    const sum = logprobs.reduce((a, b) => a + b, 0);
    return { logprobs, argmax, sum, mean: sum / logprobs.length };
  });
}

// before: a → c (P 1/2; b 1/6)         after: a → b (P 1/2; c 1/6)
//         d → d (b and c tie at 1/5)          unchanged
//         c → d (P 4/7)                       c → b (P(b) 5/11 beats P(d) 4/11)
//         b → c (P 2/5, d 1/5)                unchanged
const PRE = [[0, 0, L3, 0], [0, 0, Math.log(2), 0], [0, 0, 0, Math.log(4)], [0, 0, 0, Math.log(2)]];
const POST = [[0, L3, 0, 0], PRE[1], [0, Math.log(5), 0, Math.log(4)], PRE[3]];
const CASE: EditCase = {
  caseId: 7,
  request: { prompt: '{}', subject: 'a', targetNew: 'b', groundTruth: 'c' },
  rephrases: ['d'],
  locality: { [NEIGHBORHOOD]: [{ prompt: 'c', groundTruth: 'd' }] },
  portability: { one_hop: [{ prompt: 'b', groundTruth: 'c', groundTruthBefore: 'd' }] },
  flags: {},
};

describe('protocols on a model whose logits are constructed', () => {
  const [pre] = measureCases(fakeTok, [CASE], bigramScorer(PRE));
  const [post] = measureCases(fakeTok, [CASE], bigramScorer(POST));
  const close = (a: number | undefined, b: number, what: string) => assert.ok(a !== undefined && Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);

  test('probe scores: log-probabilities and arg-max of the primary and comparison answers', () => {
    close(post.rewrite[0].primary.logprobs[0], Math.log(1 / 2), 'log P(b | a) after');
    close(post.rewrite[0].comparison!.logprobs[0], Math.log(1 / 6), 'log P(c | a) after');
    assert.deepEqual(pre.rewrite[0].primary.argmax, [2]);
    assert.deepEqual(post.locality[NEIGHBORHOOD][0].comparison!.ids, [1], 'locality compares against the new target');
  });

  test('ROME protocol: ES/PS/NS, magnitudes, portability against the pre-edit answer, S', () => {
    const m = romeCaseMetrics(post);
    assert.equal(m.ES, 1);
    close(m.EM, 1 / 2 - 1 / 6, 'EM');
    assert.equal(m.PS, 0, 'a tie is not a success');
    assert.equal(m.NS, 0);
    close(m.NM, 4 / 11 - 5 / 11, 'NM');
    assert.equal(m['portability.one_hop'], 1);
    const before = romeCaseMetrics(pre);
    assert.equal(before.ES, 0);
    assert.equal(before.NS, 1);
    const s = summarizeMetrics(romeProtocol, [m, before]);
    assert.equal(s.ES, 50);
    assert.equal(s.NS, 50);
    assert.equal(s.PS, 0);
    assert.equal(s.S, 0, 'harmonic mean is 0 when a part is 0');
  });

  test('a subject alias is compared against the true answer; other lists without a before-answer are not compared', () => {
    const c: EditCase = { ...CASE, portability: { subject_alias: [{ prompt: 'a', groundTruth: 'b' }], reasoning: [{ prompt: 'a', groundTruth: 'b' }] } };
    const [p0] = measureCases(fakeTok, [c], bigramScorer(PRE));
    const [p1] = measureCases(fakeTok, [c], bigramScorer(POST));
    assert.deepEqual(p1.portability.subject_alias[0].comparison!.ids, [2], "the request's true answer c");
    assert.equal(p1.portability.reasoning[0].comparison, undefined);
    assert.equal(romeCaseMetrics(p1)['portability.subject_alias'], 1, 'after: P(b|a) 1/2 > P(c|a) 1/6');
    assert.equal(romeCaseMetrics(p0)['portability.subject_alias'], 0, 'before: P(b|a) 1/6 < P(c|a) 1/2');
    assert.equal(romeCaseMetrics(p1)['portability.reasoning'], undefined);
    assert.equal(firstTokenProtocol.caseMetrics(p0, p1)['portability.subject_alias'], 1);
  });

  test('EasyEdit protocol: token accuracy, locality as unchanged arg-max, key means', () => {
    const m = easyEditCaseMetrics(pre, post);
    assert.deepEqual(m, { reliability: 1, generalization: 0, 'locality.neighborhood': 0, 'portability.one_hop': 1 });
    assert.deepEqual(easyEditCaseMetrics(pre, pre)['locality.neighborhood'], 1);
    const s = summarizeMetrics(easyEditProtocol, [m, easyEditCaseMetrics(pre, pre)]);
    assert.equal(s.reliability, 50);
    assert.equal(s.locality, 50);
    assert.equal(s.portability, 100);
    assert.equal(s.n, 2);
  });

  test("ROME's zsRE protocol: absolute neighbourhood accuracy", () => {
    const s = summarizeMetrics(romeZsreProtocol, [romeZsreProtocol.caseMetrics(pre, post)]);
    assert.deepEqual(s, { n: 1, efficacy: 100, paraphrase: 0, specificity: 0, score: 0 });
    const before = summarizeMetrics(romeZsreProtocol, [romeZsreProtocol.caseMetrics(pre, pre)]);
    assert.equal(before.specificity, 100);
  });

  test('multi-token answers: accuracy is the share of tokens, ROME compares mean NLLs', () => {
    assert.equal(tokenAccuracy({ ids: [1, 2, 3], logprobs: [0, 0, 0], argmax: [1, 0, 3] }), 2 / 3);
    assert.equal(unchangedShare({ ids: [1, 2], logprobs: [0, 0], argmax: [1, 2] }, { ids: [1, 2], logprobs: [0, 0], argmax: [1, 0] }), 0.5);
    assert.equal(harmonicMean([50, 100]), 100 / 1.5);
    assert.equal(harmonicMean([undefined, 80]), 80);
  });

  test("the reference golden runs' first-token definitions", () => {
    const m = firstTokenProtocol.caseMetrics(pre, post);
    assert.deepEqual(m, { success_prompt: 1, success_rephrase: 0, locality_argmax_unchanged: 0, 'portability.one_hop': 1 });
  });

  test('summaries of every protocol carry their tag', () => {
    const all = summarizeAll([{ pre, post }]);
    assert.deepEqual(Object.keys(all).sort(), ['easyedit-token', 'rome-counterfact-prob', 'rome-first-token', 'rome-zsre-token']);
    assert.equal(all['rome-counterfact-prob'].pre.ES, 0);
    assert.equal(all['rome-counterfact-prob'].post.ES, 100);
  });
});

describe('multiple choice (other-task locality)', () => {
  test('accuracy by total log-probability, from PIQA-style and generic JSONL', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lmedit-mc-'));
    const f = join(dir, 'piqa.jsonl');
    writeFileSync(f, [JSON.stringify({ goal: 'a', sol1: 'c', sol2: 'b' }), JSON.stringify({ goal: 'c', sol1: 'b', sol2: 'd' }), ''].join('\n'));
    writeFileSync(join(dir, 'piqa-labels.lst'), '0\n1\n');
    const items = readMultipleChoice(f);
    assert.deepEqual(items.map((i) => i.label), [0, 1]);
    assert.equal(multipleChoiceAccuracy(fakeTok, items, bigramScorer(PRE)).accuracy, 100);
    const after = multipleChoiceAccuracy(fakeTok, items, bigramScorer(POST));
    assert.deepEqual(after.predictions, [1, 0]);
    assert.equal(after.accuracy, 0);
    const g = join(dir, 'g.jsonl');
    writeFileSync(g, JSON.stringify({ question: 'a', choices: ['b', 'c', 'd'], label: 1 }) + '\n' + JSON.stringify({ question: 'a', choices: ['b'], label: 0 }) + '\n');
    assert.throws(() => readMultipleChoice(g), /g\.jsonl: line 2: field 'choices'/);
  });
});

describe('flat case files', () => {
  test('errors name the file, record and field', () => {
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
  const efficacy = (cs: typeof cases) => measureCases(tok, cs, modelScorer(model)).map((s) => romeCaseMetrics(s).ES === 1);
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
