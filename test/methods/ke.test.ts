// KE (src/methods/ke): the update formula and the BiLSTM by hand; on kbgpt a tiny editor whose loss falls in a few
// steps, save → load of the trained editor (identical edits), EditedModel save → load (identical logits), rollback,
// and the errors for a missing editor and one trained for another base model or method.
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { Adam, Generator, keep, noGrad, tensor, tidy, type Tensor } from '../../src/tensor/index.js';
import { ke, keUpdate, conditionerFactors, biLstm, KeEditor, requestDeltas, type KeHparams } from '../../src/methods/ke/index.js';
import { initConditionedParameter } from '../../src/methods/ke/conditioned.js';
import { initDirection } from '../../src/methods/ke/lstm.js';
import { readHparamsFile, checkAlgName, validateHparams } from '../../src/methods/hparams.js';
import { normalizeRequest, type NormalizedRequest } from '../../src/methods/request.js';
import { baseIdentity, saveTrainedEditor } from '../../src/methods/trained.js';
import { kbTrainingRequests } from '../../src/eval/datasets/kb-train.js';
import { Editor } from '../../src/editor/editor.js';
import { loadEditedModel } from '../../src/editor/persist.js';
import { FACTGPT, KBGPT, REPO_ROOT } from '../data.js';

const sig = (x: number) => 1 / (1 + Math.exp(-x));
const close = (a: number[], b: number[], tol = 1e-5) => a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) <= tol * (1 + Math.abs(b[i])));
const mat = (t: Tensor) => t.toFlatArray();

describe('the update formula, by hand', () => {
  test('Δ = max_scale · σ(c) · (∇ ⊙ A + B)', () => {
    const g = [[1, -2, 0.5], [3, 0, -1]];
    const A = [[0.1, 0.2, 0.3], [-0.4, 0.5, 2]];
    const B = [[1, 0, -1], [0.25, 0.5, 0]];
    const c = 0.3;
    const s = 1e-3;
    const got = tidy(() => mat(keUpdate(tensor(g), tensor(A), tensor(B), tensor(c), s)));
    const want = g.flatMap((row, i) => row.map((x, j) => s * sig(c) * (x * A[i][j] + B[i][j])));
    assert.ok(close(got, want), `${got} vs ${want}`);
  });

  test("the conditioner's A and B are softmax(row)ᵀ col, c the last output, through weight-normalised layers", () => {
    const shape = [2, 3];
    const p = initConditionedParameter(shape, 4, 3, new Generator(3));
    const x = [0.5, -1, 2, 0.1];
    // by hand: y = (g · v/‖v‖) x + b, row by row
    const lin = (l: typeof p.l1, input: number[]) => {
      const v = l.v.toArray() as number[][];
      const gs = l.g.toFlatArray();
      const b = l.b.toFlatArray();
      return v.map((row, o) => {
        const n = Math.sqrt(row.reduce((s2, w) => s2 + w * w, 0));
        return row.reduce((s2, w, i) => s2 + (gs[o] * w / n) * input[i], 0) + b[o];
      });
    };
    const z = lin(p.l2, lin(p.l1, x).map(Math.tanh));
    assert.equal(z.length, 2 * (2 + 3) + 1);
    const [colA, rowA, colB, rowB] = [z.slice(0, 3), z.slice(3, 5), z.slice(5, 8), z.slice(8, 10)];
    const softmax = (v: number[]) => { const m = Math.max(...v); const e = v.map((u) => Math.exp(u - m)); const s2 = e.reduce((a, b) => a + b); return e.map((u) => u / s2); };
    const outer = (r: number[], cl: number[]) => softmax(r).flatMap((ri) => cl.map((cj) => ri * cj));
    tidy(() => {
      const f = conditionerFactors(p, tensor(x));
      assert.deepEqual(f.a.shape, shape);
      assert.ok(close(mat(f.a), outer(rowA, colA)), 'A');
      assert.ok(close(mat(f.b), outer(rowB, colB)), 'B');
      assert.ok(close([f.c.item()], [z[10]]), 'c');
    });
  });
});

describe('the BiLSTM, by hand', () => {
  test('final forward and backward states; right padding gives the unpadded result', () => {
    const gen = new Generator(5);
    const fwd = initDirection(2, 2, gen);
    const bwd = initDirection(2, 2, gen);
    const seq = [[0.3, -0.7], [1.2, 0.4], [-0.5, 0.9]];
    const run = (d: typeof fwd, xs: number[][]) => {
      const wi = d.wIh.toArray() as number[][];
      const wh = d.wHh.toArray() as number[][];
      const bi = d.bIh.toFlatArray();
      const bh = d.bHh.toFlatArray();
      let h = [0, 0];
      let c = [0, 0];
      for (const x of xs) {
        const gates = wi.map((row, k) => row[0] * x[0] + row[1] * x[1] + bi[k] + wh[k][0] * h[0] + wh[k][1] * h[1] + bh[k]);
        const [i, f, g, o] = [0, 1, 2, 3].map((q) => gates.slice(2 * q, 2 * q + 2));
        c = c.map((cv, j) => sig(f[j]) * cv + sig(i[j]) * Math.tanh(g[j]));
        h = c.map((cv, j) => sig(o[j]) * Math.tanh(cv));
      }
      return h;
    };
    const want = [...run(fwd, seq), ...run(bwd, [...seq].reverse())];
    tidy(() => {
      const full = biLstm(fwd, bwd, tensor([seq]), tensor([[1, 1, 1]]));
      assert.ok(close(mat(full), want), `${mat(full)} vs ${want}`);
      // a batch: row 0 the sequence padded by two garbage steps, row 1 its first two tokens only
      const padded = tensor([[...seq, [9, 9], [-9, 3]], [seq[0], seq[1], [5, 5], [5, 5], [5, 5]]]);
      const out = biLstm(fwd, bwd, padded, tensor([[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]]));
      assert.ok(close(mat(out.select(0, 0)), want), 'padding ignored');
      const two = [...run(fwd, seq.slice(0, 2)), ...run(bwd, seq.slice(0, 2).reverse())];
      assert.ok(close(mat(out.select(0, 1)), two), 'shorter row');
    });
  });
});

describe('on kbgpt', () => {
  let model: CausalLM;
  let tok: Tokenizer;
  let records: NormalizedRequest[];
  let dir: string;
  const raw = (over: Record<string, unknown> = {}) => ({
    alg_name: 'KE', inner_params: ['transformer.h[0].mlp.c_proj.weight'], hidden_dim: 8, condition_dim: 16, lr: 1e-2, seed: 1, ...over,
  });
  const hp = (over: Record<string, unknown> = {}) => validateHparams<KeHparams>(raw(over), ke.schema, 'test.yaml');
  before(() => {
    model = loadModel(KBGPT);
    tok = loadTokenizer(KBGPT);
    records = kbTrainingRequests(join(KBGPT, 'kb.json'), { people: [200, 209], seed: 0 }).map((r, i) => normalizeRequest(r, i));
    dir = mkdtempSync(join(tmpdir(), 'lmedit-ke-'));
  });
  after(() => { model.dispose(); rmSync(dir, { recursive: true, force: true }); });

  test('a few training steps lower the edit loss; α follows gradient ascent on α·(KL − margin); save → load gives identical edits', () => {
    const h = hp();
    const ed = ke.trained!.create(model, h, { tokenizer: tok, seed: 1 }) as KeEditor;
    const groups = ed.groups();
    assert.deepEqual(groups.map((g) => [g.name, !!g.maximize]), [['learner', false], ['alpha', true]]);
    const opts = groups.map((g) => new Adam([...g.params.values()], { lr: g.lr }));
    const batch = records.slice(0, 2);
    const losses: number[] = [];
    for (let s = 0; s < 6; s++) {
      losses.push(tidy(() => {
        const out = ed.loss(batch, { step: s, rand: () => 0.5, pool: records });
        out.loss.backward();
        noGrad(() => groups.forEach((g) => { if (g.maximize) for (const p of g.params.values()) if (p.grad) p.grad = p.grad.neg(); }));
        opts.forEach((o) => { o.step(); o.zeroGrad(); });
        return out.metrics.cr;
      }));
    }
    assert.ok(losses[5] < losses[0], `edit loss ${losses.map((l) => l.toFixed(3)).join(' → ')}`);
    // KL stayed under its margin: gradient ascent on α·(KL − margin) lowered α
    assert.ok(ed.alphaKl.item() < 1, `alpha_kl ${ed.alphaKl.item()}`);
    const manifest = { method: 'KE', hparams: raw(), base: baseIdentity(model), meta: {} };
    saveTrainedEditor(join(dir, 'editor'), ed, manifest);
    saveTrainedEditor(join(dir, 'mend'), ed, { ...manifest, method: 'MEND' });
    const P = 'transformer.h.0.mlp.c_proj.weight';
    const want = tidy(() => keep(noGrad(() => requestDeltas(model, tok, ed.learner, [records[3]])[0].get(P)!)));
    const wantPair = tidy(() => keep(noGrad(() => {
      const [d3, d4] = requestDeltas(model, tok, ed.learner, [records[3], records[4]]);
      return d3.get(P)!.add(d4.get(P)!);
    })));
    opts.forEach((o) => o.dispose());
    ed.dispose();

    // the saved editor gives identical edits, through the method's session
    const session = ke.open(model, hp({ archive: join(dir, 'editor') }), { tokenizer: tok, seed: 0 });
    const edit = session.compute([records[3]], { editId: 'x' });
    assert.equal(edit.deltas.length, 1);
    assert.equal(edit.deltas[0].param, P);
    assert.deepEqual(edit.deltas[0].dense!.shape, [1024, 256], "Conv1D's [in, out] layout");
    assert.ok(edit.deltas[0].dense!.equal(want), 'identical Δ after save → load');
    assert.ok(edit.deltas[0].dense!.abs().max().item() > 0, 'a non-zero Δ');
    // two requests: the per-request deltas summed
    const pair = session.compute([records[3], records[4]], { editId: 'y' });
    assert.ok(pair.deltas[0].dense!.allclose(wantPair, 1e-5, 1e-9), 'two requests: the per-request deltas summed');
    session.dispose();
    [want, wantPair, ...edit.deltas.map((d) => d.dense!), ...pair.deltas.map((d) => d.dense!)].forEach((t) => t.dispose());
  });

  test('EditedModel save → load gives identical logits; rollback restores the weights bit for bit', () => {
    const name = 'transformer.h.0.mlp.c_proj.weight';
    const original = model.snapshot([name]);
    const editor = new Editor(model, tok, { method: 'KE', hparams: raw({ archive: join(dir, 'editor') }) });
    const logits = (m: CausalLM) => keep(tidy(() => noGrad(() => m.forward({ inputIds: [tok.encode(records[5].text)] }).logits!)));
    try {
      const [a] = editor.edit({ prompt: records[5].template, subject: records[5].subject, targetNew: records[5].targetNew, groundTruth: records[5].groundTruth });
      const [b] = editor.edit({ prompt: records[6].template, subject: records[6].subject, targetNew: records[6].targetNew });
      assert.ok(!original.get(name)!.equal(model.parameter(name)), 'the weights changed');
      const edited = logits(model);
      editor.save(join(dir, 'edited'));
      const loaded = loadEditedModel(join(dir, 'edited'));
      const got = logits(loaded.base);
      assert.ok(got.equal(edited), 'identical logits after save → load');
      loaded.dispose();
      editor.rollback(a.id);
      editor.rollback(b.id);
      assert.ok(original.get(name)!.equal(model.parameter(name)), 'restored bit for bit');
      [edited, got].forEach((t) => t.dispose());
    } finally {
      editor.restore();
      editor.dispose();
      for (const t of original.values()) t.dispose();
    }
  });

  test('clear errors: no editor, a missing directory, another method, another base model, a wrong parameter', () => {
    const open = (h: KeHparams, m: CausalLM = model) => ke.open(m, h, { tokenizer: tok, seed: 0 });
    assert.throws(() => open(hp()), /KE: no trained editor given \(set the hparams field 'archive' or pass --editor DIR; train one with 'lmedit train --method KE'\)/);
    assert.throws(() => open(hp({ archive: join(dir, 'nowhere') })), /does not exist/);
    assert.throws(() => open(hp({ archive: join(dir, 'mend') })), /trained for method MEND, not KE/);
    const other = loadModel(FACTGPT);
    try {
      assert.throws(() => open(hp({ archive: join(dir, 'editor') }), other), /trained for another base model/);
    } finally {
      other.dispose();
    }
    assert.throws(() => ke.check(model, hp({ inner_params: ['transformer.h[9].mlp.c_fc.weight'] }), 'x.yaml'), /x.yaml: inner_params 'transformer.h\[9\].mlp.c_fc.weight' is not a parameter/);
    assert.throws(() => ke.check(model, hp({ divergences: 'js' }), 'x.yaml'), /divergences must be one of kl, lp, both/);
  });

  test('every shipped hparams/KE file validates (kbgpt\'s against kbgpt)', () => {
    for (const name of ['kbgpt', 'factgpt', 'gpt2-xl', 'llama-2-7b']) {
      const { raw: r, file } = readHparamsFile(join(REPO_ROOT, 'hparams', 'KE', `${name}.yaml`));
      checkAlgName(r, 'KE', file);
      const h = validateHparams<KeHparams>(r, ke.schema, file);
      if (name === 'kbgpt') ke.check(model, h, file);
      assert.ok(h.inner_params.length > 0, file);
    }
  });
});
