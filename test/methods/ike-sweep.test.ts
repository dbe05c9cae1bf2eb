// The kbgpt-ctx IKE sweep behind hparams/IKE/kbgpt-ctx.yaml (docs/ike.md "Choosing k on kbgpt-ctx"). Slow (minutes on
// one CPU thread), so it runs only with LMEDIT_IKE_SWEEP=1 and prints its table:
//   LMEDIT_IKE_SWEEP=1 LMEDIT_NUM_THREADS=1 node --import tsx --test test/methods/ike-sweep.test.ts
// (LMEDIT_IKE_SWEEP_K=0,1,2 for some k only).
// Cases by position in kbgpt-ctx/edits.json, all disjoint from the evaluated ones (the first 200 known cases,
// positions 0–209): pool = positions 400–599, tuning = the first 30 known cases from position 300 (LMEDIT_IKE_SWEEP_N
// to take more; at most 95 stay before the pool). Metrics are
// EasyEdit's (compute_icl_edit_quality): teacher-forced token accuracy of the new target on the edit prompt
// (rewrite) and the paraphrase (rephrase); locality = share of the neighbour's answer tokens whose arg-max is the
// same with and without the context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel, TextLM, type TextModel } from '../../src/models/index.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import { readFlatCases, type EditCase } from '../../src/eval/cases.js';
import { validateHparams } from '../../src/methods/hparams.js';
import { normalizeRequest } from '../../src/methods/request.js';
import { ike, IKE_SCHEMA, poolRequests, selectPool, type IkeHparams } from '../../src/methods/ike/index.js';
import type { InferenceWrapper } from '../../src/methods/types.js';
import { SHARED_DATA } from '../data.js';

const KBGPT_CTX = join(SHARED_DATA, 'kbgpt-ctx');
const ON = process.env.LMEDIT_IKE_SWEEP === '1';

interface Row { config: string; rewrite: number; rephrase: number; locality: number; overflow: number }

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const tokenAccuracy = (argmax: number[], ids: number[]) => mean(ids.map((t, j) => (argmax[j] === t ? 1 : 0)));

function measure(inner: TextModel, wrapper: InferenceWrapper, c: EditCase): { rewrite: number; rephrase: number; locality: number } {
  const r = normalizeRequest(c.request, 0);
  const loc = c.locality.neighborhood[0];
  const gt = ` ${loc.groundTruth}`;
  const [rw, rp, lc] = wrapper.score(inner, [
    { prompt: r.text, continuation: r.targetNew },
    { prompt: c.rephrases[0], continuation: r.targetNew },
    { prompt: loc.prompt, continuation: gt },
  ]);
  const [plain] = inner.score([{ prompt: loc.prompt, continuation: gt }]);
  return { rewrite: tokenAccuracy(rw.argmax, rw.ids), rephrase: tokenAccuracy(rp.argmax, rp.ids), locality: tokenAccuracy(lc.argmax, plain.argmax) };
}

function run(inner: TextModel, h: IkeHparams, pool: ReturnType<typeof poolRequests>, tuning: EditCase[], config: string): Row {
  const scores = { rewrite: [] as number[], rephrase: [] as number[], locality: [] as number[] };
  let overflow = 0;
  for (const c of tuning) {
    const session = ike.open(undefined as never, h, { tokenizer: inner.tokenizer, seed: 0, pool });
    const edit = session.compute([normalizeRequest(c.request, 0)], { editId: String(c.caseId) });
    try {
      const m = measure(inner, edit.wrapper!, c);
      for (const k of ['rewrite', 'rephrase', 'locality'] as const) scores[k].push(m[k]);
    } catch (e) {
      if (!/more than the model's/.test((e as Error).message)) throw e;
      overflow++;
    }
  }
  return { config, rewrite: mean(scores.rewrite), rephrase: mean(scores.rephrase), locality: mean(scores.locality), overflow };
}

test('IKE sweep on kbgpt-ctx: k × retriever × selection × order on 30 held-out cases', { skip: !ON && 'set LMEDIT_IKE_SWEEP=1' }, () => {
  const tok = loadTokenizer(KBGPT_CTX);
  const inner = new TextLM(loadModel(KBGPT_CTX), tok);
  const cases = readFlatCases(join(KBGPT_CTX, 'edits.json'));
  const evaluated = cases.filter((c) => c.flags.known_prompt !== false).slice(0, 200);
  const pool = poolRequests(selectPool(cases, '400:600'));
  const tuning = cases.slice(300).filter((c) => c.flags.known_prompt !== false).slice(0, Number(process.env.LMEDIT_IKE_SWEEP_N ?? 30));
  const lastEvaluated = cases.indexOf(evaluated[evaluated.length - 1]);
  assert.ok(lastEvaluated < 300 && cases.indexOf(tuning[tuning.length - 1]) < 400, 'evaluated, tuning and pool cases are disjoint');
  const rows: Row[] = [];
  const ks = (process.env.LMEDIT_IKE_SWEEP_K ?? '0,1,2,3,4,5,6').split(',').map(Number);
  for (const k of ks) {
    for (const retriever of k === 0 ? ['bm25'] : ['bm25', 'tfidf']) {
      for (const demo_selection of k === 0 ? ['sentences'] : ['sentences', 'records']) {
        for (const demo_order of k === 0 ? ['most_similar_first'] : ['most_similar_first', 'most_similar_last']) {
          const h = validateHparams<IkeHparams>({ k, retriever, demo_selection, demo_order }, IKE_SCHEMA, 'sweep');
          const row = run(inner, h, pool, tuning, k === 0 ? 'k=0 (fact only)' : `k=${k} ${retriever} ${demo_selection} ${demo_order}`);
          rows.push(row);
          console.log(`| ${row.config} | ${(100 * row.rewrite).toFixed(1)} | ${(100 * row.rephrase).toFixed(1)} | ${(100 * row.locality).toFixed(1)} | ${row.overflow} |`);
        }
      }
    }
  }
  assert.equal(rows.length > 0, true);
});
