// MEND (src/methods/mend): the factors (x, δ) read from one forward/backward pass give exactly autograd's weight
// gradient (one token: the rank-1 x δᵀ; a sequence: Σ_t x_t δ_tᵀ; nn.Linear's layout δ xᵀ on tiny-llama); a few
// training steps lower the loss; a trained editor saved and loaded edits identically; its edits save, load and roll
// back through the Editor as weight deltas; clear errors for a missing editor, another base model, other hparams.
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, padBatch, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { Adam, autograd, crossEntropy, enableGrad, keep, noGrad, tensor, tidy, type Tensor } from '../../src/tensor/index.js';
import { mend, MEND_SCHEMA, type MendHparams } from '../../src/methods/mend/index.js';
import { MendEditor } from '../../src/methods/mend/editor.js';
import { gradientFactors, pseudoGradient } from '../../src/methods/mend/factors.js';
import { validateHparams } from '../../src/methods/hparams.js';
import { normalizeRequest, type NormalizedRequest } from '../../src/methods/request.js';
import { baseIdentity } from '../../src/methods/trained.js';
import { kbTrainingRequests } from '../../src/eval/datasets/kb-train.js';
import { trainEditor } from '../../src/train/trainer.js';
import { Editor } from '../../src/editor/editor.js';
import { loadEditedModel } from '../../src/editor/persist.js';
import { GOLDEN, KBGPT } from '../data.js';

const INNER = ['transformer.h.5.mlp.c_fc.weight', 'transformer.h.4.mlp.c_fc.weight'];
const TINY = { alg_name: 'MEND', inner_params: INNER, rank: 8, lr: 1e-3, lr_lr: 1e-3, edit_lr: 1e-3, seed: 3 };
const hp = (over: Record<string, unknown> = {}) => validateHparams<MendHparams>({ ...TINY, ...over }, MEND_SCHEMA, 'test.yaml');

let model: CausalLM;
let tok: Tokenizer;
let records: NormalizedRequest[];
const root = mkdtempSync(join(tmpdir(), 'lmedit-mend-'));
before(() => {
  model = loadModel(KBGPT);
  tok = loadTokenizer(KBGPT);
  records = kbTrainingRequests(join(KBGPT, 'kb.json'), { people: [200, 215], seed: 0 }).map(normalizeRequest);
});
after(() => { model.dispose(); rmSync(root, { recursive: true, force: true }); });

/** Loss of the next-token NLL at every position of one row (a scalar of the final hidden states [1, T, d]). */
function nextTokenLoss(m: CausalLM, targets: number[]): (hidden: Tensor) => Tensor {
  return (hidden) => crossEntropy(m.logitsFrom(hidden.select(0, 0)), tensor(targets, { dtype: 'int64' }), { reduction: 'sum' });
}

/** autograd's gradient of the same loss w.r.t. the weight (run with the weight as a grad-requiring override). */
function trueGradient(m: CausalLM, param: string, ids: number[], loss: (h: Tensor) => Tensor): Tensor {
  return keep(enableGrad(() => tidy(() => {
    const w = m.parameter(param).detach().clone().requiresGrad_(true);
    const { hidden } = m.forward({ inputIds: [ids], logits: 'none', parameterOverrides: new Map([[param, w]]) });
    return autograd.grad(loss(hidden), w)[0]!;
  })));
}

/** Rows fed as they are: a causal pass over prompt ⧺ target is the row itself when the target is its last token. */
const asRows = (rows: number[][]) => ({ prompts: rows.map((r) => r.slice(0, -1)), targets: rows.map((r) => r.slice(-1)) });
const onHidden = (loss: (hidden: Tensor) => Tensor) => (pass: { hidden: Tensor }) => loss(pass.hidden);

function maxAbsDiff(a: Tensor, b: Tensor): number {
  return noGrad(() => tidy(() => a.sub(b).abs().max().item()));
}

describe('the pseudo-gradient', () => {
  test('one token: x δᵀ equals autograd\'s ∇W of a Conv1D weight (GPT-2 layout [in, out])', () => {
    const ids = tok.encode(' Paris').slice(0, 1);
    const loss = nextTokenLoss(model, [tok.encode(' France')[0]]);
    for (const module of ['transformer.h.0.mlp.c_fc', 'transformer.h.3.mlp.c_proj', 'transformer.h.2.attn.c_attn']) {
      const { factors } = gradientFactors(model, [module], asRows([ids]), onHidden(loss));
      const f = factors.get(module)!;
      assert.equal(f.x.shape[0], 1, 'one token: one row, a rank-1 gradient');
      const pseudo = pseudoGradient(f.x, f.delta, true);
      const truth = trueGradient(model, `${module}.weight`, ids, loss);
      assert.deepEqual(pseudo.shape, truth.shape);
      const scale = noGrad(() => truth.abs().max().item());
      assert.ok(scale > 0);
      assert.ok(maxAbsDiff(pseudo, truth) <= 1e-5 * scale, `${module}: x δᵀ = ∇W (max diff ${maxAbsDiff(pseudo, truth)}, scale ${scale})`);
      [pseudo, truth, f.x, f.delta].forEach((t) => t.dispose());
    }
  });

  test('a sequence: Σ_t x_t δ_tᵀ equals ∇W; several modules at once, factors of every token', () => {
    const ids = tok.encode('Roderick Zielinski was born in the city of');
    const targets = [...ids.slice(1), tok.encode(' Prague')[0]];
    const loss = nextTokenLoss(model, targets);
    const modules = ['transformer.h.0.mlp.c_fc', 'transformer.h.1.mlp.c_proj', 'transformer.h.5.mlp.c_fc'];
    const { factors } = gradientFactors(model, modules, asRows([ids]), onHidden(loss));
    for (const m of modules) {
      const f = factors.get(m)!;
      assert.equal(f.x.shape[0], ids.length);
      const pseudo = pseudoGradient(f.x, f.delta, true);
      const truth = trueGradient(model, `${m}.weight`, ids, loss);
      const scale = noGrad(() => truth.abs().max().item());
      assert.ok(maxAbsDiff(pseudo, truth) <= 1e-5 * scale, `${m}: Σ x δᵀ = ∇W`);
    }
  });

  test('nn.Linear layout [out, in] (tiny-llama): δ xᵀ equals ∇W', () => {
    const llama = loadModel(join(GOLDEN, 'tiny-llama'));
    try {
      const ids = [5, 17, 42, 9];
      const loss = nextTokenLoss(llama, [17, 42, 9, 3]);
      for (const m of ['model.layers.1.mlp.down_proj', 'model.layers.0.self_attn.q_proj']) {
        const { factors } = gradientFactors(llama, [m], asRows([ids]), onHidden(loss));
        const f = factors.get(m)!;
        const pseudo = pseudoGradient(f.x, f.delta, false);
        const truth = trueGradient(llama, `${m}.weight`, ids, loss);
        assert.deepEqual(pseudo.shape, llama.parameter(`${m}.weight`).shape);
        assert.ok(maxAbsDiff(pseudo, truth) <= 1e-5 * noGrad(() => truth.abs().max().item()), `${m}: δ xᵀ = ∇W`);
      }
    } finally {
      llama.dispose();
    }
  });

  test('padding rows carry no factors: a padded batch gives the sum of the rows\' pseudo-gradients', () => {
    const rows = [tok.encode('Helga Dunmore was born in'), tok.encode('The employer of Roderick Zielinski is')];
    const targets = [tok.encode(' Paris')[0], tok.encode(' Amazon')[0]];
    const m = 'transformer.h.2.mlp.c_fc';
    const lastLoss = (which: number[]) => (hidden: Tensor) => {
      const h = hidden.index([tensor(which.map((_, i) => i), { dtype: 'int64' }), tensor(which.map((b) => rows[b].length - 1), { dtype: 'int64' })]);
      return crossEntropy(model.logitsFrom(h), tensor(which.map((b) => targets[b]), { dtype: 'int64' }), { reduction: 'sum' });
    };
    const both = gradientFactors(model, [m], asRows(rows), onHidden(lastLoss([0, 1]))).factors.get(m)!;
    assert.ok(both.x.shape[0] <= rows[0].length + rows[1].length, 'padded positions are dropped');
    const single = [0, 1].map((b) => gradientFactors(model, [m], asRows([rows[b]]), onHidden(lastLoss([b]))).factors.get(m)!);
    const sum = pseudoGradient(single[0].x, single[0].delta, true).add(pseudoGradient(single[1].x, single[1].delta, true));
    const batch = pseudoGradient(both.x, both.delta, true);
    assert.ok(maxAbsDiff(batch, sum) <= 1e-5 * noGrad(() => sum.abs().max().item()), 'batch = Σ rows');
  });
});

describe('training', () => {
  test('a few Adam steps on one record lower its MEND loss; the normalisation statistics count the rows seen', () => {
    const ed = mend.trained!.create(model, hp(), { tokenizer: tok, seed: 3 }) as MendEditor;
    try {
      const params = ed.groups().flatMap((g) => [...g.params.values()]);
      const opt = new Adam(params, { lr: 1e-3 });
      const ctx = { step: 0, rand: () => 0.5, pool: records };
      const losses: number[] = [];
      for (let i = 0; i < 6; i++) {
        tidy(() => {
          const out = ed.loss([records[1]], ctx);
          losses.push(out.loss.item());
          out.loss.backward();
        });
        opt.step();
        opt.zeroGrad();
      }
      opt.dispose();
      assert.ok(losses[losses.length - 1] < losses[0], `loss fell: ${losses.map((l) => l.toFixed(3)).join(' → ')}`);
      const k = [...ed.transforms.values()][0].k.item();
      assert.ok(k >= 12, `rows seen by the statistics: ${k}`);
      assert.ok(ed.ready());
    } finally {
      ed.dispose();
    }
  });
});

describe('a trained editor through the Editor', () => {
  let dir: string;
  before(() => {
    dir = join(root, 'editor');
    const h = hp({ max_iters: 2, accumulate_bs: 2, val_interval: 2, val_steps: 2, log_interval: 1, model_save_pt: 100 });
    const ed = mend.trained!.create(model, h, { tokenizer: tok, seed: h.seed });
    try {
      const s = trainEditor(ed, {
        train: records.slice(0, 20), val: records.slice(20, 24), hparams: h, outDir: dir,
        manifest: { method: 'MEND', hparams: h as unknown as Record<string, unknown>, base: baseIdentity(model) }, identity: 'mend-test',
      });
      assert.equal(s.steps, 2);
    } finally {
      ed.dispose();
    }
  });
  const opts = (over: Record<string, unknown> = {}) => ({ method: 'MEND', hparams: { ...TINY, archive: dir, ...over } });
  const probe = ['Roderick Zielinski was born in the city of', 'The employer of Helga Dunmore is'];
  const logitsOf = (m: CausalLM) => tidy(() => noGrad(() => {
    const { ids, mask } = padBatch(probe.map((p) => tok.encode(p)));
    return m.forward({ inputIds: ids, attentionMask: mask, logits: 'all' }).logits!.toFlatArray();
  }));
  const req = { prompt: 'Roderick Zielinski was born in the city of', subject: 'Roderick Zielinski', targetNew: 'Tokyo' };

  test('loaded twice, the editor computes identical deltas, in the weights\' own shapes', () => {
    const a = new Editor(model, tok, opts());
    const b = new Editor(model, tok, opts());
    try {
      const [ra] = a.edit(req);
      a.restore();
      const [rb] = b.edit(req);
      b.restore();
      assert.deepEqual(ra.deltas.map((d) => d.param).sort(), [...INNER].sort());
      for (const d of ra.deltas) {
        const e = rb.deltas.find((x) => x.param === d.param)!;
        assert.deepEqual(d.dense!.shape, model.parameter(d.param).shape);
        assert.ok(d.dense!.equal(e.dense!), `${d.param}: identical`);
        assert.ok(noGrad(() => d.dense!.norm().item()) > 0, 'a nonzero edit');
      }
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  test('EditedModel save → load gives identical logits; rollback restores the weights bit-exactly; a batch edit is one record', () => {
    const before = logitsOf(model);
    const ed = new Editor(model, tok, opts());
    try {
      const [rec] = ed.edit(req);
      const edited = logitsOf(model);
      assert.notDeepEqual(edited, before, 'the edit changes the model');
      const out = join(root, 'edited');
      ed.save(out);
      const loaded = loadEditedModel(out);
      assert.deepEqual(logitsOf(loaded.base), edited, 'identical logits after load');
      loaded.base.dispose();
      ed.rollback(rec.id);
      assert.deepEqual(logitsOf(model), before, 'rollback: bit-identical');
      const batch = ed.edit([req, { prompt: 'The employer of Helga Dunmore is', subject: 'Helga Dunmore', targetNew: 'Amazon' }]);
      assert.equal(batch.length, 1, 'batching: one computation for the batch');
      ed.restore();
      assert.deepEqual(logitsOf(model), before);
    } finally {
      ed.dispose();
    }
  });

  test('clear errors: no archive, a missing directory, another base model, other hparams', () => {
    assert.throws(() => new Editor(model, tok, opts({ archive: null })), /MEND: no trained editor given \(set the hparams field 'archive' or pass --editor DIR/);
    assert.throws(() => new Editor(model, tok, opts({ archive: join(root, 'nope') })), /trained editor .*nope.* does not exist/);
    assert.throws(() => new Editor(model, tok, opts({ descent: false })), /trained with descent = true, the hparams say false/);
    assert.throws(() => new Editor(model, tok, opts({ rank: 4 })), /has shape .* \(trained with other hparams\?\)/);
    assert.throws(() => new Editor(model, tok, opts({ inner_params: ['transformer.h.0.mlp.c_fc.weight'] })), /not part of this editor|is missing|trained with/);
    const other = join(root, 'edited');
    const otherModel = loadModel(other);
    try {
      assert.throws(() => new Editor(otherModel, tok, opts()), /trained for another base model/);
    } finally {
      otherModel.dispose();
    }
    assert.throws(() => validateHparams({ ...TINY, train_base: true }, MEND_SCHEMA, 'x.yaml') && mend.check(model, hp({ train_base: true }), 'x.yaml'), /train_base true is not supported/);
    assert.throws(() => mend.check(model, hp({ inner_params: ['transformer.h.9.mlp.c_fc.weight'] }), 'x.yaml'), /no parameter 'transformer.h.9.mlp.c_fc.weight'/);
    assert.throws(() => mend.check(model, hp({ inner_params: null }), 'x.yaml'), /MEND needs inner_params/);
  });
});
