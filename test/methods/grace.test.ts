// GRACE's mechanism, checked by hand on kbgpt (src/methods/grace): the adaptor is the identity until a query falls
// within a key's radius; then exactly the stored value replaces the layer output at the positions the replacement
// mode names. The placement rules, rollback, save/load, hparams errors and generation with the KV cache.
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, generate, padBatch, replaceAt, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { keep, noGrad, randn, tensor, tidy, Generator, type Tensor } from '../../src/tensor/index.js';
import { grace, GraceAdaptor, type GraceHparams } from '../../src/methods/grace/index.js';
import { Codebook, labelMean } from '../../src/methods/grace/codebook.js';
import { validateHparams } from '../../src/methods/hparams.js';
import { normalizeRequest, type NormalizedRequest } from '../../src/methods/request.js';
import { Editor } from '../../src/editor/editor.js';
import { registerMethod } from '../../src/editor/methods.js';
import { GOLDEN, KBGPT } from '../data.js';

const MODULE = 'transformer.h.4.mlp.c_fc';
const CASES = [ // golden/grace-kbgpt.json's cases: at eps 10 the 3rd-6th keys split radii
  ['Roderick Zielinski was born in the city of', 'Roderick Zielinski', 'Prague'],
  ['Helga Dunmore was born in the city of', 'Helga Dunmore', 'Tehran'],
  ['Marisol Engstrom was born in the city of', 'Marisol Engstrom', 'Barcelona'],
  ['Cordelia Northcott came into the world in', 'Cordelia Northcott', 'Chicago'],
  ["Rosalind Engstrom's place of birth is", 'Rosalind Engstrom', 'Tokyo'],
  ['The employer of Roderick Zielinski is', 'Roderick Zielinski', 'Amazon'],
];
const FAR = "Jasper Castellano's place of birth is";

const hp = (over: Record<string, unknown> = {}) =>
  validateHparams<GraceHparams>({ alg_name: 'GRACE', inner_params: ['transformer.h[4].mlp.c_fc.weight'], val_init: 'warm', ...over }, grace.schema, 'test.yaml');
const request = (i: number): NormalizedRequest => normalizeRequest({ prompt: CASES[i][0], subject: CASES[i][1], targetNew: CASES[i][2] }, i);

let model: CausalLM;
let tok: Tokenizer;
before(() => { model = loadModel(KBGPT); tok = loadTokenizer(KBGPT); });
after(() => model.dispose());

/** Logits [B, T, V] of prompts (right-padded), with whatever is installed. */
function logits(prompts: string[]): Tensor {
  const { ids, mask } = padBatch(prompts.map((p) => tok.encode(p)));
  return keep(tidy(() => noGrad(() => model.forward({ inputIds: ids, attentionMask: mask }).logits!)));
}

/** The layer's input and output [T, d] for one prompt (the output as patched). */
function layerIO(prompt: string): { input: Tensor; output: Tensor } {
  return keep(tidy(() => noGrad(() => {
    const r = model.trace({ inputIds: [tok.encode(prompt)], logits: 'none' }, [{ module: MODULE, retainInput: true }]).traces.get(MODULE)!;
    return { input: r.input!.select(0, 0), output: r.output!.select(0, 0) };
  })));
}

function withInstalled<T>(a: GraceAdaptor, fn: () => T, m: CausalLM = model): T {
  const uninstall = m.install(a);
  try { return fn(); } finally { uninstall(); }
}

function euclid(a: number[], b: number[]): number {
  return Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0));
}

/** A hand-built adaptor: one key at `prompt`'s last token, a random value, radius `eps`. */
function handBuilt(prompt: string, eps: number, replacement: GraceHparams['replacement'] = 'replace_last'): GraceAdaptor {
  const a = new GraceAdaptor(MODULE, { eps, replacement, eps_expand: 'coverage' });
  const io = layerIO(prompt);
  const key = keep(io.input.select(0, -1).clone());
  const value = keep(randn([io.output.shape[1]], { generator: new Generator(7) }));
  a.book.push({ key, value, epsilon: Math.fround(eps), label: [1], labelMean: 1, editId: 'hand', history: [] });
  io.input.dispose();
  io.output.dispose();
  return a;
}

describe('the adaptor', () => {
  test('an empty adaptor is the identity: logits bit-equal, padded batch included', () => {
    const prompts = [CASES[0][0], FAR, 'The'];
    const plain = logits(prompts);
    const a = new GraceAdaptor(MODULE, { eps: 1, replacement: 'replace_last', eps_expand: 'coverage' });
    const patched = withInstalled(a, () => logits(prompts));
    assert.ok(patched.equal(plain));
    [plain, patched].forEach((t) => t.dispose());
    a.dispose();
  });

  test('within ε the output at the query position is the stored value, other positions and farther inputs untouched', () => {
    const plain = layerIO(CASES[0][0]);
    const para = layerIO("Roderick Zielinski's birthplace is");
    const far = layerIO(FAR);
    const a = handBuilt(CASES[0][0], 1);
    const key = a.book.entries[0].key.toFlatArray();
    const dPara = euclid(para.input.select(0, -1).toFlatArray(), key);
    const dFar = euclid(far.input.select(0, -1).toFlatArray(), key);
    assert.ok(dPara < dFar && dFar > 1, `paraphrase ${dPara}, other person ${dFar}`);
    withInstalled(a, () => {
      const got = layerIO(CASES[0][0]);
      const T = got.output.shape[0];
      assert.ok(got.output.select(0, T - 1).equal(a.book.entries[0].value), 'the key position holds the value');
      assert.ok(got.output.narrow(0, 0, T - 1).equal(plain.output.narrow(0, 0, T - 1)), 'earlier positions untouched');
      assert.ok(layerIO(FAR).output.equal(far.output), `${dFar} > ε = 1: untouched`);
    });
    // the radius decides, by hand: just above and just below the paraphrase's distance
    for (const [eps, replaced] of [[dPara * 1.001, true], [dPara * 0.999, false]] as const) {
      const b = handBuilt(CASES[0][0], eps);
      withInstalled(b, () => {
        const out = layerIO("Roderick Zielinski's birthplace is").output;
        assert.equal(out.select(0, -1).equal(b.book.entries[0].value), replaced, `ε ${eps}, distance ${dPara}`);
        assert.equal(out.equal(para.output), !replaced);
      });
      b.dispose();
    }
    a.dispose();
  });

  test('replace_last, replace_all and replace_prompt; each row of a right-padded batch queried at its last token', () => {
    const prompt = CASES[0][0];
    const plain = layerIO(prompt).output;
    const T = plain.shape[0];
    for (const mode of ['replace_last', 'replace_all', 'replace_prompt'] as const) {
      const a = handBuilt(prompt, 1, mode);
      const v = a.book.entries[0].value;
      withInstalled(a, () => {
        const out = layerIO(prompt).output;
        for (let t = 0; t < T; t++) {
          const replaced = mode === 'replace_all' || (mode === 'replace_last' ? t === T - 1 : t < T - 1);
          assert.equal(out.select(0, t).equal(v), replaced, `${mode} position ${t}`);
          if (!replaced) assert.ok(out.select(0, t).equal(plain.select(0, t)));
        }
        if (mode !== 'replace_last') return;
        // batch: row 0 = the prompt and more (its position T-1 is the key's token but not its last), row 1 = the
        // prompt, right-padded
        const { ids, mask } = padBatch([tok.encode(`${prompt} Prague, and so on`), tok.encode(prompt)]);
        const r = model.trace({ inputIds: ids, attentionMask: mask, logits: 'none' }, [{ module: MODULE }]).traces.get(MODULE)!.output!;
        assert.ok(r.select(0, 1).select(0, T - 1).equal(v), 'row 1 replaced at its last real token');
        assert.ok(!r.select(0, 0).select(0, T - 1).equal(v), 'row 0 untouched');
      });
      a.dispose();
    }
  });
});

describe('placing keys (the original rules)', () => {
  const v = () => tensor([0, 0]);
  const q = (...xs: number[]) => tensor(xs);
  const init = { eps: 1, expand: 'coverage' as const };

  test('first key, a new key beyond ε_init + ε_nearest, split on conflicting labels, expand on the same label', () => {
    const b = new Codebook();
    assert.equal(b.place(q(0, 0), [-100, 5], 'a', init, v).action, 'first');
    assert.equal(b.place(q(3, 0), [-100, 6], 'b', init, v).action, 'add'); // 3 > 1 + 1
    assert.deepEqual(b.epsilons(), [1, 1]);
    const s = b.place(q(0, 1.5), [-100, 7], 'c', init, v); // 1.5 <= 2, another label
    assert.equal(s.action, 'split');
    assert.deepEqual(b.epsilons(), [Math.fround(0.75 - Math.fround(1e-5)), 1, 0.75]);
    const x = b.place(q(4.5, 0), [-100, 6], 'd', init, v); // 1.5 from key b, same label
    assert.deepEqual([x.action, x.entry, b.size], ['expand', 1, 3]);
    assert.equal(b.epsilons()[1], 1.5);
    assert.equal(b.place(q(4, 0), [-100, 6], 'e', init, v).action, 'reuse');
    b.dispose();
  });

  test('moving_average moves the nearest key halfway; labels compare by their mean, as the original', () => {
    const b = new Codebook();
    b.place(q(0, 0), [-100, 5], 'a', { eps: 1, expand: 'moving_average' }, v);
    const x = b.place(q(1.5, 0), [-100, 5], 'b', { eps: 1, expand: 'moving_average' }, v);
    assert.equal(x.action, 'expand');
    assert.deepEqual(b.entries[0].key.toFlatArray(), [0.75, 0]);
    assert.equal(b.epsilons()[0], 1.5);
    // the same target after prompts of different lengths is a different label in the original
    assert.notEqual(labelMean([-100, -100, 5]), labelMean([-100, 5]));
    b.dispose();
  });
});

describe('rolling back changes to another edit\'s entry (the codebook alone)', () => {
  test('restored when the removed edit made the last change; otherwise folded into the next record', () => {
    const b = new Codebook();
    const value = (x: number) => tensor([x, x]);
    b.place(tensor([0, 0]), [-100, 5], 'a', { eps: 1, expand: 'coverage' }, () => value(1));
    // b: the same label 1.5 away → expands a's radius and retrains its value; c: retrains it again
    assert.equal(b.place(tensor([1.5, 0]), [-100, 5], 'b', { eps: 1, expand: 'coverage' }, () => value(9)).action, 'expand');
    b.change(0, 'b', { value: value(2) });
    assert.equal(b.place(tensor([1, 0]), [-100, 5], 'c', { eps: 1, expand: 'coverage' }, () => value(9)).action, 'reuse');
    b.change(0, 'c', { value: value(3) });
    assert.deepEqual(b.editIds(), ['a', 'b', 'c']);
    const snap = () => ({ eps: b.epsilons()[0], value: b.entries[0].value.toFlatArray() });
    b.removeEdit('b'); // c changed the entry after b: it stays, b's record becomes the state c restores
    assert.deepEqual(snap(), { eps: 1.5, value: [3, 3] });
    b.removeEdit('c');
    assert.deepEqual(snap(), { eps: 1, value: [1, 1] });
    assert.deepEqual(b.editIds(), ['a']);
    b.dispose();
  });
});

describe('editing, rollback, save and load (six sequential edits at eps 10)', () => {
  const h = hp({ eps: 10, n_iter: 10 });
  let adaptor: GraceAdaptor;
  const states: { eps: number[]; size: number }[] = [];
  let uninstall: () => void;

  before(() => {
    const s = grace.open(model, h, { tokenizer: tok, seed: 0 });
    CASES.forEach((_, i) => {
      adaptor = s.compute([request(i)], { editId: `e${i + 1}` }).patches![0] as GraceAdaptor;
      assert.ok(!model.isInstalled(adaptor), 'compute uninstalls what it installed');
      states.push({ eps: adaptor.book.epsilons(), size: adaptor.book.size });
    });
    s.dispose();
    uninstall = model.install(adaptor);
  });

  test('each edit took: the prompt now predicts its target', () => {
    const lp = logits(CASES.map((c) => c[0]));
    CASES.forEach((c, i) => {
      const T = tok.encode(c[0]).length;
      assert.equal(lp.select(0, i).select(0, T - 1).argmax().item(), tok.encode(` ${c[2]}`)[0], c[0]);
    });
    lp.dispose();
    assert.deepEqual(adaptor.editIds(), ['e1', 'e2', 'e3', 'e4', 'e5', 'e6']);
  });

  test('state → loadPatch gives identical logits, and the same codebook after a rollback', () => {
    const prompts = [...CASES.map((c) => c[0]), FAR, "Helga Dunmore's birthplace is"];
    const ref = logits(prompts);
    const loaded = grace.loadPatch!(adaptor.state(), model, h) as GraceAdaptor;
    uninstall();
    const got = withInstalled(loaded, () => logits(prompts));
    uninstall = model.install(adaptor);
    assert.ok(got.equal(ref), 'logits bit-equal');
    const copy = grace.loadPatch!(adaptor.state(), model, h) as GraceAdaptor;
    copy.removeEdit('e3');
    loaded.removeEdit('e3');
    assert.deepEqual(copy.book.epsilons(), loaded.book.epsilons());
    assert.ok(copy.book.entries.every((e, i) => e.value.equal(loaded.book.entries[i].value)));
    [ref, got].forEach((t) => t.dispose());
    [loaded, copy].forEach((a) => a.dispose());
  });

  test('a new session adopts the installed adaptor', () => {
    const copy = grace.loadPatch!(adaptor.state(), model, h) as GraceAdaptor;
    uninstall();
    const u = model.install(copy);
    const s = grace.open(model, h, { tokenizer: tok, seed: 0 });
    const e = s.compute([normalizeRequest({ prompt: FAR, subject: 'Jasper Castellano', targetNew: 'Paris' }, 0)], { editId: 'e7' });
    assert.equal(e.patches![0], copy);
    assert.deepEqual(copy.editIds(), ['e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7']);
    u();
    uninstall = model.install(adaptor);
    s.dispose();
    copy.dispose();
    assert.throws(() => grace.open(model, hp({ eps: 1 }), { tokenizer: tok, seed: 0 }), /built with eps 10; these hparams say eps 1/);
  });

  test('removeEdit of the last edit restores the codebook before it; of edit 3 of 5 keeps the others bit-equal', () => {
    adaptor.removeEdit('e6');
    assert.deepEqual({ eps: adaptor.book.epsilons(), size: adaptor.book.size }, states[4]);
    const kept = (['e1', 'e2', 'e4', 'e5'] as const).map((id) => adaptor.book.entries.find((e) => e.editId === id)!);
    const copies = kept.map((e) => [keep(e.key.clone()), keep(e.value.clone())]);
    adaptor.removeEdit('e3');
    assert.deepEqual(adaptor.editIds(), ['e1', 'e2', 'e4', 'e5']);
    adaptor.book.entries.forEach((e, i) => {
      assert.equal(e, kept[i]);
      assert.ok(e.key.equal(copies[i][0]) && e.value.equal(copies[i][1]), `${e.editId} bit-equal`);
    });
    // e2's radius was split by e3, then by e4: it keeps e4's split until e4 goes too, which restores ε_init
    const [, r2, r4, r5] = states[4].eps.map((x, i) => (i === 2 ? NaN : x)).filter((x) => !Number.isNaN(x));
    assert.deepEqual(adaptor.book.epsilons(), [10, r2, r4, r5]);
    adaptor.removeEdit('e4');
    assert.deepEqual(adaptor.book.epsilons(), [10, 10, r5]);
    copies.flat().forEach((t) => t.dispose());
  });

  test('KV-cache generation equals no-cache generation; the cache keeps the prompt-pass replacement', () => {
    for (const p of [CASES[0][0], CASES[1][0], FAR]) {
      const ids = [tok.encode(p)];
      const cached = generate(model, ids, { maxNewTokens: 8, eosTokenId: null });
      assert.deepEqual(cached, generate(model, ids, { maxNewTokens: 8, eosTokenId: null, noCache: true }), p);
    }
    // step 2 with the cache = a full pass over prompt + first token with the prompt's last position replaced as well
    const prompt = tok.encode(CASES[0][0]);
    const P = prompt.length;
    tidy(() => noGrad(() => {
      const first = model.forward({ inputIds: [prompt], useCache: true, logits: 'last' });
      const g1 = first.logits!.argmax(-1).item();
      const step2 = model.forward({ inputIds: [[g1]], past: first.past, useCache: true, logits: 'last' }).logits!;
      const value = adaptor.book.entries[0].value;
      const full = model.forward({ inputIds: [[...prompt, g1]], logits: 'last', trace: [{ module: MODULE, retainOutput: false, editOutput: replaceAt({ rows: [0], positions: [P - 1] }, value) }] }).logits!;
      assert.ok(step2.sub(full).abs().max().item() < 1e-4, 'cached step = prompt replacement kept');
      const plain = model.forward({ inputIds: [[...prompt, g1]], logits: 'last' }).logits!;
      assert.ok(!plain.allclose(step2, 0, 1e-4), 'a no-cache pass replaces only its last position');
    }));
  });

  test('cold values come from the session seed', () => {
    uninstall();
    const values = [0, 0, 1].map((seed) => {
      const s = grace.open(model, hp({ val_init: 'cold', n_iter: 1 }), { tokenizer: tok, seed });
      const a = s.compute([request(0)], { editId: 'x' }).patches![0] as GraceAdaptor;
      const v = keep(a.book.entries[0].value.clone());
      a.dispose();
      return v;
    });
    uninstall = model.install(adaptor);
    assert.ok(values[0].equal(values[1]) && !values[0].equal(values[2]));
    values.forEach((v) => v.dispose());
  });

  test('hparams errors name the file and field; bracket and dot forms are the same layer', () => {
    assert.throws(() => grace.check(model, hp({ inner_params: ['transformer.h[9].mlp.c_fc.weight'] }), 'hparams/GRACE/kbgpt.yaml'),
      /hparams\/GRACE\/kbgpt\.yaml: inner_params 'transformer\.h\[9\]\.mlp\.c_fc\.weight' names the module 'transformer\.h\.9\.mlp\.c_fc', which this gpt2 model \(6 layers\) does not have/);
    assert.throws(() => grace.check(model, hp({ dist_fn: 'cos' }), 'f.yaml'), /f\.yaml: dist_fn must be one of euc/);
    assert.throws(() => grace.check(model, hp({ replacement: 'replace_first' }), 'f.yaml'), /f\.yaml: replacement must be one of/);
    assert.throws(() => hp({ n_iters: 3 }), /test\.yaml: unknown field 'n_iters'/);
    for (const form of ['transformer.h.4.mlp.c_fc', 'transformer.h[4].mlp.c_fc.weight', 'transformer.h.4.mlp.c_fc.bias']) grace.check(model, hp({ inner_params: [form] }), 'f.yaml');
  });

  test('removing every edit leaves an empty adaptor: the identity again', () => {
    for (const id of adaptor.editIds()) adaptor.removeEdit(id);
    assert.equal(adaptor.book.size, 0);
    const got = logits([CASES[0][0]]);
    uninstall();
    const plain = logits([CASES[0][0]]);
    uninstall = model.install(adaptor);
    assert.ok(got.equal(plain));
    [got, plain].forEach((t) => t.dispose());
  });

  after(() => { uninstall(); adaptor.dispose(); });
});

describe('through the Editor and EditedModel', () => {
  test('rollback of one edit; saveState → loadState gives identical logits and the loaded codebook keeps growing', () => {
    registerMethod('GRACE', grace);
    const options = { method: 'GRACE', hparams: { inner_params: ['transformer.h[4].mlp.c_fc.weight'], eps: 10, n_iter: 10, val_init: 'warm' } };
    const prompts = [CASES[0][0], CASES[1][0], CASES[2][0], FAR];
    const plain = logits(prompts);
    const dir = mkdtempSync(join(tmpdir(), 'lmedit-grace-'));
    try {
      const ed = new Editor(model, tok, options);
      const records = ed.edit([0, 1, 2].map((i) => ({ prompt: CASES[i][0], subject: CASES[i][1], targetNew: CASES[i][2] })));
      ed.rollback(records[1].id);
      const a = ed.edited.patches()[0] as GraceAdaptor;
      assert.deepEqual(a.editIds(), [records[0].id, records[2].id]);
      const ref = logits(prompts);
      ed.saveState(join(dir, 'grace.state'));
      ed.restore();
      assert.equal(model.installedPatches().length, 0);
      const back = logits(prompts);
      assert.ok(back.equal(plain), 'restore: the unedited model');
      const ed2 = new Editor(model, tok, options);
      ed2.loadState(join(dir, 'grace.state'));
      const got = logits(prompts);
      assert.ok(got.equal(ref), 'loaded: identical logits');
      ed2.edit({ prompt: CASES[3][0], subject: CASES[3][1], targetNew: CASES[3][2] });
      assert.equal(ed2.edited.patches().length, 1, 'one codebook');
      assert.equal((ed2.edited.patches()[0] as GraceAdaptor).editIds().length, 3);
      ed2.restore();
      [ref, back, got].forEach((t) => t.dispose());
    } finally {
      plain.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('on a Llama down_proj (tiny-llama, EasyEdit llama-2-7b settings at layer 1, byte tokens)', () => {
  test('the edit takes with cold values, and the saved adaptor gives identical logits', () => {
    const llama = loadModel(join(GOLDEN, 'tiny-llama'));
    const bytes = { encode: (s: string) => [...Buffer.from(s)], decode: (ids: number[]) => Buffer.from(ids).toString() } as unknown as Tokenizer;
    try {
      const h = validateHparams<GraceHparams>({
        alg_name: 'GRACE', inner_params: ['model.layers[1].mlp.down_proj.weight'], edit_lr: 1.0, n_iter: 50, eps: 1.0,
        val_init: 'cold', replacement: 'replace_last',
      }, grace.schema, 'llama.yaml');
      grace.check(llama, h, 'llama.yaml');
      const s = grace.open(llama, h, { tokenizer: bytes, seed: 0 });
      const e = s.compute([normalizeRequest({ prompt: 'The cat sat on', subject: 'cat', targetNew: 'mat' }, 0)], { editId: 'x' });
      const a = e.patches![0] as GraceAdaptor;
      const d = e.diagnostics[0].extra as { lossFirst: number; lossLast: number };
      // one replaced position carries only the first target token (the byte ' ') in this random model
      assert.ok(d.lossLast < d.lossFirst, `loss ${d.lossFirst} → ${d.lossLast}`);
      const next = () => tidy(() => noGrad(() => llama.forward({ inputIds: [bytes.encode('The cat sat on')], logits: 'last' }).logits!.clone()));
      const plain = keep(next());
      const edited = keep(withInstalled(a, next, llama));
      assert.equal(edited.argmax(-1).item(), bytes.encode(' mat')[0]);
      assert.notEqual(plain.argmax(-1).item(), bytes.encode(' mat')[0]);
      const loaded = grace.loadPatch!(a.state(), llama, h) as GraceAdaptor;
      assert.ok(keep(withInstalled(loaded, next, llama)).equal(edited));
      [a, loaded].forEach((x) => x.dispose());
      s.dispose();
    } finally {
      llama.dispose();
    }
  });
});
