// KN's mechanism (src/methods/kn), checked on kbgpt and tiny-llama: integrated gradients satisfy completeness
// (Σ_i Attr_i ≈ P(y | w̄) − P(y | 0) at one layer's last position, for EasyEdit's Riemann sum with many steps) and do
// not depend on the batching; the adaptive threshold, refinement and cap pick what they say; the edit changes exactly
// the selected neurons' output vectors of the down-projection by E[target] − 2·E[original argmax] (Conv1D rows on
// GPT-2, nn.Linear columns on Llama) and leaves the model untouched; a request without ground truth is refused; and
// through the Editor: save → load gives identical logits, rollback restores the weights bit for bit.
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, replaceAt, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { keep, noGrad, tidy, zeros, type Tensor } from '../../src/tensor/index.js';
import { kn, neuronSite, findNeurons, type KnHparams } from '../../src/methods/kn/index.js';
import { baselineActivations, layerAttribution } from '../../src/methods/kn/attribution.js';
import { capNeurons, coarseNeurons, refinedNeurons, type Neuron } from '../../src/methods/kn/neurons.js';
import { denseDelta } from '../../src/methods/delta.js';
import { checkAlgName, readHparamsFile, validateHparams } from '../../src/methods/hparams.js';
import { normalizeRequest, type EditRequest } from '../../src/methods/request.js';
import type { Edit } from '../../src/methods/types.js';
import { Editor } from '../../src/editor/editor.js';
import { loadEditedModel } from '../../src/editor/persist.js';
import { GOLDEN, KBGPT, REPO_ROOT } from '../data.js';

const cases = (JSON.parse(readFileSync(join(KBGPT, 'edits.json'), 'utf8')).cases as any[]).filter((c) => c.known_prompt);
const req = (c: any): EditRequest => ({ prompt: c.prompt, subject: c.subject, targetNew: c.target_new, groundTruth: c.ground_truth, caseId: c.case_id });
const raw = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ alg_name: 'KN', steps: 20, batch_size: 20, adaptive_threshold: 0.2, ...over });
const hp = (over: Record<string, unknown> = {}) => validateHparams<KnHparams>(raw(over), kn.schema, 'test.yaml');

let model: CausalLM;
let tok: Tokenizer;
before(() => { model = loadModel(KBGPT); tok = loadTokenizer(KBGPT); });
after(() => model.dispose());

/** P(answer | prompt) at the last position, with `layer`'s neurons there replaced by `value` (or untouched). */
function probAt(m: CausalLM, ids: number[], answer: number, layer?: number, value?: Tensor): number {
  return tidy(() => noGrad(() => {
    const site = neuronSite(m, hp());
    const trace = layer === undefined ? [] : [{ module: site.module(layer), retainOutput: false, editInput: replaceAt({ rows: [0], positions: [ids.length - 1] }, value!) }];
    const { hidden } = m.forward({ inputIds: [ids], logits: 'none', trace });
    return m.logitsFrom(hidden.select(0, 0).select(0, ids.length - 1)).softmax(-1).select(0, answer).item();
  }));
}

function compute(m: CausalLM, t: Tokenizer, r: EditRequest, h: KnHparams, log?: (s: string) => void): Edit {
  const session = kn.open(m, h, { tokenizer: t, seed: 0, log });
  try { return session.compute([normalizeRequest(r, 0)], { editId: 'e1' }); } finally { session.dispose(); }
}

describe('integrated-gradients attribution', () => {
  const c = cases[3];
  test('completeness: Σ_i Attr_i ≈ P(y | w̄) − P(y | 0) at the layer, with 128 steps (layers 0 and 5)', () => {
    const ids = tok.encode(c.prompt);
    const y = tok.encode(` ${c.ground_truth}`)[0];
    const site = neuronSite(model, hp());
    const { acts } = baselineActivations(model, site, ids, []);
    const full = probAt(model, ids, y);
    assert.ok(full > 0.05, `the case is known (P = ${full})`);
    for (const layer of [0, 5]) {
      const attr = tidy(() => layerAttribution(model, site, ids, [], layer, acts.select(0, layer), y, { steps: 128, batchSize: 64 }).sum().item());
      const zero = probAt(model, ids, y, layer, zeros([acts.shape[1]]));
      const gap = full - zero;
      assert.ok(Math.abs(attr - gap) < 0.02 * Math.abs(gap) + 2e-4, `layer ${layer}: Σ Attr ${attr} vs P(w̄) − P(0) = ${full} − ${zero}`);
    }
    acts.dispose();
  });

  test("EasyEdit's site (input_ff_module_tmp: c_fc, the pre-GELU output): completeness holds there too", () => {
    const ids = tok.encode(c.prompt);
    const y = tok.encode(` ${c.ground_truth}`)[0];
    const h = hp({ input_ff_module_tmp: 'transformer.h.{}.mlp.c_fc' });
    kn.check(model, h, 'kn.yaml');
    const site = neuronSite(model, h);
    assert.equal(site.side, 'output');
    const { acts } = baselineActivations(model, site, ids, []);
    const full = probAt(model, ids, y);
    const zero = tidy(() => noGrad(() => {
      const trace = [{ module: 'transformer.h.0.mlp.c_fc', retainOutput: false, editOutput: replaceAt({ rows: [0], positions: [ids.length - 1] }, zeros([acts.shape[1]])) }];
      const { hidden } = model.forward({ inputIds: [ids], logits: 'none', trace });
      return model.logitsFrom(hidden.select(0, 0).select(0, ids.length - 1)).softmax(-1).select(0, y).item();
    }));
    const attr = tidy(() => layerAttribution(model, site, ids, [], 0, acts.select(0, 0), y, { steps: 128, batchSize: 64 }).sum().item());
    assert.ok(Math.abs(attr - (full - zero)) < 0.02 * Math.abs(full - zero) + 2e-4, `Σ Attr ${attr} vs ${full} − ${zero}`);
    assert.throws(() => kn.check(model, hp({ input_ff_module_tmp: 'transformer.h.{}.mlp.fc_in' }), 'kn.yaml'), /kn.yaml: input_ff_module_tmp 'transformer.h.\{\}.mlp.fc_in' does not name a module/);
    acts.dispose();
  });

  test('the batching does not change the attribution (steps 20: batch_size 20 = batch_size 4); steps must divide', () => {
    const ids = tok.encode(c.prompt);
    const y = tok.encode(` ${c.ground_truth}`)[0];
    const site = neuronSite(model, hp());
    const { acts } = baselineActivations(model, site, ids, []);
    const [a, b] = [20, 4].map((bs) => keep(tidy(() => layerAttribution(model, site, ids, [], 1, acts.select(0, 1), y, { steps: 20, batchSize: bs }))));
    assert.ok(a.allclose(b, 1e-4, 1e-7), 'equal up to float summation order');
    assert.ok(tidy(() => a.abs().max().item()) > 0, 'not all zero');
    assert.throws(() => layerAttribution(model, site, ids, [], 1, acts.select(0, 1), y, { steps: 20, batchSize: 6 }), /steps \(20\) must be a multiple of batch_size \(6\)/);
    assert.throws(() => kn.check(model, hp({ steps: 20, batch_size: 6 }), 'kn.yaml'), /kn.yaml: steps \(20\) must be a multiple of batch_size \(6\)/);
    [a, b, acts].forEach((t) => t.dispose());
  });
});

describe('choosing the neurons', () => {
  const grid = { values: [0.1, 0.5, -1, 1.0, 0.3, 0.31], numLayers: 2, width: 3 };
  test('coarse: attribution > adaptive_threshold × max (strict), in (layer, index) order', () => {
    const { neurons, threshold, max } = coarseNeurons(grid, 0.3);
    assert.equal(max, 1);
    assert.ok(Math.abs(threshold - 0.3) < 1e-12);
    assert.deepEqual(neurons.map((n) => [n.layer, n.index]), [[0, 1], [1, 0], [1, 2]]);
  });

  test('refine keeps neurons coarse for more than p × n prompts; without refine, every coarse neuron', () => {
    const n = (layer: number, index: number, score = 1): Neuron => ({ layer, index, score, count: 1 });
    const lists = [[n(0, 1, 2), n(1, 4)], [n(0, 1, 4), n(2, 2)], [n(1, 4), n(0, 1, 6)]];
    const refined = refinedNeurons(lists, { p: 0.5, refine: true });   // t = 1.5: count >= 2
    assert.deepEqual(refined.map((x) => [x.layer, x.index, x.count]), [[0, 1, 3], [1, 4, 2]]);
    assert.equal(refined[0].score, 4, 'the mean score over the prompts where it was coarse');
    assert.deepEqual(refinedNeurons(lists, { p: 0.5, refine: false }).map((x) => [x.layer, x.index]), [[0, 1], [1, 4], [2, 2]]);
    assert.equal(refinedNeurons(lists, { p: 0.7, refine: true }).length, 1);
    assert.throws(() => refinedNeurons(lists, { p: 1, refine: true }), /p must be in \[0, 1\)/);
  });

  test('the cap keeps the largest attributions, in their original order', () => {
    const ns = [0.3, 0.9, 0.1, 0.9, 0.5].map((score, i): Neuron => ({ layer: i % 2, index: i, score, count: 1 }));
    const { kept, dropped } = capNeurons(ns, 3);
    assert.deepEqual(kept.map((x) => x.index), [1, 3, 4]);
    assert.equal(dropped, 2);
    assert.equal(capNeurons(ns, 9).dropped, 0);
  });
});

describe('the edit', () => {
  const c = cases[5];
  test('changes exactly the selected rows of c_proj, each by E[target] − 2·E[original argmax]; the model is untouched', () => {
    const h = hp();
    const before = model.snapshot(model.parameterNames());
    const edit = compute(model, tok, req(c), h);
    for (const [name, t] of before) assert.ok(t.equal(model.parameter(name)), `${name} unchanged by compute`);
    const x = edit.diagnostics[0].extra as any;
    assert.ok(x.editedNeurons > 0 && x.editedNeurons === x.neurons.length);
    const ids = tok.encode(c.prompt);
    const argmax = tidy(() => noGrad(() => model.logitsFrom(model.forward({ inputIds: [ids], logits: 'none' }).hidden.select(1, ids.length - 1)).argmax(-1).item()));
    assert.deepEqual(x.originalTokens, [argmax]);
    const target = tok.encode(` ${c.target_new}`);
    assert.equal(target.length, 1, 'a one-token target');
    const wte = model.parameter('transformer.wte.weight');
    const expected = keep(tidy(() => wte.select(0, target[0]).sub(wte.select(0, argmax).mul(2))));
    const layers = new Set<number>(x.neurons.map((n: number[]) => n[0]));
    assert.equal(edit.deltas.length, layers.size, 'one rank-one delta per layer with neurons');
    for (const d of edit.deltas) {
      const layer = Number(/h\.(\d+)\.mlp\.c_proj\.weight$/.exec(d.param)![1]);
      const rows = x.neurons.filter((n: number[]) => n[0] === layer).map((n: number[]) => n[1]).sort((a: number, b: number) => a - b);
      tidy(() => {
        const dense = denseDelta(d);
        assert.deepEqual(dense.shape, model.parameter(d.param).shape);
        const nonzero = dense.abs().sum(1).gt(0).nonzero().squeeze(1).toFlatArray();
        assert.deepEqual([...nonzero].map(Number), rows, `layer ${layer}: only the selected rows change`);
        for (const r of rows) assert.ok(dense.select(0, r).allclose(expected, 1e-6, 1e-6), `row ${r}`);
      });
    }
    expected.dispose();
    for (const t of before.values()) t.dispose();
  });

  test('on Llama (nn.Linear [d, I]) the selected columns of down_proj change, by the input embeddings', () => {
    const llama = loadModel(join(GOLDEN, 'tiny-llama'));
    const fake = { // bytes as ids (vocab 256); enough for prompts and one-token answers
      encode: (s: string) => [...Buffer.from(s)].map((b) => b % 256),
      decode: (ids: number[]) => ids.join(','),
    } as unknown as Tokenizer;
    try {
      const edit = compute(llama, fake, { prompt: 'The capital of {} is', subject: 'Xy', targetNew: 'A', groundTruth: 'B' }, hp({ adaptive_threshold: 0.1 }));
      const x = edit.diagnostics[0].extra as any;
      assert.ok(x.editedNeurons > 0);
      const emb = llama.parameter('model.embed_tokens.weight');
      const expected = keep(tidy(() => emb.select(0, fake.encode(' A')[1]).add(emb.select(0, fake.encode(' A')[0])).sub(emb.select(0, x.originalTokens[0]).add(emb.select(0, x.originalTokens[1])))));
      for (const d of edit.deltas) {
        assert.match(d.param, /^model\.layers\.\d\.mlp\.down_proj\.weight$/);
        const layer = Number(d.param.split('.')[2]);
        const cols = x.neurons.filter((n: number[]) => n[0] === layer).map((n: number[]) => n[1]).sort((a: number, b: number) => a - b);
        tidy(() => {
          const dense = denseDelta(d);
          assert.deepEqual(dense.shape, [64, 128]);
          assert.deepEqual([...dense.abs().sum(0).gt(0).nonzero().squeeze(1).toFlatArray()].map(Number), cols);
          for (const col of cols) assert.ok(dense.select(1, col).allclose(expected, 1e-6, 1e-6), `two-token target: factor 1 (column ${col})`);
        });
      }
      expected.dispose();
    } finally {
      llama.dispose();
    }
  });

  test('a request without ground truth is refused, naming the request', () => {
    const editor = new Editor(model, tok, { method: 'KN', hparams: raw() });
    const { groundTruth: _, ...noGt } = req(cases[7]);
    assert.throws(() => editor.edit(noGt), new RegExp(`KN: edit request 0 \\(case ${cases[7].case_id}\\) has no ground_truth`));
    assert.equal(editor.activeEdits.length, 0);
    editor.dispose();
  });

  test('the neuron cap: a threshold of 0 selects hundreds, max_neurons keeps the largest and says so', () => {
    const messages: string[] = [];
    const h = hp({ adaptive_threshold: 0, max_neurons: 7, steps: 4, batch_size: 4 });
    const found = findNeurons(model, normalizeRequest(req(cases[5]), 0), h, { tokenizer: tok, seed: 0, log: (s) => messages.push(s) });
    assert.ok(found.refined.length > 100, `${found.refined.length} neurons above 0`);
    assert.equal(found.kept.length, 7);
    const seventh = [...found.refined].sort((a, b) => b.score - a.score)[6].score;
    assert.ok(found.kept.every((n) => n.score >= seventh));
    const edit = compute(model, tok, req(cases[5]), h, (s) => messages.push(s));
    const x = edit.diagnostics[0].extra as any;
    assert.equal(x.editedNeurons, 7);
    assert.equal(x.cappedAt, 7);
    assert.equal(x.droppedNeurons, found.refined.length - 7);
    const rows = edit.deltas.reduce((s, d) => s + tidy(() => d.left!.gt(0).sum().item()), 0);
    assert.equal(rows, 7, 'seven rows change');
    assert.match(messages[0], /neurons selected, editing the 7 with the largest attribution \(max_neurons 7\)/);
  });
});

describe('through the Editor', () => {
  test('save → load gives identical logits; rollback restores the original weights bit for bit', () => {
    const params = model.parameterNames().filter((n) => n.endsWith('mlp.c_proj.weight'));
    const original = model.snapshot(params);
    const prompts = [cases[5].prompt, cases[11].prompt, cases[40].prompt];
    const logits = (m: CausalLM) => keep(tidy(() => noGrad(() => m.forward({ inputIds: [tok.encode(prompts[0])] }).logits!)));
    const dir = mkdtempSync(join(tmpdir(), 'lmedit-kn-'));
    const editor = new Editor(model, tok, { method: 'KN', hparams: raw({ steps: 10, batch_size: 10 }) });
    try {
      const target = ` ${cases[5].target_new}`;
      const before = editor.edited.score([{ prompt: prompts[0], continuation: target }])[0];
      const [a] = editor.edit(req(cases[5]));
      const afterScore = editor.edited.score([{ prompt: prompts[0], continuation: target }])[0];
      assert.ok(afterScore.mean > before.mean, `the edit raises the target (${before.mean} → ${afterScore.mean})`);
      const [b] = editor.edit(req(cases[11]));
      assert.ok(a.deltas.length > 0 && b.deltas.length > 0);
      const edited = logits(model);
      editor.save(join(dir, 'kn'));
      const loaded = loadEditedModel(join(dir, 'kn'));
      const got = logits(loaded.base);
      assert.ok(got.equal(edited), 'identical logits after save → load');
      loaded.dispose();
      editor.rollback(a.id);
      editor.rollback(b.id);
      for (const p of params) assert.ok(original.get(p)!.equal(model.parameter(p)), `${p} restored bit for bit`);
      [edited, got].forEach((t) => t.dispose());
    } finally {
      editor.restore();
      editor.dispose();
      for (const t of original.values()) t.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('every shipped hparams/KN file validates and fits its architecture (tiny golden stand-ins for the large ones)', () => {
  const fits: Record<string, string> = { kbgpt: KBGPT, factgpt: KBGPT, 'gpt2-xl': join(GOLDEN, 'tiny-gpt2'), 'gpt-j-6b': join(GOLDEN, 'tiny-gptj'), 'llama-2-7b': join(GOLDEN, 'tiny-llama') };
  for (const [name, dir] of Object.entries(fits)) {
    const { raw: r, file } = readHparamsFile(join(REPO_ROOT, 'hparams', 'KN', `${name}.yaml`));
    checkAlgName(r, 'KN', file);
    const h = validateHparams<KnHparams>(r, kn.schema, file);
    const m = dir === KBGPT ? model : loadModel(dir);
    kn.check(m, h, file);
    if (m !== model) m.dispose();
  }
});
