// MeLLo (src/methods/mello): the control flow of the loop on a SCRIPTED fake text model whose generations are fixed
// per round (no language model here follows MeLLo's format), so that every branch is observable: retrieval hit,
// contradiction, no contradiction, a "Retrieved fact:" the model writes itself, no subquestion, the hop limit; the
// rebuilt transcript; the shared memory (rollback, state round trip); the registry and hparams.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import type { TextModel, TextScoreRequest } from '../../src/models/index.js';
import { readHparamsFile, validateHparams } from '../../src/methods/hparams.js';
import { normalizeRequest } from '../../src/methods/request.js';
import {
  BUILTIN_PROMPT, cutGeneration, firstTranscript, mello, MELLO_SCHEMA, MelloWrapper, taskPrompt, type MelloHparams,
} from '../../src/methods/mello/index.js';
import { methodFor } from '../../src/editor/methods.js';
import { REPO_ROOT, SHARED_DATA } from '../data.js';

const tok = loadTokenizer(join(SHARED_DATA, 'kbgpt-ctx'));
const hparams = (raw: Record<string, unknown> = {}) => validateHparams<MelloHparams>({ alg_name: 'MELLO', prompt_examples: 0, ...raw }, MELLO_SCHEMA, 'test');
const GUS = normalizeRequest({ prompt: 'Gus Hale was born in', subject: 'Gus Hale', targetNew: 'Paris', groundTruth: 'Bern', caseId: 'g' }, 0);
const ADA = normalizeRequest({ prompt: 'Ada Vance plays the', subject: 'Ada Vance', targetNew: 'violin', groundTruth: 'piano', caseId: 'a' }, 1);
const Q = 'What is the official language of the country where Gus Hale was born?';

/**
 * A scripted fake text model: round r (counted by the "Retrieved fact: " lines lmedit has put into the transcript)
 * generates script[r] (the last entry again past the end). It records every prompt.
 */
function scripted(script: string[]): TextModel & { prompts: string[]; scored: TextScoreRequest[] } {
  const prompts: string[] = [];
  const scored: TextScoreRequest[] = [];
  return {
    tokenizer: tok, maxPositions: Infinity, prompts, scored,
    generate: (ps) => ps.map((p) => {
      prompts.push(p);
      const round = p.split('\nRetrieved fact: ').length - 1;
      const text = script[Math.min(round, script.length - 1)];
      return { ids: tok.encode(text), text };
    }),
    score: (rs) => rs.map((r) => { scored.push(r); return { logprobs: [0], sum: 0, mean: 0, argmax: [0], ids: [0] }; }),
  };
}

function wrapperWith(raw: Record<string, unknown> = {}, requests = [GUS, ADA]): MelloWrapper {
  const s = mello.open(undefined as never, hparams(raw), { tokenizer: tok, seed: 0 });
  let w: MelloWrapper | undefined;
  requests.forEach((r, i) => { w = s.compute([r], { editId: `e${i + 1}` }).wrapper as MelloWrapper; });
  return w!;
}

const HOP0 = 'Subquestion: Where was Gus Hale born?\nGenerated answer: Gus Hale was born in Bern.\n';
const HOP1 = 'Retrieved fact contradicts to generated answer, so the intermediate answer is: Paris\nSubquestion: What is the official language of France?\nGenerated answer: The official language of France is French.\n';
const HOP2 = 'Retrieved fact does not contradict to generated answer, so the intermediate answer is: French\nFinal answer: French\n\nQuestion: something else';

describe('MeLLo loop on a scripted fake model', () => {
  test('retrieval hit, contradiction, no contradiction, final answer; the transcript rebuilt each round', () => {
    const w = wrapperWith();
    const inner = scripted([HOP0, HOP1, HOP2]);
    const [g] = w.generate(inner, [Q]);
    assert.equal(g.text, ' French');
    const [t] = w.lastTraces;
    assert.equal(t.outcome, 'answer');
    assert.equal(t.answer, 'French');
    assert.equal(t.hops.length, 3);
    assert.deepEqual(
      t.hops.map((h) => [h.subquestion, h.generatedAnswer, h.retrievedFact, h.contradiction, h.intermediate]),
      [
        ['Where was Gus Hale born?', 'Gus Hale was born in Bern.', 'Gus Hale was born in Paris', true, 'Paris'],
        // an unrelated edited fact (the nearest by BM25): the model finds no contradiction
        ['What is the official language of France?', 'The official language of France is French.', 'Ada Vance plays the violin', false, 'French'],
        [undefined, undefined, undefined, undefined, undefined],
      ],
    );
    const first = firstTranscript('', Q);
    assert.equal(first, `Question: ${Q}\n`);
    assert.deepEqual(inner.prompts, [
      first,
      `${first}${HOP0.trimEnd()}\nRetrieved fact: Gus Hale was born in Paris.\n`,
      `${first}${HOP0.trimEnd()}\nRetrieved fact: Gus Hale was born in Paris.\n${HOP1.trimEnd()}\nRetrieved fact: Ada Vance plays the violin.\n`,
    ]);
    // the generation is cut at the blank line: the next example is not part of the answer
    assert.ok(!t.transcript.includes('something else'));
  });

  test('a "Retrieved fact:" the model writes itself is cut; the retrieved one takes its place', () => {
    const w = wrapperWith();
    const own = `${HOP0}Retrieved fact: Gus Hale was born in Bern.\nRetrieved fact does not contradict`;
    assert.equal(cutGeneration(own), HOP0);
    assert.equal(cutGeneration('Final answer: X<|endoftext|>junk'), 'Final answer: X');
    const inner = scripted([own, 'Retrieved fact contradicts to generated answer, so the intermediate answer is: Paris\nFinal answer: Paris']);
    w.generate(inner, [Q]);
    assert.ok(!inner.prompts[1].includes('Bern.\nRetrieved fact: Gus Hale was born in Bern'));
    assert.ok(inner.prompts[1].endsWith('Generated answer: Gus Hale was born in Bern.\nRetrieved fact: Gus Hale was born in Paris.\n'));
    assert.equal(w.lastTraces[0].answer, 'Paris');
    assert.equal(w.lastTraces[0].hops[0].contradiction, true);
  });

  test('no subquestion: the question fails with an empty answer', () => {
    const w = wrapperWith();
    const [g] = w.generate(scripted(['French is spoken there.\n']), [Q]);
    assert.equal(g.text, '');
    assert.equal(w.lastTraces[0].outcome, 'no-subquestion');
    assert.equal(w.lastTraces[0].answer, undefined);
  });

  test('the hop limit: max_hops rounds of subquestions without a final answer', () => {
    const w = wrapperWith({ max_hops: 3 });
    const inner = scripted([HOP0]);
    const [g] = w.generate(inner, [Q]);
    assert.equal(g.text, '');
    assert.equal(w.lastTraces[0].outcome, 'hop-limit');
    assert.equal(w.lastTraces[0].hops.length, 3);
    assert.equal(inner.prompts.length, 3);
  });

  test('top-1 retrieval picks the fact about the subquestion', () => {
    const w = wrapperWith();
    assert.equal(w.retrieve('Which instrument does Ada Vance play?'), 'Ada Vance plays the violin');
    assert.equal(w.retrieve('Where was Gus Hale born?'), 'Gus Hale was born in Paris');
  });

  test('score: the continuation after the transcript and "Final answer:"', () => {
    const w = wrapperWith();
    const inner = scripted([HOP0, HOP1, HOP2]);
    w.score(inner, [{ prompt: Q, continuation: ' French' }]);
    assert.equal(inner.scored.length, 1);
    assert.ok(inner.scored[0].prompt.endsWith('so the intermediate answer is: French\nFinal answer:'), inner.scored[0].prompt);
    assert.equal(inner.scored[0].continuation, ' French');
  });

  test('an empty memory passes questions through; rollback; state round trip', () => {
    const s = mello.open(undefined as never, hparams(), { tokenizer: tok, seed: 0 });
    const w = s.compute([GUS], { editId: 'e1' }).wrapper as MelloWrapper;
    s.compute([ADA], { editId: 'e2' });
    assert.deepEqual(w.memory().map((f) => f.sentence), ['Gus Hale was born in Paris', 'Ada Vance plays the violin']);
    const copy = MelloWrapper.fromState(w.state());
    assert.deepEqual(copy.state(), w.state());
    w.removeEdit('e1');
    assert.equal(w.retrieve('Where was Gus Hale born?'), 'Ada Vance plays the violin');
    w.removeEdit('e2');
    const inner = scripted(['plain']);
    assert.equal(w.generate(inner, ['Gus Hale was born in'])[0].text, 'plain');
    assert.deepEqual(inner.prompts, ['Gus Hale was born in']);
    assert.throws(() => MelloWrapper.fromState({ tensors: {}, meta: {} }), /not a MeLLo wrapper state/);
  });
});

describe('MeLLo prompt, registry, hparams', () => {
  test('the built-in task prompt has the original format; examples can be cut', () => {
    assert.ok(BUILTIN_PROMPT.startsWith('Question: '));
    for (const s of ['Subquestion: ', 'Generated answer: ', 'Retrieved fact: ', 'Retrieved fact contradicts to generated answer, so the intermediate answer is: ', 'Final answer: ']) assert.ok(BUILTIN_PROMPT.includes(s), s);
    assert.equal(taskPrompt(null, 0), '');
    assert.equal(taskPrompt(null, 1).split('\n\n').length, 1);
    assert.equal(taskPrompt(null, -1), BUILTIN_PROMPT);
    assert.equal(firstTranscript('P', 'q?'), 'P\n\nQuestion: q?\n');
  });

  test('registry and checks', () => {
    assert.equal(methodFor('MeLLo').method, mello);
    assert.throws(() => mello.check(undefined as never, hparams({ retriever: 'embedding' }), 'f.yaml'), /f.yaml: retriever 'embedding' needs a sentence encoder/);
    const raw = readHparamsFile(join(REPO_ROOT, 'hparams/MELLO/kbgpt-ctx.yaml')).raw;
    mello.check(undefined as never, validateHparams<MelloHparams>(raw, MELLO_SCHEMA, 'kbgpt-ctx.yaml'), 'kbgpt-ctx.yaml');
  });
});
