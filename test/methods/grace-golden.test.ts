// GRACE against the original Thartvigsen/GRACE code (golden/grace-kbgpt.json): six sequential edits into one codebook
// at transformer.h.4.mlp.c_fc of kbgpt, warm values, n_iter 100, edit_lr 1, at eps 1 (every edit adds a key) and
// eps 10 (conflicting labels split radii). Tolerances from golden/README.md: codebook sizes equal; radii, key norms
// and the first loss within 1e-3 relative; next-token probabilities after each edit (the prompt alone, query at its
// last token) within 0.02 absolute, for the new case and every earlier one; the last loss below 0.1 where the
// reference's is. Value norms and final key distances are checked too (1e-2 / 1e-3 relative).
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, nextTokenLogprobs, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { tidy } from '../../src/tensor/index.js';
import { grace, GraceAdaptor, type GraceHparams } from '../../src/methods/grace/index.js';
import { validateHparams } from '../../src/methods/hparams.js';
import { normalizeRequest } from '../../src/methods/request.js';
import type { MethodSession } from '../../src/methods/types.js';
import { GOLDEN, KBGPT } from '../data.js';

const golden = JSON.parse(readFileSync(join(GOLDEN, 'grace-kbgpt.json'), 'utf8'));
const WHERE = { prompt: 'prompt', rephrase: 'rephrase_prompt', locality: 'locality_prompt' } as const;
const relErr = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

interface Measured { p_target_new: number; p_ground_truth: number; argmax_id: number }

/** P(first token of target_new), P(first token of the true answer) and the arg-max after each probe prompt. */
function measure(model: CausalLM, tok: Tokenizer, e: any): Record<keyof typeof WHERE, Measured> {
  const truth = (w: string) => (w === 'locality' ? e.locality_ground_truth : e.ground_truth);
  return tidy(() => {
    const lp = nextTokenLogprobs(model, Object.values(WHERE).map((k) => tok.encode(e[k]))).to('float64');
    const out = {} as Record<keyof typeof WHERE, Measured>;
    Object.keys(WHERE).forEach((w, i) => {
      const row = lp.select(0, i);
      const p = (s: string) => Math.exp(row.select(0, tok.encode(` ${s}`)[0]).item());
      out[w as keyof typeof WHERE] = { p_target_new: p(e.target_new), p_ground_truth: p(truth(w)), argmax_id: row.argmax().item() };
    });
    return out;
  });
}

/** The largest deviations seen in a run (reported by its last test). */
type Worst = Record<'epsilon' | 'keyNorm' | 'valueNorm' | 'lossFirst' | 'lossTrace' | 'probability' | 'keyDistance', number> & { argmaxAgree: number; argmaxTotal: number };
const newWorst = (): Worst => ({ epsilon: 0, keyNorm: 0, valueNorm: 0, lossFirst: 0, lossTrace: 0, probability: 0, keyDistance: 0, argmaxAgree: 0, argmaxTotal: 0 });

function within(worst: Worst, what: keyof Worst, err: number, limit: number, message: string): void {
  worst[what] = Math.max(worst[what], err);
  assert.ok(err < limit, message);
}

function assertProbabilities(worst: Worst, got: Record<string, Measured>, ref: Record<string, Measured>, what: string): void {
  for (const w of Object.keys(WHERE)) {
    for (const k of ['p_target_new', 'p_ground_truth'] as const) {
      within(worst, 'probability', Math.abs(got[w][k] - ref[w][k]), 0.02, `${what} ${w} ${k}: ${got[w][k]} vs ${ref[w][k]}`);
    }
    worst.argmaxTotal++;
    if (got[w].argmax_id === ref[w].argmax_id) worst.argmaxAgree++;
  }
}

function checkRun(run: any) {
  let model: CausalLM;
  let tok: Tokenizer;
  let session: MethodSession;
  let adaptor: GraceAdaptor | undefined;
  let uninstall: (() => void) | undefined;
  const worst = newWorst();
  const h = validateHparams<GraceHparams>({ alg_name: 'GRACE', inner_params: [golden.layer_module], ...run.config }, grace.schema, 'grace-kbgpt.json');

  before(() => {
    model = loadModel(KBGPT);
    tok = loadTokenizer(KBGPT);
    grace.check(model, h, 'grace-kbgpt.json');
    session = grace.open(model, h, { tokenizer: tok, seed: golden.seed });
  });
  after(() => {
    uninstall?.();
    session.dispose();
    adaptor?.dispose();
    model.dispose();
  });

  test('the unedited model measures as the reference', () => {
    for (const e of run.edits) assertProbabilities(worst, measure(model, tok, e), run.before[String(e.case_id)], `before, case ${e.case_id}`);
  });

  for (const [i, e] of (run.edits as any[]).entries()) {
    test(`edit ${i} (case ${e.case_id}): ${e.prompt} → ${e.target_new}`, () => {
      const request = normalizeRequest({ prompt: e.prompt, subject: e.subject, targetNew: e.target_new, groundTruth: e.ground_truth, caseId: e.case_id }, i);
      const edit = session.compute([request], { editId: `edit-${i + 1}` });
      adaptor = edit.patches![0] as GraceAdaptor;
      if (!model.isInstalled(adaptor)) uninstall = model.install(adaptor);
      const d = edit.diagnostics[0];
      const x = d.extra as any;
      assert.equal(x.keyPosition, e.key_position, 'key position');
      const ref = e.codebook_after;
      assert.equal(adaptor.book.size, ref.n_keys, 'codebook size');
      adaptor.book.epsilons().forEach((eps, k) => within(worst, 'epsilon', relErr(eps, ref.epsilons[k]), 1e-3, `ε[${k}] ${eps} vs ${ref.epsilons[k]}`));
      const norms = tidy(() => adaptor!.book.entries.map((en) => [en.key.norm().item(), en.value.norm().item()]));
      norms.forEach(([kn, vn], k) => {
        within(worst, 'keyNorm', relErr(kn, ref.key_norms[k]), 1e-3, `key norm [${k}] ${kn} vs ${ref.key_norms[k]}`);
        within(worst, 'valueNorm', relErr(vn, ref.value_norms[k]), 1e-2, `value norm [${k}] ${vn} vs ${ref.value_norms[k]}`);
      });
      within(worst, 'lossFirst', relErr(x.lossFirst, e.loss_first), 1e-3, `loss_first ${x.lossFirst} vs ${e.loss_first}`);
      assert.equal(d.lossTrace!.length, h.n_iter, 'one loss per iteration');
      if (e.loss_last < 0.1) assert.ok(x.lossLast < 0.1, `loss_last ${x.lossLast} (reference ${e.loss_last})`);
      d.lossTrace!.filter((_, k) => k % 10 === 0).forEach((s, k) => {
        const ref10 = e.loss_trace_every_10[k];
        within(worst, 'lossTrace', Math.abs(s.loss - ref10) / Math.max(1, ref10), 1e-2, `loss at step ${s.step}: ${s.loss} vs ${ref10}`);
      });
      assertProbabilities(worst, measure(model, tok, e), e.after_this_edit, 'after this edit');
      for (const earlier of (run.edits as any[]).slice(0, i + 1)) {
        assertProbabilities(worst, measure(model, tok, earlier), e.all_so_far[String(earlier.case_id)], `after edit ${i}, case ${earlier.case_id}`);
      }
    });
  }

  test('final key distances; the largest deviations of the run', (t) => {
    const keys = adaptor!.book.entries.map((en) => en.key);
    tidy(() => run.key_distances_final.forEach((row: number[], a: number) => row.forEach((ref, b) => {
      const dist = keys[a].sub(keys[b]).norm().item();
      if (a === b) assert.equal(dist, 0);
      else within(worst, 'keyDistance', relErr(dist, ref), 1e-3, `‖k${a} − k${b}‖ ${dist} vs ${ref}`);
    })));
    t.diagnostic(`eps ${run.config.eps}: ${JSON.stringify(worst)}`);
  });
}

for (const run of golden.runs) {
  describe(`GRACE vs the original on kbgpt, eps ${run.config.eps}`, () => checkRun(run));
}
