// Editing an encoder-decoder through the same Editor: FT-M and FT-L on a small random T5 with GPT-2's tokenizer
// (before/after P(target), only the chosen decoder FFN changes), rollback bit-exact, save → load → identical
// scores, IKE's wrapper on a T5, and the clear refusal of a causal-only method.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadEditableModel, randomT5Model, saveT5Model, targetStates, rowsAt, T5Model, isEncoderDecoder, type EditableModel,
} from '../../src/models/index.js';
import { autograd, crossEntropy, enableGrad, keep, tensor, tidy, noGrad, zeros } from '../../src/tensor/index.js';
import { gradientFactors, pseudoGradient } from '../../src/methods/mend/factors.js';
import { mend, MEND_SCHEMA, type MendHparams } from '../../src/methods/mend/index.js';
import { serac, type SeracHparams } from '../../src/methods/serac/index.js';
import { baseIdentity, type TrainableEditor, type TrainedMethod } from '../../src/methods/trained.js';
import type { TrainingHparams } from '../../src/methods/trained-hparams.js';
import { trainEditor } from '../../src/train/trainer.js';
import { normalizeRequest } from '../../src/methods/request.js';
import type { TargetPass } from '../../src/models/index.js';
import { prefixLast, prefixStates, replaceAt } from '../../src/models/index.js';
import { checkAlgName, readHparamsFile, validateHparams } from '../../src/methods/hparams.js';
import { methodFor } from '../../src/editor/methods.js';
import { kn, neuronSite, type KnHparams } from '../../src/methods/kn/index.js';
import { baselineActivations, layerAttribution } from '../../src/methods/kn/attribution.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { Editor } from '../../src/editor/editor.js';
import { loadEditedModel } from '../../src/editor/persist.js';
import { encoderDecoderMethodNames } from '../../src/editor/methods.js';
import { REPO_ROOT, SHARED_DATA } from '../data.js';

const TOKENIZER = join(SHARED_DATA, 'gpt2-tokenizer');
const CONFIG = {
  architectures: ['T5ForConditionalGeneration'], model_type: 't5', vocab_size: 50257, d_model: 32, d_kv: 8, d_ff: 64,
  num_layers: 2, num_decoder_layers: 2, num_heads: 4, relative_attention_num_buckets: 8, relative_attention_max_distance: 32,
  dropout_rate: 0, layer_norm_epsilon: 1e-6, initializer_factor: 1, feed_forward_proj: 'relu', is_encoder_decoder: true,
  tie_word_embeddings: true, pad_token_id: 50256, eos_token_id: 50256, decoder_start_token_id: 50256,
};
const WO = 'decoder.block.1.layer.2.DenseReluDense.wo';
const FT = {
  layers: [1], num_steps: 30, batch_size: 1, lr: 5e-2, weight_decay: 0, kl_factor: 0, norm_constraint: -1,
  rewrite_module_tmp: 'decoder.block.{}.layer.2.DenseReluDense.wo',
};
const REQUEST = { prompt: 'The capital of {} is', subject: 'Freedonia', targetNew: 'New Paris', caseId: 'c0' };
const PROBE = [{ prompt: 'The capital of Freedonia is', continuation: ' New Paris' }, { prompt: 'Water boils at', continuation: ' noon' }];

let dir: string;
let model: EditableModel;
let tok: Tokenizer;

function nll(e: { score: Editor['edited']['score'] }): number[] {
  return e.score(PROBE).map((s) => -s.logprobs.reduce((a, b) => a + b, 0));
}
/** NLL of the target's first token: what FT-L (every target token read at the prompt's end) and FT-M share. */
function firstNll(e: { score: Editor['edited']['score'] }): number {
  return -e.score([PROBE[0]])[0].logprobs[0];
}

/** Three capital-city edit records (two to train on, one to validate). */
const trainingRecords = () => ['Freedonia', 'Sylvania', 'Latveria'].map((c, i) => normalizeRequest({
  prompt: `The capital of ${c} is`, subject: c, targetNew: 'New Paris', rephrasePrompts: [`${c}'s capital is`],
  locality: { neighborhood: [{ prompt: 'Water boils at', groundTruth: 'noon' }] },
}, i));

/** Trains a trained editor briefly on the records into `archive`; `inspect` sees the editor before training. */
function trainBriefly(method: 'MEND' | 'SERAC', h: TrainingHparams, archive: string, inspect?: (e: TrainableEditor) => void): number {
  const m = method === 'MEND' ? mend : serac;
  const requests = trainingRecords();
  const trainer = (m.trained as TrainedMethod).create(model, h, { tokenizer: tok, seed: h.seed });
  try {
    inspect?.(trainer);
    return trainEditor(trainer, {
      train: requests.slice(0, 2), val: requests.slice(2), hparams: h, outDir: archive,
      manifest: { method, hparams: h as unknown as Record<string, unknown>, base: baseIdentity(model) }, identity: `${method}-t5-test`,
    }).steps;
  } finally {
    trainer.dispose();
  }
}

describe('editing a T5 (encoder-decoder) through the Editor', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lmedit-t5-edit-'));
    const m = randomT5Model(CONFIG, 3, TOKENIZER);
    saveT5Model(m, join(dir, 'base'));
    m.dispose();
    // saveT5Model copies the tokenizer files of the model's source directory (GPT-2's here)
    assert.ok(existsSync(join(dir, 'base', 'vocab.json')));
    model = loadEditableModel(join(dir, 'base'));
    tok = loadTokenizer(join(dir, 'base'));
  });
  after(() => {
    model?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('loadEditableModel reads a T5 checkpoint as a T5Model', () => {
    assert.ok(model instanceof T5Model && isEncoderDecoder(model));
  });

  test('targetStates: the decoder positions that predict the target give its teacher-forced log-probabilities', () => {
    const prompt = tok.encode('The capital of Freedonia is');
    const target = tok.encode(' New Paris');
    assert.equal(target.length, 2);
    const viaPass = tidy(() => noGrad(() => {
      const pass = targetStates(model, [prompt], [target]);
      assert.equal(pass.stack, 'decoder');
      const logp = model.logitsFrom(rowsAt(pass.hidden, pass.positions)[0]).logSoftmax(-1);
      return target.map((t, j) => logp.select(0, j).select(0, t).item());
    }));
    const editor = new Editor(model, tok, { method: 'FT-M', hparams: FT });
    const viaScore = editor.edited.score([PROBE[0]])[0].logprobs;
    editor.dispose();
    viaPass.forEach((x, j) => assert.ok(Math.abs(x - viaScore[j]) < 1e-5, `token ${j}: ${x} vs ${viaScore[j]}`));
  });

  for (const method of ['FT-M', 'FT-L']) {
    test(`${method} raises P(target) on the T5, changes only the chosen decoder FFN, rolls back bit-exact`, () => {
      const editor = new Editor(model, tok, { method, hparams: FT });
      try {
        const names = model.parameterNames();
        const before0 = new Map(names.map((n) => [n, Array.from(model.parameter(n).toFlatArray())]));
        const [pBefore, otherBefore] = nll(editor.edited);
        const firstBefore = firstNll(editor.edited);
        const [record] = editor.edit(REQUEST);
        assert.deepEqual(record.deltas.map((d) => d.param).sort(), [`${WO}.weight`]);
        const [pAfter, otherAfter] = nll(editor.edited);
        const firstAfter = firstNll(editor.edited);
        assert.ok(firstAfter < firstBefore * 0.75, `NLL of the target's first token ${firstBefore.toFixed(3)} → ${firstAfter.toFixed(3)}`);
        // FT-M trains the teacher-forced sequence; FT-L reads both tokens at the first decoder position only
        assert.ok(pAfter < pBefore * (method === 'FT-M' ? 0.5 : 0.8), `NLL of the target ${pBefore.toFixed(3)} → ${pAfter.toFixed(3)}`);
        assert.ok(Number.isFinite(otherAfter) && otherAfter !== otherBefore, 'the unrelated prompt is scored through the edited weights');
        for (const n of names) {
          if (n === `${WO}.weight`) continue;
          assert.deepEqual(Array.from(model.parameter(n).toFlatArray()), before0.get(n), `${n} unchanged`);
        }
        editor.rollback(record.id);
        for (const n of names) assert.deepEqual(Array.from(model.parameter(n).toFlatArray()), before0.get(n), `${n} restored bit-exact`);
        assert.deepEqual(nll(editor.edited), [pBefore, otherBefore]);
      } finally {
        editor.restore();
        editor.dispose();
      }
    });
  }

  test('save → load gives a T5 with identical scores; the saved checkpoint is a plain T5 directory', () => {
    const editor = new Editor(model, tok, { method: 'FT-M', hparams: FT });
    const out = join(dir, 'edited');
    try {
      editor.edit(REQUEST);
      const want = editor.edited.score(PROBE);
      editor.save(out);
      const loaded = loadEditedModel<T5Model>(out);
      try {
        assert.ok(loaded.base instanceof T5Model);
        assert.deepEqual(loaded.score(PROBE), want);
        assert.deepEqual(loaded.activeEdits.map((a) => a.method), ['FT-M']);
      } finally {
        loaded.dispose();
        loaded.base.dispose();
      }
    } finally {
      editor.restore();
      editor.dispose();
    }
  });

  test('T-Patcher on a T5: a neuron per wrong target token in the last decoder FFN makes the edit, stays off the memory set, rolls back', () => {
    const hp = {
      alg_name: 'T-Patcher', layer: -1, lr: 0.05, max_edit_step: 150, start_val_epoch: 10, check_val_every_n_epoch: 10, max_add_neuron_num: 2,
      memory_loss: 'top100_exp+top100_exp', mlc: 10, memory_size: 400, memory_file: join(SHARED_DATA, 'wikitext-2', 'test.txt'),
    };
    const editor = new Editor(model, tok, { method: 'T-Patcher', hparams: hp });
    try {
      const [pBefore, otherBefore] = nll(editor.edited);
      const [record] = editor.edit(REQUEST);
      const patch = editor.edited.patches();
      assert.equal(patch.length, 1);
      assert.equal(patch[0].module, 'decoder.block.1.layer.2.DenseReluDense');
      const extra = record.reports[0].extra as { success: boolean; positions: number[]; memoryRows: number; activations: number[] };
      assert.ok(extra.success, 'every target token is the arg-max after the edit');
      assert.deepEqual(extra.positions, [0, 1], 'one neuron at each wrong decoder position');
      assert.ok(extra.memoryRows >= 400, `memory rows ${extra.memoryRows}`);
      const [pAfter] = nll(editor.edited);
      assert.ok(pAfter < pBefore / 2, `NLL of the target ${pBefore.toFixed(3)} → ${pAfter.toFixed(3)}`);
      editor.rollback(record.id);
      assert.equal(editor.edited.patches().length, 0);
      assert.deepEqual(nll(editor.edited), [pBefore, otherBefore]);
    } finally {
      editor.restore();
      editor.dispose();
    }
  });

  test('CaliNet in its original T5 form: calibration slots in the decoder FFNs learn a batch of facts; save → load; restore', () => {
    const hp = { alg_name: 'CaliNet', kb_layer: [0, 1], ex_size: 16, max_steps: 60, learning_rate: 5e-2, activation: 'relu' };
    const editor = new Editor(model, tok, { method: 'CALINET', hparams: hp });
    const out = join(dir, 'calinet');
    try {
      const [pBefore] = nll(editor.edited);
      editor.edit([REQUEST, { prompt: 'Water boils at', subject: 'Water', targetNew: 'noon', caseId: 'c1' }]);
      assert.deepEqual(editor.edited.patches().map((p) => p.module), ['decoder.block.0.layer.2.DenseReluDense', 'decoder.block.1.layer.2.DenseReluDense']);
      const after1 = nll(editor.edited);
      assert.ok(after1[0] < pBefore / 2 && after1[1] < pBefore / 2, `NLL ${pBefore.toFixed(3)} → ${after1.map((x) => x.toFixed(3))}`);
      const want = editor.edited.score(PROBE);
      editor.save(out);
      const loaded = loadEditedModel<T5Model>(out);
      try {
        assert.deepEqual(loaded.score(PROBE), want);
      } finally {
        loaded.dispose();
        loaded.base.dispose();
      }
      editor.restore();
      assert.equal(nll(editor.edited)[0], pBefore);
    } finally {
      editor.restore();
      editor.dispose();
    }
  });

  test('KN on a T5: integrated gradients over a decoder FFN are complete (Σ Attr = P(w̄) − P(0)); the edit writes wo columns only', () => {
    const h = validateHparams<KnHparams>({ alg_name: 'KN', steps: 64, batch_size: 32, adaptive_threshold: 0.2, lr_scale: 1 }, kn.schema, 'kn.yaml');
    const site = neuronSite(model, h);
    assert.equal(site.module(1), WO);
    const prompt = tok.encode('The capital of Freedonia is');
    const y = tok.encode(' New')[0];
    const prob = (zeroLayer?: number) => tidy(() => noGrad(() => {
      const last = prefixLast(model, prompt, []);
      const trace = zeroLayer === undefined ? [] : [{ module: site.module(zeroLayer), retainOutput: false, editInput: replaceAt({ rows: [0], positions: [last] }, zeros([64])) }];
      const { hidden } = prefixStates(model, [prompt], [[]], { trace });
      return model.logitsFrom(hidden.select(0, 0).select(0, last)).softmax(-1).select(0, y).item();
    }));
    const { acts } = baselineActivations(model, site, prompt, []);
    try {
      for (const layer of [0, 1]) {
        const attr = tidy(() => layerAttribution(model, site, prompt, [], layer, acts.select(0, layer), y, { steps: 64, batchSize: 32 }).sum().item());
        const gap = prob() - prob(layer);
        assert.ok(Math.abs(attr - gap) < 0.03 * Math.abs(gap) + 1e-6, `layer ${layer}: Σ Attr ${attr} vs P(w̄) − P(0) = ${gap}`);
      }
    } finally {
      acts.dispose();
    }
    const editor = new Editor(model, tok, { method: 'KN', hparams: { steps: 64, batch_size: 32, adaptive_threshold: 0.2, lr_scale: 1 } });
    try {
      const [record] = editor.edit({ ...REQUEST, groundTruth: 'New York' });
      const extra = record.reports[0].extra as { editedNeurons: number; neuronsPerLayer: Record<string, number> };
      assert.ok(extra.editedNeurons > 0, 'some neuron passes the threshold');
      for (const d of record.deltas) assert.match(d.param, /^decoder\.block\.\d\.layer\.2\.DenseReluDense\.wo\.weight$/);
    } finally {
      editor.restore();
      editor.dispose();
    }
  });

  test('MEND on a T5: Σ x δᵀ is ∇W for encoder and decoder weights; a trained editor edits, saves and rolls back', () => {
    const prompt = tok.encode('The capital of Freedonia is');
    const target = tok.encode(' New Paris');
    const rows = { prompts: [prompt], targets: [target] };
    const loss = (pass: TargetPass) => crossEntropy(model.logitsFrom(rowsAt(pass.hidden, pass.positions)[0]), tensor(target, { dtype: 'int64' }), { reduction: 'sum' });
    const modules = ['encoder.block.1.layer.1.DenseReluDense.wi', 'decoder.block.1.layer.2.DenseReluDense.wo'];
    const { factors } = gradientFactors(model, modules, rows, loss);
    for (const m of modules) {
      const f = factors.get(m)!;
      assert.equal(f.x.shape[0], m.startsWith('encoder.') ? prompt.length + 1 : target.length, `${m}: one factor row per position of its stack`);
      const truth = keep(enableGrad(() => tidy(() => {
        const w = model.parameter(`${m}.weight`).detach().clone().requiresGrad_(true);
        return autograd.grad(loss(targetStates(model, [prompt], [target], { parameterOverrides: new Map([[`${m}.weight`, w]]) })), w)[0]!;
      })));
      const pseudo = pseudoGradient(f.x, f.delta, false);
      const scale = noGrad(() => truth.abs().max().item());
      assert.ok(scale > 0 && noGrad(() => pseudo.sub(truth).abs().max().item()) <= 1e-5 * scale, `${m}: δ xᵀ = ∇W`);
      [truth, pseudo, f.x, f.delta].forEach((t) => t.dispose());
    }
    const archive = join(dir, 'mend');
    const mh = { alg_name: 'MEND', inner_params: modules.map((m) => `${m}.weight`), rank: 8, lr: 1e-3, lr_lr: 1e-3, edit_lr: 1e-3, seed: 3 };
    const h = validateHparams<MendHparams>({ ...mh, max_iters: 2, accumulate_bs: 1, val_interval: 2, val_steps: 1, log_interval: 1, model_save_pt: 100 }, MEND_SCHEMA, 'mend.yaml');
    assert.equal(trainBriefly('MEND', h, archive), 2);
    const editor = new Editor(model, tok, { method: 'MEND', hparams: { ...mh, archive } });
    try {
      const before1 = nll(editor.edited);
      const [record] = editor.edit(REQUEST);
      assert.deepEqual(record.deltas.map((d) => d.param).sort(), mh.inner_params.slice().sort());
      assert.notDeepEqual(nll(editor.edited), before1, 'the edit changes the T5');
      editor.rollback(record.id);
      assert.deepEqual(nll(editor.edited), before1, 'rollback: bit-identical scores');
    } finally {
      editor.restore();
      editor.dispose();
    }
  });

  test('SERAC on a T5: encoder features for the scope classifier, a T5 counterfactual model; trained briefly, it routes an in-scope query to the counterfactual model', () => {
    const archive = join(dir, 'serac');
    const sh = { alg_name: 'SERAC', cntr_train_embeddings: false, lr: 5e-3, cls_lr: 1e-2, cls_hidden: 16, cls_dim: 8, seed: 0 };
    const h = validateHparams<SeracHparams>({ ...sh, max_iters: 4, accumulate_bs: 1, val_interval: 4, val_steps: 1, log_interval: 1, model_save_pt: 100 }, serac.schema, 'serac.yaml');
    serac.check(model, h, 'serac.yaml');
    const steps = trainBriefly('SERAC', h, archive, (trainer) => {
      const cntr = (trainer as unknown as { cntr: EditableModel }).cntr;
      assert.ok(cntr instanceof T5Model && cntr !== model, 'the counterfactual model is a second T5');
    });
    assert.equal(steps, 4);
    const editor = new Editor(model, tok, { method: 'SERAC', hparams: { ...sh, archive } });
    try {
      const before1 = nll(editor.edited);
      const [record] = editor.edit(REQUEST);
      assert.equal(record.deltas.length, 0, 'no weight changes: a wrapper');
      assert.equal(editor.edited.inferenceWrappers().length, 1);
      assert.ok(Number.isFinite(nll(editor.edited)[0]));
      editor.rollback(record.id);
      assert.deepEqual(nll(editor.edited), before1, 'rollback: the base answers again');
    } finally {
      editor.restore();
      editor.dispose();
    }
  });

  test('IKE edits a T5 in context (its wrapper only rewrites text)', () => {
    const editor = new Editor(model, tok, { method: 'IKE', hparams: { k: 0, use_icl_examples: false } });
    try {
      const before1 = editor.edited.score([PROBE[0]])[0].logprobs;
      editor.edit(REQUEST);
      const after1 = editor.edited.score([PROBE[0]])[0].logprobs;
      assert.notDeepEqual(after1, before1, 'the prompt now carries the new fact');
      editor.restore();
      assert.deepEqual(editor.edited.score([PROBE[0]])[0].logprobs, before1);
    } finally {
      editor.dispose();
    }
  });

  for (const [name, depth] of [['t5-3b', 24], ['t5-kb', 4]] as const) {
    test(`every shipped ${name} hparams file validates and fits a T5 of its depth (${depth} + ${depth} blocks, tiny width)`, () => {
      const deep = randomT5Model({ ...CONFIG, d_model: 8, d_kv: 2, d_ff: 16, num_heads: 4, num_layers: depth, num_decoder_layers: depth }, 1, TOKENIZER);
      try {
        const methods = ['FT-L', 'FT-M', 'KN', 'T-PATCHER', 'CALINET', ...(name === 't5-kb' ? ['IKE'] : ['MEND', 'SERAC'])];
        for (const method of methods) {
          const file = join(REPO_ROOT, 'hparams', method, `${name}.yaml`);
          const { raw } = readHparamsFile(file);
          checkAlgName(raw, method, file);
          const { method: m, defaults } = methodFor(method);
          assert.ok(m.encoderDecoder, `${method} edits a T5`);
          m.check(deep, validateHparams({ ...defaults, ...raw }, m.schema, file), file);
        }
      } finally {
        deep.dispose();
      }
    });
  }

  test('a causal-only method on a T5 is a clear error naming the methods that edit one', () => {
    assert.ok(encoderDecoderMethodNames().includes('FT-M') && encoderDecoderMethodNames().includes('IKE'));
    assert.ok(!encoderDecoderMethodNames().includes('ROME'));
    assert.throws(
      () => new Editor(model, tok, { method: 'ROME', hparams: {} }),
      (e: Error) => /ROME edits causal language models only/.test(e.message) && /t5 \(encoder-decoder\)/.test(e.message) && /FT-M/.test(e.message),
    );
  });
});
