// EMMET's mechanism on kbgpt (src/methods/emmet): the equality-constrained closed form
//   ΔW = R (K_Eᵀ C⁻¹ K_E + λI)⁻¹ K_Eᵀ C⁻¹,   R = V_E − W K_E
// is ROME's rank-one update for one edit, meets every constraint W' k_i = v_i of a batch exactly at λ = 0 (and
// reports how far it is from them at λ > 0), spreads the residual over layers so that the last layer's output
// reaches z; and through the Editor: save → load gives identical logits, rollback restores the weights bit-exactly.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, nextTokenLogprobs, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { fromFile, keep, linalg, noGrad, randn, tensor, tidy, Generator, type Tensor } from '../../src/tensor/index.js';
import { readSafetensorsHeader } from '../../src/io/safetensors.js';
import { normalizeRequest, type NormalizedRequest } from '../../src/methods/request.js';
import { computeKeys, currentZ } from '../../src/methods/memit/parts.js';
import { InverseCovarianceCache, leftVector } from '../../src/methods/rome/key.js';
import { rankOneDelta } from '../../src/methods/rome/update.js';
import { applyDelta, denseDelta } from '../../src/methods/delta.js';
import { emmet, emmetDelta, emmetFactors, preservationInverse, type EmmetHparams } from '../../src/methods/emmet/index.js';
import { validateHparams } from '../../src/methods/hparams.js';
import type { SecondMomentProvider } from '../../src/methods/types.js';
import { Editor } from '../../src/editor/editor.js';
import { loadEditedModel } from '../../src/editor/persist.js';
import { GOLDEN, KBGPT, REPO_ROOT } from '../data.js';

const MODULE = 'transformer.h.0.mlp.c_proj';
const PARAM = `${MODULE}.weight`; // GPT-2 Conv1D: [in 1024, out 256], output = k W + b
const CASES: [string, string, string][] = [
  ['{} was born in the city of', 'Roderick Zielinski', 'Prague'],
  ['{} was born in the city of', 'Helga Dunmore', 'Tehran'],
  ['The employer of {} is', 'Marisol Engstrom', 'Amazon'],
];
const requests: NormalizedRequest[] = CASES.map(([prompt, subject, targetNew], i) => normalizeRequest({ prompt, subject, targetNew }, i));
const GROUPS = [['{}', 'In other news. {}', 'I think that {}']];

let model: CausalLM;
let tok: Tokenizer;
let mom2: Tensor;
let stats: SecondMomentProvider;
const inverses = new InverseCovarianceCache();
before(() => {
  model = loadModel(KBGPT);
  tok = loadTokenizer(KBGPT);
  const file = join(GOLDEN, 'kbgpt-layer0-mom2.safetensors'); // kbgpt's layer-0 statistics as the reference computed them
  const h = readSafetensorsHeader(file);
  const e = h.tensors.get('mom2')!;
  mom2 = keep(fromFile(file, e.byteOffset, 'float32', e.shape));
  stats = {
    get(_m, module) {
      if (module !== MODULE) throw new Error(`no statistics for ${module} in this test`);
      return { mom2, count: Number(h.metadata.count), key: 'golden:kbgpt-layer0' };
    },
  };
});
after(() => { inverses.dispose(); mom2.dispose(); model.dispose(); });

/** Real template-averaged keys K [in, n], their outputs W K [out, n] (float64, no bias: it cancels in R) and C⁻¹. */
function system(n: number, h = { mom2_update_weight: 1, update_norm_lambda: 0 }) {
  const K = computeKeys(model, { tokenizer: tok, seed: 0 }, requests.slice(0, n), GROUPS, MODULE, 'subject_last').to('float64').t();
  const WK = model.parameter(PARAM).to('float64').t().matmul(K);
  const V = WK.add(randn(WK.shape, { generator: new Generator(3), dtype: 'float64' }).mul(2)); // targets v_i
  return { K, WK, V, Cinv: preservationInverse(inverses, { key: 'golden:kbgpt-layer0', mom2 }, K.shape[0], h) };
}

describe('the closed form', () => {
  test('one edit at emmet_lambda 0 is ROME\'s rank-one update (u = C⁻¹k/‖C⁻¹k‖), for any mom2_update_weight', () => tidy(() => noGrad(() => {
    // ROME:  ΔW = u (v − Wk)ᵀ / (k·u) = C⁻¹k (v − Wk)ᵀ / (kᵀC⁻¹k)   (Conv1D layout [in, out])
    // EMMET: ΔW = C⁻¹k (kᵀC⁻¹k)⁻¹ (v − Wk)ᵀ — the same matrix; a scale w of C cancels (C⁻¹/w over kᵀC⁻¹k/w), and
    // nothing else enters at λ = 0, μ = 0. (At λ > 0 EMMET is ROME scaled by d/(d + λ), d = kᵀ(wC)⁻¹k: next test.)
    const { K, WK, V, Cinv } = system(1);
    const { u } = leftVector(K.select(1, 0), Cinv);
    const rome = denseDelta(rankOneDelta(PARAM, 'in_out', { u, key: K.select(1, 0), currentOutput: WK.select(1, 0), target: V.select(1, 0) }).delta);
    for (const w of [1, 1000]) {
      const s = system(1, { mom2_update_weight: w, update_norm_lambda: 0 });
      const f = emmetFactors({ K, R: V.sub(WK), Cinv: s.Cinv, emmetLambda: 0 });
      const ours = denseDelta(emmetDelta(PARAM, 'in_out', V.sub(WK), f.adjK, 'float64'));
      const err = ours.sub(rome).abs().max().item() / rome.abs().max().item();
      assert.ok(err < 1e-9, `w ${w}: relative difference ${err}`);
      assert.ok(rome.abs().max().item() > 1e-3, 'a non-trivial update');
    }
  })));

  test('emmet_lambda > 0 shrinks a single edit by d/(d + λ) and the reported constraint gap is λ/(d + λ)', () => tidy(() => noGrad(() => {
    const { K, WK, V, Cinv } = system(1);
    const d = K.t().matmul(Cinv).matmul(K).item();
    const R = V.sub(WK);
    const exact = denseDelta(emmetDelta(PARAM, 'in_out', R, emmetFactors({ K, R, Cinv, emmetLambda: 0 }).adjK, 'float64'));
    const lambda = d / 3;
    const f = emmetFactors({ K, R, Cinv, emmetLambda: lambda });
    const soft = denseDelta(emmetDelta(PARAM, 'in_out', R, f.adjK, 'float64'));
    assert.ok(soft.sub(exact.mul(d / (d + lambda))).abs().max().item() < 1e-9 * exact.abs().max().item());
    assert.ok(Math.abs(f.constraintGap[0] - lambda / (d + lambda)) < 1e-9, `gap ${f.constraintGap[0]} vs ${lambda / (d + lambda)}`);
  })));

  test('with emmet_lambda λ a batch update is MEMIT\'s with mom2_update_weight λ (push-through identity)', () => tidy(() => noGrad(() => {
    // (KᵀC⁻¹K + λI)⁻¹ KᵀC⁻¹ = Kᵀ(KKᵀ + λC)⁻¹: EMMET's soft constraints are MEMIT's least squares (memit/index.ts)
    const { K, WK, V, Cinv } = system(3);
    const R = V.sub(WK);
    for (const lambda of [0.1, 100]) {
      const ours = denseDelta(emmetDelta(PARAM, 'out_in', R, emmetFactors({ K, R, Cinv, emmetLambda: lambda }).adjK, 'float64'));
      const memit = R.matmul(linalg.solve(mom2.to('float64').mul(lambda).add(K.matmul(K.t())), K).t());
      const err = ours.sub(memit).abs().max().item() / memit.abs().max().item();
      assert.ok(err < 1e-6, `λ ${lambda}: relative difference ${err}`);
    }
  })));

  test('two facts about one subject share its key: D is singular at λ = 0 (flagged), regular at λ > 0', () => tidy(() => noGrad(() => {
    const same = [requests[0], normalizeRequest({ prompt: '{} works for', subject: 'Roderick Zielinski', targetNew: 'Amazon' }, 1)];
    const K = computeKeys(model, { tokenizer: tok, seed: 0 }, same, GROUPS, MODULE, 'subject_last').to('float64').t();
    const diff = K.select(1, 0).sub(K.select(1, 1)).norm().item() / K.select(1, 0).norm().item();
    assert.ok(diff < 1e-5, `causal attention: the text up to the subject is the same, so is the key (${diff})`);
    const R = randn([256, 2], { generator: new Generator(5), dtype: 'float64' });
    const Cinv = preservationInverse(inverses, { key: 'golden:kbgpt-layer0', mom2 }, K.shape[0], { mom2_update_weight: 1, update_norm_lambda: 0 });
    const exact = emmetFactors({ K, R, Cinv, emmetLambda: 0 });
    assert.ok(exact.pseudoInverse || exact.dCondition > 1e10, `condition ${exact.dCondition}`);
    const soft = emmetFactors({ K, R, Cinv, emmetLambda: 0.1 });
    assert.ok(!soft.pseudoInverse && soft.dCondition < 1e6, `condition ${soft.dCondition}`);
  })));

  test('a batch of 3 (real keys, random targets): after the update W\' k_i = v_i for every i at λ = 0', () => tidy(() => noGrad(() => {
    const { K, WK, V, Cinv } = system(3);
    const R = V.sub(WK);
    const f = emmetFactors({ K, R, Cinv, emmetLambda: 0 });
    assert.ok(f.constraintGap.every((g) => g < 1e-8), `gaps ${f.constraintGap}`);
    assert.equal(f.pseudoInverse, false);
    const snap = model.snapshot([PARAM]);
    try {
      const delta = emmetDelta(PARAM, 'in_out', R, f.adjK, model.dtype); // applied as the Editor does, in float32
      assert.deepEqual([delta.left!.shape, delta.right!.shape], [[1024, 3], [256, 3]]);
      applyDelta(model, delta);
      const after = model.parameter(PARAM).to('float64').t().matmul(K);
      const err = after.sub(V).pow(2).sum(0).sqrt().div(R.pow(2).sum(0).sqrt()).toFlatArray();
      assert.ok(err.every((e) => e < 1e-4), `‖W'k_i − v_i‖/‖v_i − Wk_i‖ = ${err}`);
      // the λ > 0 solution misses each constraint by what it reports
      const g = emmetFactors({ K, R, Cinv, emmetLambda: 50 });
      const soft = denseDelta(emmetDelta(PARAM, 'in_out', R, g.adjK, 'float64'));
      const miss = WK.add(soft.t().matmul(K)).sub(V).pow(2).sum(0).sqrt().div(R.pow(2).sum(0).sqrt()).toFlatArray();
      miss.forEach((m, i) => assert.ok(Math.abs(m - g.constraintGap[i]) < 1e-9 && m > 1e-3, `edit ${i}: ${m} vs ${g.constraintGap[i]}`));
    } finally {
      model.restore(snap, { dispose: true });
    }
  })));
});

const hparams = (over: Record<string, unknown> = {}) => ({
  alg_name: 'EMMET', layers: [0], clamp_norm_factor: 4, v_num_grad_steps: 6, v_loss_layer: 5, emmet_lambda: 0, mom2_update_weight: 1,
  rewrite_module_tmp: 'transformer.h.{}.mlp.c_proj', layer_module_tmp: 'transformer.h.{}', lm_head_module: 'transformer.wte',
  ln_f_module: 'transformer.ln_f', context_templates: ['{}'], ...over,
});
const asRequest = (r: NormalizedRequest) => ({ prompt: r.template, subject: r.subject, targetNew: r.targetNew });
const zNow = (zLayer: number) => tidy(() => noGrad(() => currentZ(model, { tokenizer: tok, seed: 0 }, requests, `transformer.h.${zLayer}`, 'subject_last').to('float64')));
const logitsOf = (m: CausalLM) => tidy(() => nextTokenLogprobs(m, requests.map((r) => tok.encode(r.text))).toFlatArray());

describe('through the Editor (bare-prompt keys: the z layer\'s output is what the constraints fix)', () => {
  test('batch of 3 at layer 0: the edited block output at each subject is z_i; save → load identical; rollback bit-exact', () => {
    const ed = new Editor(model, tok, { method: 'EMMET', hparams: hparams(), stats });
    const original = model.snapshot([PARAM]);
    const zBefore = keep(zNow(0));
    // the targets z_i, from a session that records its vectors (the Editor's computes the same z_i again)
    const session = emmet.open(model, ed.hparams as EmmetHparams, { tokenizer: tok, seed: 0, stats, recordVectors: true });
    const edit = session.compute(requests, { editId: 'probe' });
    session.dispose();
    const targets = keep(tensor(edit.diagnostics.map((d) => (d.extra!.vectors as { target: number[] }).target), { dtype: 'float64' }));
    edit.deltas.forEach((d) => { d.left!.dispose(); d.right!.dispose(); });
    const dir = mkdtempSync(join(tmpdir(), 'emmet-'));
    try {
      const [rec] = ed.edit(requests.map(asRequest));
      assert.equal(rec.deltas.length, 1);
      assert.deepEqual(rec.statsKeys, ['golden:kbgpt-layer0']);
      const gap = (z: Tensor) => tidy(() => z.sub(targets).norm().item() / targets.sub(zBefore).norm().item());
      assert.ok(tidy(() => targets.sub(zBefore).norm().item()) > 1, 'the targets move the state');
      const got = gap(zNow(0));
      assert.ok(got < 1e-4, `‖z_after − z‖ / ‖z − z_before‖ = ${got}`);
      rec.reports.forEach((r) => assert.ok((r.extra!.layers as { constraintGap: number }[])[0].constraintGap < 1e-8));
      const edited = logitsOf(model);
      ed.save(dir);
      const loaded = loadEditedModel(dir);
      assert.deepEqual(logitsOf(loaded.base), edited, 'save → load: identical logits');
      assert.deepEqual(loaded.activeEdits.map((a) => a.method), ['EMMET']);
      loaded.base.dispose();
      ed.rollback(rec.id);
      assert.ok(model.parameter(PARAM).equal(original.get(PARAM)!), 'rollback: bit-exact original weights');
    } finally {
      ed.dispose();
      model.restore(original, { dispose: true });
      targets.dispose();
      zBefore.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('two layers without statistics (C = I): layer 0 takes half the residual, layer 1 the rest, and block 1 reaches z', () => {
    const h = hparams({ layers: [0, 1], mom2_adjustment: false });
    const session = emmet.open(model, validateHparams<EmmetHparams>(h, emmet.schema, 'test'), { tokenizer: tok, seed: 0, recordVectors: true });
    const zBefore = keep(zNow(1));
    const snap = model.snapshot(['transformer.h.0.mlp.c_proj.weight', 'transformer.h.1.mlp.c_proj.weight']);
    try {
      const edit = session.compute(requests, { editId: 'two' });
      assert.deepEqual(edit.deltas.map((d) => d.param), ['transformer.h.0.mlp.c_proj.weight', 'transformer.h.1.mlp.c_proj.weight']);
      const v = edit.diagnostics.map((d) => d.extra!.vectors as { target: number[]; layers: { residual: number[] }[] });
      const targets = tensor(v.map((x) => x.target), { dtype: 'float64' });
      const first = tensor(v.map((x) => x.layers[0].residual), { dtype: 'float64' });
      assert.ok(first.mul(2).sub(targets.sub(zBefore)).abs().max().item() < 1e-3, 'layer 0 is given (z − z_current)/2');
      edit.deltas.forEach((d) => applyDelta(model, d));
      const got = tidy(() => zNow(1).sub(targets).norm().item() / targets.sub(zBefore).norm().item());
      assert.ok(got < 1e-4, `block 1 after both updates: relative gap ${got}`);
      [targets, first].forEach((t) => t.dispose());
      edit.deltas.forEach((d) => { d.left!.dispose(); d.right!.dispose(); });
    } finally {
      model.restore(snap, { dispose: true });
      session.dispose();
      zBefore.dispose();
    }
  });

  test('bad hparams are refused naming the field', () => {
    assert.throws(() => new Editor(model, tok, { method: 'EMMET', hparams: hparams({ emmet_lambda: -1 }), stats }), /emmet_lambda/);
    assert.throws(() => new Editor(model, tok, { method: 'EMMET', hparams: hparams({ mom2_update_weight: 0 }), stats }), /mom2_update_weight/);
    assert.throws(() => new Editor(model, tok, { method: 'EMMET', hparams: hparams({ layers: [9] }), stats }), /layer 9 is out of range/);
    assert.throws(() => new Editor(model, tok, { method: 'EMMET', hparams: join(REPO_ROOT, 'hparams/MEMIT/kbgpt.yaml'), stats }), /alg_name 'MEMIT'/);
  });
});

