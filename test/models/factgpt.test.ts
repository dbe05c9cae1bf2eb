// factgpt: a GPT-2-architecture model trained on real CounterFact facts, with GPT-2's real tokenizer. Its forward
// pass must match golden/factgpt.json and it must answer the facts facts.json says it knows.
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, generate, scoreContinuations, nextTokenLogprobs, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { noGrad, tidy } from '../../src/tensor/index.js';
import { FACTGPT, GOLDEN } from '../data.js';

const golden = JSON.parse(readFileSync(join(GOLDEN, 'factgpt.json'), 'utf8'));
const facts = JSON.parse(readFileSync(join(FACTGPT, 'facts.json'), 'utf8'));

describe('factgpt', () => {
  let model: CausalLM;
  let tok: Tokenizer;
  before(() => {
    model = loadModel(FACTGPT);
    tok = loadTokenizer(FACTGPT);
  });
  after(() => model.dispose());

  test('tokenization equals the golden ids', () => {
    for (const p of golden.prompts) assert.deepEqual(tok.encode(p.prompt), p.input_ids, p.prompt);
  });

  test('top-10 logits, logsumexp, NLL and residual norms match golden/factgpt.json', () => {
    for (const p of golden.prompts) {
      const r = tidy(() => noGrad(() => {
        const out = model.forward({ inputIds: [p.input_ids], residuals: true });
        const logits = out.logits!.select(0, 0);
        const last = logits.select(0, -1);
        const top = last.topk(10);
        const n = p.input_ids.length;
        const logp = logits.narrow(0, 0, n - 1).logSoftmax(-1);
        const targets = p.input_ids.slice(1);
        const nll = n > 1 ? -targets.reduce((s: number, t: number, i: number) => s + logp.select(0, i).select(0, t).item(), 0) / (n - 1) : 0;
        return {
          ids: top.indices.toFlatArray(),
          values: top.values.toFlatArray(),
          lse: last.logsumexp(0).item(),
          nll,
          resid: out.residuals!.map((h) => h.select(0, 0).select(0, -1).norm().item()),
          lnf: out.hidden.select(0, 0).select(0, -1).norm().item(),
        };
      }));
      assert.deepEqual(r.ids, p.top10_ids, p.prompt);
      r.values.forEach((v, i) => assert.ok(Math.abs(v - p.top10_logits[i]) < 1e-4, `${p.prompt}: logit ${i} ${v} vs ${p.top10_logits[i]}`));
      assert.ok(Math.abs(r.lse - p.last_logsumexp) < 1e-4);
      assert.ok(Math.abs(r.nll - p.mean_next_token_nll) < 1e-4, `${p.prompt}: NLL ${r.nll} vs ${p.mean_next_token_nll}`);
      assert.ok(Math.abs(r.resid[0] - p.embedding_norm_last) < 1e-4 * Math.max(1, p.embedding_norm_last));
      p.residual_norm_after_block.forEach((v: number, i: number) =>
        assert.ok(Math.abs(r.resid[i + 1] - v) < 1e-4 * Math.max(1, v), `${p.prompt}: block ${i} norm ${r.resid[i + 1]} vs ${v}`));
      assert.ok(Math.abs(r.lnf - p.ln_f_output_norm_last) < 1e-4 * Math.max(1, p.ln_f_output_norm_last));
    }
  });

  test('greedy continuations equal the recorded ones, and decode to the recorded text', () => {
    for (const g of golden.greedy) {
      const [ids] = generate(model, [g.input_ids], { maxNewTokens: g.generated_ids.length, eosTokenId: null });
      assert.deepEqual(ids, g.generated_ids, g.prompt);
      assert.equal(tok.decode(ids), g.generated_text);
    }
  });

  test('answers the facts facts.json says it knows (first 200 records)', () => {
    const records = facts.records.slice(0, 200);
    const prompts = records.map((r: any) => tok.encode(r.prompt));
    const logp = nextTokenLogprobs(model, prompts);
    const argmax = logp.argmax(-1).toFlatArray();
    let agree = 0;
    records.forEach((r: any, i: number) => {
      const known = argmax[i] === r.ground_truth_first_token;
      if (known === r.known_prompt) agree++;
      const p = Math.exp(logp.select(0, i).select(0, r.ground_truth_first_token).item());
      assert.ok(Math.abs(p - r.p_ground_truth) < 2e-3, `record ${r.case_id}: P(ground truth) ${p} vs ${r.p_ground_truth}`);
    });
    logp.dispose();
    assert.equal(agree, records.length, 'known_prompt flags reproduced');
  });

  test('teacher-forced scoring: batched equals one at a time, and the answer beats the counterfactual', () => {
    const records = facts.records.slice(0, 12);
    const reqs = records.flatMap((r: any) => [
      { prompt: tok.encode(r.prompt), continuation: tok.encode(' ' + r.ground_truth) },
      { prompt: tok.encode(r.prompt), continuation: tok.encode(' ' + r.target_new) },
    ]);
    const batched = scoreContinuations(model, reqs, { batchSize: 8 });
    const single = reqs.map((r: any) => scoreContinuations(model, [r])[0]);
    batched.forEach((b, i) => b.logprobs.forEach((lp, j) => assert.ok(Math.abs(lp - single[i].logprobs[j]) < 1e-4)));
    for (let i = 0; i < records.length; i++) {
      if (records[i].known_prompt) assert.ok(batched[2 * i].mean > batched[2 * i + 1].mean, records[i].prompt);
    }
  });
});
