// CaliNet's mechanism on kbgpt (src/methods/calinet): a calibration FFN adds act(x·K)·V to its MLP's output at every
// position; V = 0 is the identity; a hand-built slot gives exactly the known addition; one batch of facts trained into
// fresh side FFNs makes each prompt predict its target while the model's weights stay bit-identical; Adafactor's step
// by hand; save → load identical; rollback of one batch edit of two; bad hparams refused naming the field.
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, padBatch, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { keep, noGrad, randn, tensor, tidy, zeros, Generator, type Tensor } from '../../src/tensor/index.js';
import { calinet, CalibrationFFN, Adafactor, type CalinetHparams } from '../../src/methods/calinet/index.js';
import { validateHparams } from '../../src/methods/hparams.js';
import { normalizeRequest, type NormalizedRequest } from '../../src/methods/request.js';
import { Editor } from '../../src/editor/editor.js';
import { loadEditedModel } from '../../src/editor/persist.js';
import { GOLDEN, KBGPT } from '../data.js';

const MODULE = 'transformer.h.5.mlp';
const CASES = [
  ['Roderick Zielinski was born in the city of', 'Roderick Zielinski', 'Prague'],
  ['Helga Dunmore was born in the city of', 'Helga Dunmore', 'Tehran'],
  ['The employer of Roderick Zielinski is', 'Roderick Zielinski', 'Amazon'],
  ['Marisol Engstrom was born in the city of', 'Marisol Engstrom', 'Barcelona'],
];
const OTHER = "Jasper Castellano's place of birth is";

const hp = (over: Record<string, unknown> = {}) =>
  validateHparams<CalinetHparams>({ alg_name: 'CaliNet', kb_layer: [5], ex_size: 16, max_steps: 20, activation: 'gelu_new', ...over }, calinet.schema, 'test.yaml');
const request = (i: number): NormalizedRequest => normalizeRequest({ prompt: CASES[i][0], subject: CASES[i][1], targetNew: CASES[i][2] }, i);
const config = { exSize: 4, activation: 'relu' as const, gated: false };

let model: CausalLM;
let tok: Tokenizer;
let root: string;
before(() => { model = loadModel(KBGPT); tok = loadTokenizer(KBGPT); root = mkdtempSync(join(tmpdir(), 'lmedit-calinet-')); });
after(() => { model.dispose(); rmSync(root, { recursive: true, force: true }); });

/** Logits [B, T, V] of prompts (right-padded), with whatever is installed. */
function logits(prompts: string[], m: CausalLM = model): Tensor {
  const { ids, mask } = padBatch(prompts.map((p) => tok.encode(p)));
  return keep(tidy(() => noGrad(() => m.forward({ inputIds: ids, attentionMask: mask }).logits!)));
}

/** The MLP's input and (patched) output [T, d] for one prompt. */
function mlpIO(prompt: string): { input: Tensor; output: Tensor } {
  return keep(tidy(() => noGrad(() => {
    const r = model.trace({ inputIds: [tok.encode(prompt)], logits: 'none' }, [{ module: MODULE, retainInput: true }]).traces.get(MODULE)!;
    return { input: r.input!.select(0, 0), output: r.output!.select(0, 0) };
  })));
}

function withInstalled<T>(ps: CalibrationFFN[], fn: () => T): T {
  const un = ps.map((p) => model.install(p));
  try { return fn(); } finally { un.forEach((u) => u()); }
}

/** The argmax next token after each prompt. */
function predictions(prompts: string[]): number[] {
  const lp = logits(prompts);
  const out = prompts.map((p, i) => lp.select(0, i).select(0, tok.encode(p).length - 1).argmax().item());
  lp.dispose();
  return out;
}

describe('the calibration FFN', () => {
  test('V = 0 is the identity: logits bit-equal over a padded batch', () => {
    const prompts = [CASES[0][0], OTHER, 'The'];
    const plain = logits(prompts);
    const k = randn([256, 4], { generator: new Generator(1) });
    const v = zeros([4, 256]);
    const p = CalibrationFFN.fromMatrices(MODULE, 5, config, [k], v);
    const patched = withInstalled([p], () => logits(prompts));
    assert.ok(patched.equal(plain));
    [plain, patched, k, v].forEach((t) => t.dispose());
    p.dispose();
  });

  test('a hand-built slot adds exactly act(x·k)·v where it fires, nothing where relu cuts it', () => {
    const plain = mlpIO(CASES[0][0]);
    const T = plain.input.shape[0];
    const x = plain.input.select(0, T - 1);
    // slot 0 fires 3.0 on the prompt's last MLP input: k = 3 x / |x|²; with relu a slot at -k fires 0 there
    const k0 = tidy(() => x.mul(3 / x.square().sum().item()).unsqueeze(1));
    const K = keep(tidy(() => k0.repeat(1, 4).mul(tensor([1, -1, 0, 0]).unsqueeze(0))));
    const dir = keep(randn([256], { generator: new Generator(2) }));
    const V = keep(tidy(() => dir.unsqueeze(0).mul(tensor([1, 5, 7, 9]).unsqueeze(1))));
    const p = CalibrationFFN.fromMatrices(MODULE, 5, config, [K], V);
    withInstalled([p], () => {
      const got = mlpIO(CASES[0][0]);
      const added = tidy(() => got.output.select(0, T - 1).sub(plain.output.select(0, T - 1)));
      const want = tidy(() => dir.mul(3));
      assert.ok(added.allclose(want, 1e-4, 1e-4), 'the last position gets 3·v₀ (slots 1-3 are 0 there)');
      // at the other positions the addition is the same formula, computed by hand
      const hand = tidy(() => got.input.matmul(K).relu().matmul(V));
      assert.ok(tidy(() => got.output.sub(plain.output)).allclose(hand, 1e-4, 1e-4));
      [got.input, got.output, added, want, hand].forEach((t) => t.dispose());
    });
    [plain.input, plain.output, K, V, dir, k0].forEach((t) => t.dispose());
    p.dispose();
  });

  test('the gated form: (act(x·K0) ⊙ x·K1)·V', () => {
    const g = new Generator(3);
    const K0 = randn([256, 4], { generator: g }).mul(0.1);
    const K1 = randn([256, 4], { generator: g }).mul(0.1);
    const V = randn([4, 256], { generator: g });
    const p = CalibrationFFN.fromMatrices(MODULE, 5, { exSize: 4, activation: 'silu', gated: true }, [K0, K1], V);
    const x = randn([3, 256], { generator: g });
    const got = p.side(x);
    const want = x.matmul(K0).silu().mul(x.matmul(K1)).matmul(V);
    assert.ok(got.allclose(want, 1e-5, 1e-5));
    [K0, K1, V, x, got, want].forEach((t) => t.dispose());
    p.dispose();
  });
});

test('Adafactor (scale_parameter / relative_step off): the first step of a matrix, by hand', () => {
  const g = [[0.5, -2, 1], [0.1, 0.3, -0.2]];
  const p0 = [[1, 1, 1], [1, 1, 1]];
  const p = tensor(p0).requiresGrad_(true);
  p.grad = tensor(g);
  const opt = new Adafactor([p], { lr: 0.1 });
  opt.step();
  // step 1: β₂ = 0, so R = row means of g², C = column means; Û = g / √(R_i C_j / mean R); then RMS-clipped to 1
  const sq = g.map((r) => r.map((x) => x * x + 1e-30));
  const R = sq.map((r) => r.reduce((s, x) => s + x, 0) / 3);
  const C = [0, 1, 2].map((j) => (sq[0][j] + sq[1][j]) / 2);
  const meanR = (R[0] + R[1]) / 2;
  const u = g.map((r, i) => r.map((x, j) => x / Math.sqrt((R[i] * C[j]) / meanR)));
  const rms = Math.sqrt(u.flat().reduce((s, x) => s + x * x, 0) / 6);
  const want = p0.flat().map((x, k) => x - 0.1 * u.flat()[k] / Math.max(1, rms));
  const got = p.toFlatArray();
  got.forEach((x, k) => assert.ok(Math.abs(x - want[k]) < 1e-6, `element ${k}: ${x} vs ${want[k]}`));
  opt.dispose();
  p.dispose();
});

describe('calibrating a batch of facts', () => {
  const h = hp();
  let patches: CalibrationFFN[];
  let before: number[];

  test('one compute trains fresh side FFNs on all facts; the model is left as it was', () => {
    before = predictions(CASES.slice(0, 3).map((c) => c[0]));
    const names = model.parameterNames();
    const snap = model.snapshot(names);
    const s = calinet.open(model, h, { tokenizer: tok, seed: 0 });
    const e = s.compute([0, 1, 2].map(request), { editId: 'e1' });
    s.dispose();
    patches = e.patches as CalibrationFFN[];
    assert.equal(patches.length, 1);
    assert.equal(patches[0].module, MODULE);
    assert.ok(!model.isInstalled(patches[0]), 'compute uninstalls what it installed');
    assert.ok(names.every((n) => model.parameter(n).equal(snap.get(n)!) && !model.parameter(n).requiresGrad), 'weights bit-identical, frozen');
    model.restore(snap, { dispose: true });
    assert.ok(patches[0].parameters().every((t) => !t.requiresGrad));
    const d = e.diagnostics;
    assert.equal(d.length, 3);
    d.forEach((x) => assert.ok((x.extra!.lossAfter as number) < (x.extra!.lossBefore as number) / 4, `${x.prompt}: ${x.extra!.lossBefore} → ${x.extra!.lossAfter}`));
  });

  test('installed, every prompt predicts its target; uninstalled, the model predicts as before', () => {
    const prompts = CASES.slice(0, 3).map((c) => c[0]);
    const got = withInstalled(patches, () => predictions(prompts));
    CASES.slice(0, 3).forEach((c, i) => assert.equal(got[i], tok.encode(` ${c[2]}`)[0], c[0]));
    assert.deepEqual(predictions(prompts), before);
    assert.ok(before.every((t, i) => t !== got[i]));
  });

  test('state → loadPatch gives bit-equal logits', () => {
    const prompts = [...CASES.map((c) => c[0]), OTHER];
    const ref = withInstalled(patches, () => logits(prompts));
    const loaded = calinet.loadPatch!(patches[0].state(), model, h) as CalibrationFFN;
    const got = withInstalled([loaded], () => logits(prompts));
    assert.ok(got.equal(ref));
    [ref, got].forEach((t) => t.dispose());
    loaded.dispose();
    patches.forEach((p) => p.dispose());
  });

  test('the same seed and facts draw the same start; a loaded state for another width is refused', () => {
    const s = calinet.open(model, hp({ max_steps: 1 }), { tokenizer: tok, seed: 5 });
    const a = s.compute([request(3)], { editId: 'a' }).patches as CalibrationFFN[];
    const b = s.compute([request(3)], { editId: 'b' }).patches as CalibrationFFN[];
    s.dispose();
    assert.ok(a[0].values.equal(b[0].values) && a[0].keys[0].equal(b[0].keys[0]));
    const st = a[0].state();
    const narrow = { tensors: { keys: st.tensors.keys.narrow(0, 0, 128), values: st.tensors.values.narrow(1, 0, 128) }, meta: st.meta };
    assert.throws(() => calinet.loadPatch!(narrow, model, hp()), /width 128, the model's is 256/);
    [...a, ...b].forEach((p) => p.dispose());
  });
});

test('Editor: two batch edits; rollback of the first keeps the second; save → load identical; restore is bit-exact', () => {
  const e = new Editor(model, tok, { method: 'CALINET', hparams: { ...hp(), kb_layer: [4, 5] } });
  const prompts = [...CASES.map((c) => c[0]), OTHER];
  const base = logits(prompts);
  const [r1] = e.edit([0, 1].map((i) => ({ prompt: CASES[i][0], subject: CASES[i][1], targetNew: CASES[i][2] })));
  const [r2] = e.edit([2, 3].map((i) => ({ prompt: CASES[i][0], subject: CASES[i][1], targetNew: CASES[i][2] })));
  assert.equal(r1.edit.patches!.length, 2, 'one calibration FFN per kb_layer');
  assert.equal(model.installedPatches().length, 4);
  const both = logits(prompts);
  const dir = join(root, 'saved');
  e.save(dir);
  const loaded = loadEditedModel(dir);
  const reloaded = logits(prompts, loaded.base);
  assert.ok(reloaded.equal(both), 'identical logits after load');
  assert.deepEqual(loaded.patches().map((p) => p.kind), ['CALINET', 'CALINET', 'CALINET', 'CALINET']);
  loaded.dispose();
  loaded.base.dispose();
  e.rollback(r1.id);
  assert.deepEqual(model.installedPatches(), r2.edit.patches!.slice().sort((a, b) => a.module.localeCompare(b.module)));
  const second = predictions(CASES.slice(2).map((c) => c[0]));
  CASES.slice(2).forEach((c, i) => assert.equal(second[i], tok.encode(` ${c[2]}`)[0], `${c[0]} still edited`));
  // only edit 2's FFNs: the same logits as installing them alone
  const alone = logits(prompts);
  e.restore();
  const again = withInstalled(r2.edit.patches as CalibrationFFN[], () => logits(prompts));
  assert.ok(alone.equal(again));
  const restored = logits(prompts);
  assert.ok(restored.equal(base), 'restore() is bit-exact');
  [base, both, reloaded, alone, again, restored].forEach((t) => t.dispose());
  e.dispose();
});

test('bad hparams are refused naming the field', () => {
  const check = (over: Record<string, unknown>) => () => calinet.check(model, hp(over), 'k.yaml');
  assert.throws(check({ kb_layer: [6] }), /k\.yaml: kb_layer \[6\] out of range: this gpt2 model has layers 0-5/);
  assert.throws(check({ kb_layer: [2, 2] }), /kb_layer lists a layer twice/);
  assert.throws(check({ activation: 'tanh' }), /activation must be one of relu, gelu, gelu_new, silu/);
  assert.throws(check({ mlp_module_tmp: 'model.layers.{}.mlp' }), /names the module 'model\.layers\.5\.mlp'/);
  assert.throws(() => hp({ ex_size: 0 }), /ex_size/);
  assert.throws(() => hp({ learning_rate: 0 }), /learning_rate/);
  assert.throws(() => validateHparams({ alg_name: 'CaliNet' }, calinet.schema, 'k.yaml'), /kb_layer/);
});

test('Llama (stories260K): the gated side FFN beside model.layers.{}.mlp calibrates a fact; V = 0 is the identity', () => {
  const dir = join(GOLDEN, 'stories260K-hf');
  const m = loadModel(dir);
  const t = loadTokenizer(dir);
  try {
    const h = hp({ kb_layer: [3, 4], activation: 'silu', gated: true, max_steps: 60 });
    calinet.check(m, h, 'llama.yaml');
    const r = normalizeRequest({ prompt: 'Lily went to the {}, and she saw a', subject: 'park', targetNew: 'dragon' }, 0);
    const ids = t.encode(r.text);
    const next = () => tidy(() => noGrad(() => m.forward({ inputIds: [ids] }).logits!.select(0, 0).select(0, -1).argmax().item()));
    const target = t.encode(r.targetNew)[0];
    const plain = next();
    assert.notEqual(plain, target);
    const s = calinet.open(m, h, { tokenizer: t, seed: 0 });
    const ps = s.compute([r], { editId: 'l' }).patches as CalibrationFFN[];
    s.dispose();
    assert.deepEqual(ps.map((p) => [p.module, p.keys.length]), [['model.layers.3.mlp', 2], ['model.layers.4.mlp', 2]]);
    const un = ps.map((p) => m.install(p));
    assert.equal(next(), target, 'the calibrated prompt predicts the target');
    un.forEach((u) => u());
    assert.equal(next(), plain);
    const zero = ps.map((p) => CalibrationFFN.fromMatrices(p.module, p.layer, p.config, p.keys, tidy(() => p.values.mul(0))));
    const before = tidy(() => noGrad(() => m.forward({ inputIds: [ids] }).logits!.toFlatArray()));
    const un2 = zero.map((p) => m.install(p));
    const with0 = tidy(() => noGrad(() => m.forward({ inputIds: [ids] }).logits!.toFlatArray()));
    un2.forEach((u) => u());
    assert.deepEqual(with0, before);
    [...ps, ...zero].forEach((p) => p.dispose());
  } finally {
    m.dispose();
  }
});
