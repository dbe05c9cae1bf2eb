// T-Patcher's mechanism, checked by hand on kbgpt (src/methods/tpatcher): an empty patch is the identity; a neuron
// adds act(x·k + b)·v to the MLP output at every position (the hand-computed value); the key init x/‖x‖² gives
// pre-activation 1 at its position; the original's loss forms (top-k over repeated copies, margins) on known numbers;
// an edit through the Editor makes kbgpt say the target with the neuron firing on the edit and silent on the memory
// set; save → load gives identical logits; rollback of the last edit restores the logits bit for bit, of the first
// edit drops exactly its neuron and memory rows; bad hparams are refused naming the field.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { padBatch, type CausalLM } from '../../src/models/index.js';
import type { Tokenizer } from '../../src/io/tokenizer.js';
import { keep, noGrad, randn, tensor, tidy, Generator, SGD, type Tensor } from '../../src/tensor/index.js';
import { tpatcher, TPatch, type TPatcherHparams } from '../../src/methods/tpatcher/index.js';
import { activationLoss, marginLoss, memoryLoss } from '../../src/methods/tpatcher/losses.js';
import { Plateau, earlyStop } from '../../src/methods/tpatcher/schedule.js';
import { validateHparams } from '../../src/methods/hparams.js';
import { Editor } from '../../src/editor/editor.js';
import { loadEditedModel } from '../../src/editor/persist.js';
import { normalizeRequest } from '../../src/methods/request.js';
import { loadModel } from '../../src/models/index.js';
import { GOLDEN, KBGPT, SHARED_DATA } from '../data.js';
import { suiteModel } from '../suite-model.js';

const MODULE = 'transformer.h.5.mlp';
const cases = (JSON.parse(readFileSync(join(KBGPT, 'edits.json'), 'utf8')).cases as any[]).filter((c) => c.known_prompt).slice(400, 403);
const request = (c: any) => ({ prompt: c.prompt, subject: c.subject, targetNew: c.target_new, groundTruth: c.ground_truth, caseId: c.case_id });
const prompt = (c: any) => c.prompt.replace('{}', c.subject);
const RAW = {
  alg_name: 'T-Patcher', layer: 5, lr: 0.05, max_edit_step: 60, start_val_epoch: 20, check_val_every_n_epoch: 10, max_add_neuron_num: 1,
  memory_size: 1500, memory_file: join(SHARED_DATA, 'wikitext-2/test.txt'),
};
const hp = (over: Record<string, unknown> = {}) => validateHparams<TPatcherHparams>({ ...RAW, ...over }, tpatcher.schema, 'test.yaml');

let model: CausalLM;
let tok: Tokenizer;
const root = suiteModel(KBGPT, 'lmedit-tpatcher-', (m, t) => { model = m; tok = t; });

function logits(prompts: string[], m: CausalLM = model): Tensor {
  const { ids, mask } = padBatch(prompts.map((p) => tok.encode(p)));
  return keep(tidy(() => noGrad(() => m.forward({ inputIds: ids, attentionMask: mask }).logits!)));
}
function mlpIO(text: string): { input: Tensor; output: Tensor } {
  return keep(tidy(() => noGrad(() => {
    const r = model.trace({ inputIds: [tok.encode(text)], logits: 'none' }, [{ module: MODULE, retainInput: true }]).traces.get(MODULE)!;
    return { input: r.input!.select(0, 0), output: r.output!.select(0, 0) };
  })));
}
function withInstalled<T>(p: TPatch, fn: () => T): T {
  const uninstall = model.install(p);
  try { return fn(); } finally { uninstall(); }
}
const pTarget = (c: any, m: CausalLM = model) => tidy(() => {
  const ids = tok.encode(prompt(c));
  const target = tok.encode(prompt(c) + ` ${c.target_new}`)[ids.length];
  return noGrad(() => m.forward({ inputIds: [ids], logits: 'last' }).logits!.softmax(-1).select(0, 0).select(0, target).item());
});

/** A patch with one neuron keyed on `text`'s last position (the init x/‖x‖², bias 0) and a random value. */
function handBuilt(text: string): { patch: TPatch; x: Tensor; v: Tensor } {
  const io = mlpIO(text);
  const x = keep(io.input.select(0, -1).clone());
  const v = keep(randn([x.shape[0]], { generator: new Generator(3) }));
  const patch = new TPatch(MODULE, 'gelu_tanh');
  patch.neurons.push(keep(tidy(() => ({ editId: 'hand', key: x.div(x.square().sum()), bias: tensor(0), value: v.clone() }))));
  [io.input, io.output].forEach((t) => t.dispose());
  return { patch, x, v };
}

describe('the patch', () => {
  test('an empty patch is the identity: logits bit-equal, padded batch included', () => {
    const prompts = [prompt(cases[0]), 'The', prompt(cases[1])];
    const plain = logits(prompts);
    const p = new TPatch(MODULE, 'gelu_tanh');
    assert.ok(withInstalled(p, () => logits(prompts)).equal(plain));
    p.dispose();
    plain.dispose();
  });

  test('a neuron adds gelu_new(x·k + b)·v at every position; the key init x/‖x‖² gives pre-activation 1 at its own', () => {
    const text = prompt(cases[0]);
    const { patch, x, v } = handBuilt(text);
    const plain = mlpIO(text);
    const key = patch.neurons[0].key;
    const got = withInstalled(patch, () => mlpIO(text));
    tidy(() => {
      assert.ok(Math.abs(x.dot(key).item() - 1) < 1e-5, 'pre-activation 1 at the key position');
      const T = plain.input.shape[0];
      for (let t = 0; t < T; t++) {
        const a = plain.input.select(0, t).dot(key);
        // gelu_new by its formula, not by the tensor op the patch uses
        const g = a.mul(0.5).mul(a.add(a.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI)).tanh().add(1));
        const want = plain.output.select(0, t).add(v.mul(g));
        const err = got.output.select(0, t).sub(want).abs().max().item();
        assert.ok(err < 1e-4, `position ${t}: off by ${err}`);
      }
      assert.ok(!got.output.select(0, 0).equal(plain.output.select(0, 0)), 'the patch acts at position 0 too (an FFN neuron, not incremental)');
    });
    assert.equal((patch as { incremental?: boolean }).incremental, undefined);
    [x, v, plain.input, plain.output, got.input, got.output].forEach((t) => t.dispose());
    patch.dispose();
  });

  test('the trained parameters get gradients through the forward pass; state → fromState is the same patch', () => {
    const text = prompt(cases[0]);
    const { patch, x, v } = handBuilt(text);
    const key = keep(tidy(() => x.div(x.square().sum()).unsqueeze(0))).requiresGrad_(true);
    const bias = keep(tensor([0.5])).requiresGrad_(true);
    const value = keep(v.unsqueeze(0).clone()).requiresGrad_(true);
    patch.training = { key, bias, value, trained: [key, bias, value] };
    const opt = new SGD([key, bias, value], { lr: 0.1 });
    withInstalled(patch, () => tidy(() => {
      model.forward({ inputIds: [tok.encode(text)], logits: 'last' }).logits!.square().mean().backward();
      assert.ok(key.grad && bias.grad && value.grad && value.grad.abs().sum().item() > 0, 'every trained tensor has a gradient');
    }));
    patch.commit('e1');
    patch.training = undefined;
    assert.deepEqual(patch.editIds(), ['hand', 'e1']);
    const copy = TPatch.fromState(MODULE, patch.state());
    const prompts = [text, prompt(cases[2])];
    const a = withInstalled(patch, () => logits(prompts));
    const b = withInstalled(copy, () => logits(prompts));
    assert.ok(a.equal(b), 'identical logits from the rebuilt patch');
    copy.removeEdit('e1');
    assert.equal(copy.size, 1);
    [a, b, x, v, key, bias, value].forEach((t) => t.dispose());
    opt.dispose();
    [patch, copy].forEach((p) => p.dispose());
  });
});

describe('the losses and controls (the original code, by hand)', () => {
  const t = (xs: number[]) => tensor(xs);
  const close = (a: Tensor, b: number) => assert.ok(Math.abs(a.item() - b) < 1e-5, `${a.item()} vs ${b}`);

  test('loss types: margin, exp, expmargin, top-k over repeated copies', () => tidy(() => {
    close(marginLoss(t([-1, 2, 4]), 'margin'), 3);
    close(marginLoss(t([-1, -2]), 'margin'), 0);
    close(marginLoss(t([0, 1]), 'exp'), (1 + Math.E) / 2);
    close(marginLoss(t([-1, 1]), 'expmargin'), Math.E);
    close(marginLoss(t([1, 2, 3]), 'top2_margin'), 2.5);
    // 8 copies of [1, 3]: the top 5 are five copies of 3; the top 10 eight 3s and two 1s
    close(marginLoss(t([1, 3]), 'top5_margin', 8), 3);
    close(marginLoss(t([1, 3]), 'top10_margin', 8), (8 * 3 + 2 * 1) / 10);
    close(marginLoss(t([1, 3]), 'top1000_margin', 8), 2);
  }));

  test('activation loss and memory loss as calculate_act_loss / calculate_memory_loss', () => tidy(() => {
    // act 1 at margin 2: term 2 - 1 = 1, exp → e
    close(activationLoss(t([1]), 'top5_exp', 2, 8), Math.E);
    close(activationLoss(t([3]), 'margin', 2), 0);
    // memory activations [0, -5] against act 1, margins 3 / -3: l1 terms [0-1+3, -5-1+3] = [2, -3], l2 [3, -2]
    const mem = t([0, -5]).unsqueeze(1);
    close(memoryLoss(mem, t([1]), 'margin+margin', 3, -3), 2 + 3);
    close(memoryLoss(mem, t([1]), 'top1_exp+exp', 3, -3, 8), Math.exp(2) + (Math.exp(3) + Math.exp(-2)) / 2);
  }));

  test('early_stop_editing and ReduceLROnPlateau', () => {
    assert.equal(earlyStop([0.5], 0.001, 1), false);
    assert.equal(earlyStop([0.5, 0.4], 0.001, 1), false);
    assert.equal(earlyStop([0.5, 0.4995], 0.001, 1), true, 'an improvement under thd does not count');
    const p = keep(tensor([1])).requiresGrad_(true);
    const opt = new SGD([p], { lr: 1 });
    const s = new Plateau(opt, { factor: 0.5, patience: 1, threshold: 0.05 });
    [1, 0.97, 0.96].forEach((v) => s.step(v)); // 0.97, 0.96 are within 5% of 1: two bad steps > patience 1
    assert.equal(opt.lr, 0.5);
    s.step(0.5);
    assert.equal(opt.lr, 0.5);
    opt.dispose();
    p.dispose();
  });
});

describe('editing kbgpt through the Editor', () => {
  test('the edit takes, the neuron fires on the edit and not on the memory; save → load identical; rollback', () => {
    const h = hp();
    const e = new Editor(model, tok, { method: 'T-PATCHER', hparams: { ...RAW } });
    try {
      const before = cases.map((c) => pTarget(c));
      const probes = [...cases.map(prompt), 'The capital of France is'];
      const plain = logits(probes);
      const records = e.edit([request(cases[0])]);
      const x = records[0].reports[0].extra as any;
      assert.equal(x.success, true, `edit holds at the arg-max: ${JSON.stringify(x)}`);
      assert.ok(x.activations[0] >= h.act_margin_val, `fires on the edit: ${x.activations}`);
      assert.ok(x.memoryRows >= 1000, `memory rows ${x.memoryRows}`);
      const after1 = pTarget(cases[0], e.edited.base);
      assert.ok(before[0] < 0.05 && after1 > 0.5, `P(target) ${before[0]} → ${after1}`);
      const patch = e.edited.patches()[0] as TPatch;
      // the neuron on the memory set: its pre-activation stays under the margins the memory loss asks for, mostly
      const mem = tidy(() => {
        const m = keep(tidy(() => {
          const { ids, mask } = padBatch([tok.encode(' The game began development in 2010 , carrying over a large portion of the work')]);
          return model.trace({ inputIds: ids, attentionMask: mask, logits: 'none' }, [{ module: MODULE, retainInput: true }]).traces.get(MODULE)!.input!.select(0, 0);
        }));
        const n = patch.neurons[0];
        return m.matmul(n.key).add(n.bias).max().item();
      });
      assert.ok(mem < x.activations[0] - 1, `wikitext pre-activation ${mem} vs the edit's ${x.activations[0]}`);

      const after1Logits = logits(probes, e.edited.base);
      e.edit([request(cases[1])]);
      const r3 = e.edit([request(cases[2])]);
      assert.equal(patch.size, 3);
      assert.deepEqual([...patch.memories.keys()], patch.editIds(), 'each edit added its inputs to the memory of later edits');
      const want = logits(probes, e.edited.base);
      const dir = join(root, 'tpatcher');
      e.save(dir);
      const loaded = loadEditedModel(dir);
      assert.ok(logits(probes, loaded.base).equal(want), 'identical logits after load');
      assert.equal(loaded.patches()[0].kind, 'T-Patcher');
      loaded.dispose();
      loaded.base.dispose();

      // rollback of the first edit drops exactly its neuron and memory rows
      assert.equal(r3.length, 1);
      e.rollback(records[0].id);
      assert.equal(patch.size, 2);
      assert.ok(!patch.editIds().includes(records[0].id) && !patch.memories.has(records[0].id));
      assert.ok(pTarget(cases[1], e.edited.base) > 0.5 && pTarget(cases[2], e.edited.base) > 0.5, 'the other edits still hold');
      e.restore();
      assert.ok(logits(probes).equal(plain), 'restore() gives the unedited logits');
      [plain, after1Logits, want].forEach((t) => t.dispose());
    } finally {
      e.restore();
      e.dispose();
    }
  });

  test('rolling back the last edit restores the logits bit for bit', () => {
    const e = new Editor(model, tok, { method: 'T-PATCHER', hparams: { ...RAW, max_edit_step: 30, start_val_epoch: 100 } });
    try {
      e.edit([request(cases[1])]);
      const probes = cases.map(prompt);
      const one = logits(probes, e.edited.base);
      const r = e.edit([request(cases[2])]);
      assert.ok(!logits(probes, e.edited.base).equal(one));
      e.rollback(r[0].id);
      assert.ok(logits(probes, e.edited.base).equal(one));
      one.dispose();
    } finally {
      e.restore();
      e.dispose();
    }
  });
});

describe('on a Llama MLP (tiny-llama, SwiGLU: a plain SiLU neuron, byte tokens)', () => {
  test('the session finds SiLU, trains a neuron that makes the target the arg-max, and the saved patch is identical', () => {
    const llama = loadModel(join(GOLDEN, 'tiny-llama'));
    const bytes = { encode: (s: string) => [...Buffer.from(s)], decode: (ids: number[]) => Buffer.from(ids).toString() } as unknown as Tokenizer;
    try {
      const h = validateHparams<TPatcherHparams>({
        alg_name: 'T-Patcher', layer: -1, lr: 0.05, max_edit_step: 100, start_val_epoch: 0, check_val_every_n_epoch: 5, use_val: 0, memory_loss: 'non_use',
      }, tpatcher.schema, 'llama.yaml');
      tpatcher.check(llama, h, 'llama.yaml');
      const s = tpatcher.open(llama, h, { tokenizer: bytes, seed: 0 });
      const e = s.compute([normalizeRequest({ prompt: 'The cat sat on', subject: 'cat', targetNew: 'm' }, 0)], { editId: 'x' });
      const p = e.patches![0] as TPatch;
      assert.equal(p.module, 'model.layers.1.mlp');
      assert.equal(p.activation, 'silu');
      assert.equal((e.diagnostics[0].extra as { success: boolean }).success, true);
      const next = () => tidy(() => noGrad(() => llama.forward({ inputIds: [bytes.encode('The cat sat on')], logits: 'last' }).logits!.clone()));
      const uninstall = llama.install(p);
      const edited = keep(next());
      uninstall();
      assert.equal(edited.argmax(-1).item(), bytes.encode(' m')[0]);
      const loaded = tpatcher.loadPatch!(p.state(), llama, h) as TPatch;
      const un2 = llama.install(loaded);
      assert.ok(keep(next()).equal(edited));
      un2();
      [p, loaded].forEach((x) => x.dispose());
      s.dispose();
    } finally {
      llama.dispose();
    }
  });
});

describe('hparams', () => {
  test('bad values are refused naming the file and the field', () => {
    const check = (over: Record<string, unknown>, re: RegExp) => assert.throws(() => tpatcher.check(model, hp(over), 'test.yaml'), re);
    check({ layer: 6 }, /test\.yaml: layer 6 is out of range/);
    check({ layer: -7 }, /layer -7 is out of range/);
    check({ mlp_module_tmp: 'transformer.h.{}.ffn' }, /mlp_module_tmp 'transformer\.h\.\{\}\.ffn' names 'transformer\.h\.5\.ffn'/);
    check({ memory_loss: 'kl_512' }, /memory_loss 'kl_512': the KL memory loss is not implemented/);
    check({ memory_loss: 'top1000_exp' }, /memory_loss must be non_use or two loss types/);
    check({ activate_loss: 'top5_sq' }, /activate_loss must be non_use or/);
    check({ margin_val2: 3 }, /margin_val2 must be <= 0/);
    check({ optim: 'sgd' }, /optim must be 'adam'/);
    assert.throws(() => hp({ lr: 0 }), /field 'lr' must be > 0/);
    assert.throws(() => hp({ max_add_neuron_num: 0 }), /field 'max_add_neuron_num' must be >= 1/);
    tpatcher.check(model, hp({ layer: -1 }), 'test.yaml');
  });
});
