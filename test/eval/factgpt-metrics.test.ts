// The probe measurement and the metrics on a real model: factgpt's facts.json records, per fact, quantities measured
// independently of lmedit (PROVENANCE: first-token softmax probabilities of both answers, whether the arg-max after
// each prompt is the answer's first token, whether teacher-forced arg-max reproduces every answer token). lmedit's
// probe scores, token accuracy and first-token protocol must say the same.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { readFlatCases, NEIGHBORHOOD, type EditCase } from '../../src/eval/cases.js';
import { measureCases, modelScorer, tokenAccuracy, type CaseScores } from '../../src/eval/measure.js';
import { summarizeAll } from '../../src/eval/protocols.js';
import { FACTGPT } from '../data.js';

// factgpt knows 99.5% of its facts: take the first 40 and every record with a flag that is false, so that each flag
// is checked both ways
const all = JSON.parse(readFileSync(join(FACTGPT, 'facts.json'), 'utf8')).records as any[];
const FLAGS = ['known_prompt', 'known_rephrase', 'known_locality', 'greedy_prompt', 'greedy_rephrase', 'greedy_locality'];
const picked = all.map((r, i) => (i < 40 || FLAGS.some((f) => r[f] === false) ? i : -1)).filter((i) => i >= 0);
const records = picked.map((i) => all[i]);
const N = records.length;

describe('metrics on factgpt agree with facts.json', () => {
  let model: CausalLM;
  let tok: Tokenizer;
  let cases: EditCase[];
  let scores: CaseScores[];
  before(() => {
    model = loadModel(FACTGPT);
    tok = loadTokenizer(FACTGPT);
    const flat = readFlatCases(join(FACTGPT, 'facts.json'));
    cases = picked.map((i) => flat[i]);
    scores = measureCases(tok, cases, modelScorer(model));
  });

  test('the records hold every flag both ways (the test can tell them apart)', () => {
    for (const f of FLAGS) assert.ok(records.some((r) => r[f] === true) && records.some((r) => r[f] === false), f);
    cases.forEach((c, i) => assert.equal(c.caseId, records[i].case_id));
  });

  test('first-token probabilities of the true and the new answer', () => {
    records.forEach((r, i) => {
      const s = scores[i].rewrite[0];
      assert.equal(s.comparison!.ids[0], r.ground_truth_first_token, `case ${r.case_id}: true answer's first token`);
      assert.equal(s.primary.ids[0], r.target_new_first_token, `case ${r.case_id}: new target's first token`);
      for (const [got, want, what] of [[s.comparison!.logprobs[0], r.p_ground_truth, 'true'], [s.primary.logprobs[0], r.p_target_new, 'new']] as const) {
        assert.ok(Math.abs(Math.exp(got) - want) <= 1e-5 + 1e-3 * want, `case ${r.case_id}: P(${what}) ${Math.exp(got)} vs ${want}`);
      }
    });
  });

  test('known_X = arg-max is the first answer token; greedy_X = token accuracy 1 (prompt, rephrase, locality)', () => {
    records.forEach((r, i) => {
      const s = scores[i];
      const gt = s.rewrite[0].comparison!;
      assert.equal(gt.argmax[0] === gt.ids[0], r.known_prompt, `case ${r.case_id}: known_prompt`);
      assert.equal(tokenAccuracy(gt) === 1, r.greedy_prompt, `case ${r.case_id}: greedy_prompt`);
      const reph = s.rephrase[0].comparison!;
      assert.equal(reph.argmax[0] === reph.ids[0], r.known_rephrase, `case ${r.case_id}: known_rephrase`);
      assert.equal(tokenAccuracy(reph) === 1, r.greedy_rephrase, `case ${r.case_id}: greedy_rephrase`);
      const loc = s.locality[NEIGHBORHOOD][0].primary;
      assert.equal(loc.argmax[0] === loc.ids[0], r.known_locality, `case ${r.case_id}: known_locality`);
      assert.equal(tokenAccuracy(loc) === 1, r.greedy_locality, `case ${r.case_id}: greedy_locality`);
    });
  });

  test('protocol summaries of the unedited model follow from the records', () => {
    const m = summarizeAll(scores.map((s) => ({ pre: s, post: s })));
    const pct = (k: number) => (100 * k) / N;
    // first-token protocol: success when the new target's first token is more likely than the true one's
    assert.equal(m['rome-first-token'].pre.success_prompt, pct(records.filter((r) => r.p_target_new > r.p_ground_truth).length));
    // EasyEdit: nothing edited, so locality is 100; reliability is the new target's token accuracy, 0 for a first
    // token the model does not predict
    assert.equal(m['easyedit-token'].post.locality, 100);
    const rel = scores.map((s) => tokenAccuracy(s.rewrite[0].primary));
    assert.ok(Math.abs(m['easyedit-token'].pre.reliability - (100 * rel.reduce((a, b) => a + b, 0)) / N) < 1e-9);
    // ROME protocol on known facts: the true answer is far more likely, so efficacy is low
    assert.ok(m['rome-counterfact-prob'].pre.ES < 20, `ES before editing ${m['rome-counterfact-prob'].pre.ES}`);
  });
});
