// WISE's mechanism on kbgpt (src/methods/wise): TIES merging by hand; an adapter without edits is the identity; a
// hand-built side memory replaces exactly the rows the router picks (both routing rules) with exactly the side
// weights' output; a real edit raises the new target and leaves a far prompt bit-equal; shards are saved and merged
// on schedule; save → load gives identical outputs; rollback is exact per edit (last first); bad hparams are refused.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { padBatch, type CausalLM, type TextModel } from '../../src/models/index.js';
import type { Tokenizer } from '../../src/io/tokenizer.js';
import { Generator, keep, noGrad, randn, tensor, tidy, type Tensor } from '../../src/tensor/index.js';
import { Editor } from '../../src/editor/editor.js';
import { loadEditedModel } from '../../src/editor/persist.js';
import { readHparamsFile } from '../../src/methods/hparams.js';
import { mergeShards } from '../../src/methods/wise/merge.js';
import { WiseAdapter } from '../../src/methods/wise/adapter.js';
import { EMPTY_STATE, NO_ACT } from '../../src/methods/wise/memory.js';
import { adapterConfig, mainWeights } from '../../src/methods/wise/index.js';
import type { WiseHparams } from '../../src/methods/wise/hparams.js';
import { KBGPT, REPO_ROOT } from '../data.js';
import { suiteModel } from '../suite-model.js';

const MODULE = 'transformer.h.4.mlp.c_proj';
const FILE = join(REPO_ROOT, 'hparams/WISE/kbgpt.yaml');
const BASE = { ...readHparamsFile(FILE).raw, inner_params: ['transformer.h[4].mlp.c_proj.weight'] };
const cases = (JSON.parse(readFileSync(join(KBGPT, 'edits.json'), 'utf8')).cases as any[]).filter((c) => c.known_prompt).slice(-6);
const request = (c: any) => ({ prompt: c.prompt, subject: c.subject, targetNew: c.target_new, groundTruth: c.ground_truth, caseId: c.case_id });
const text = (c: any) => c.prompt.replace('{}', c.subject);
/** Largest absolute difference of two [T, V] logit arrays (the side output is x·W' + b by matmul, the model's by its own kernel). */
const maxDiff = (a: number[][], b: number[][]) => Math.max(...a.map((r, t) => Math.max(...r.map((x, v) => Math.abs(x - b[t][v])))));
const FAR = 'The history of the Roman Empire spans many centuries';

describe('TIES merging (merge.ts)', () => {
  const t = (xs: number[]) => tensor(xs, { dtype: 'float32' }).reshape(2, 2);
  test('elect the sign, disjoint mean: the hand-computed merge', () => tidy(() => {
    const base = t([0, 0, 0, 0]);
    const a = t([3, -1, 0.5, 2]);
    const b = t([-2, 4, 0.5, 1]);
    // weighted [1.5 -.5 .25 1] and [-1 2 .25 .5]; elected all +; a counts at 0,2,3, b at 1,2,3
    assert.deepEqual(mergeShards('ties', [0.5, 0.5], base, [a, b], 1).toFlatArray(), [3, 4, 0.5, 1.5]);
    // trimmed to the top half by magnitude: a → [3 0 0 2], b → [-2 4 0 0]
    assert.deepEqual(mergeShards('ties', [0.5, 0.5], base, [a, b], 0.5).toFlatArray(), [3, 4, 0, 2]);
    assert.deepEqual(mergeShards('magnitude', [0.5, 0.5], base, [a, b], 0.5).toFlatArray(), [0.5, 2, 0, 1]);
    assert.deepEqual(mergeShards('ties', [1], t([1, 1, 1, 1]), [t([2, 0, 1, 1])], 1).toFlatArray(), [2, 0, 1, 1], 'one shard: itself');
  }));
});

describe('WISE on kbgpt', () => {
  let model: CausalLM;
  let tok: Tokenizer;
  const root = suiteModel(KBGPT, 'lmedit-wise-', (m, t) => { model = m; tok = t; });
  const config = (over: Partial<WiseHparams> = {}) => adapterConfig(model, { ...(BASE as unknown as WiseHparams), ...over });
  const logitsOf = (prompts: string[], overrides?: Map<string, Tensor>, m: CausalLM = model): number[][][] => tidy(() => noGrad(() => {
    const rows = prompts.map((p) => tok.encode(p));
    const { ids, mask } = padBatch(rows);
    const l = m.forward({ inputIds: ids, attentionMask: mask, parameterOverrides: overrides }).logits!;
    return rows.map((r, b) => l.select(0, b).narrow(0, 0, r.length).toArray() as number[][]);
  }));
  const withAdapter = <T>(a: WiseAdapter, fn: () => T): T => {
    const un = model.install(a);
    try { return fn(); } finally { un(); }
  };
  const pNewOf = (m: TextModel, c: any) => Math.exp(m.score([{ prompt: text(c), continuation: ` ${c.target_new}` }])[0].logprobs[0]);
  const pNew = (e: Editor, c: any) => pNewOf(e.edited, c);

  test('an adapter without edits is the identity (bit-equal logits, padded batch)', () => {
    const prompts = [text(cases[0]), FAR, 'The'];
    const plain = logitsOf(prompts);
    const a = new WiseAdapter(MODULE, config(), mainWeights(model, MODULE));
    assert.deepEqual(withAdapter(a, () => logitsOf(prompts)), plain);
    a.dispose();
  });

  /** A side copy W + noise and the router distance of each prompt alone (the mean over its tokens, by hand). */
  function handBuilt(prompts: string[]): { side: Tensor; dist: number[] } {
    const w = model.parameter(`${MODULE}.weight`);
    const b = model.parameter(`${MODULE}.bias`);
    const side = keep(tidy(() => w.add(randn(w.shape, { generator: new Generator(3) }).mul(0.05))));
    const dist = prompts.map((p) => tidy(() => noGrad(() => {
      const r = model.trace({ inputIds: [tok.encode(p)], logits: 'none' }, [{ module: MODULE, retainInput: true }]).traces.get(MODULE)!;
      const mine = r.input!.matmul(side).add(b);
      return mine.gelu('tanh').sub(r.output!.gelu('tanh')).norm(2, -1).mean().item();
    })));
    return { side, dist };
  }

  test('WISE-Retrieve: rows at or above act_ratio × threshold get exactly the side weights, the others the main ones', () => {
    const prompts = [text(cases[0]), FAR, text(cases[1])];
    const { side, dist } = handBuilt(prompts);
    const sorted = [...dist].sort((x, y) => x - y);
    const cut = (sorted[0] + sorted[1]) / 2; // the lowest-distance prompt stays on the main weights
    const a = new WiseAdapter(MODULE, config({ retrieve: true, act_ratio: 0.5 }), mainWeights(model, MODULE));
    a.side = { ...EMPTY_STATE, current: side, minAct: cut / 0.5 };
    const got = withAdapter(a, () => logitsOf(prompts));
    const plain = logitsOf(prompts);
    const edited = logitsOf(prompts, new Map([[`${MODULE}.weight`, side]]));
    dist.forEach((d, i) => {
      if (d < cut) assert.deepEqual(got[i], plain[i], `row ${i} (distance ${d}, cut ${cut}): the main output itself`);
      else assert.ok(maxDiff(got[i], edited[i]) < 1e-4 && maxDiff(got[i], plain[i]) > 1e-2, `row ${i} (distance ${d}, cut ${cut}): the side weights' output`);
    });
    assert.ok(dist.some((d) => d >= cut) && dist.some((d) => d < cut));
    a.side = EMPTY_STATE;
    a.dispose();
    side.dispose();
  });

  test('WISE-Merge: below the threshold on both → main; else the farther of merged memory and current shard', () => {
    const prompts = [text(cases[0]), FAR];
    const { side, dist } = handBuilt(prompts);
    const a = new WiseAdapter(MODULE, config({ retrieve: false, act_ratio: 1 }), mainWeights(model, MODULE));
    a.side = { ...EMPTY_STATE, merged: side, count: 1, minAct: Math.min(...dist) / 2 }; // current = main: d2 = 0
    const got = withAdapter(a, () => logitsOf(prompts));
    const edited = logitsOf(prompts, new Map([[`${MODULE}.weight`, side]]));
    got.forEach((g, i) => assert.ok(maxDiff(g, edited[i]) < 1e-4, `row ${i}: the merged memory's output`));
    a.side = { ...a.side, minAct: Math.max(...dist) * 2 };
    assert.deepEqual(withAdapter(a, () => logitsOf(prompts)), logitsOf(prompts));
    a.side = EMPTY_STATE;
    a.dispose();
    side.dispose();
  });

  test('an edit raises the new target, leaves a far prompt bit-equal and the main weights untouched; save → load → identical', () => {
    const e = new Editor(model, tok, { method: 'WISE', hparams: { ...BASE, n_iter: 25 } });
    const w0 = tidy(() => model.parameter(`${MODULE}.weight`).toFlatArray());
    const before = pNew(e, cases[0]);
    const far = logitsOf([FAR]);
    const plain0 = logitsOf([text(cases[0])]);
    const [rec] = e.edit([request(cases[0])]);
    const after = pNew(e, cases[0]);
    assert.ok(after > 0.5 && before < 0.1, `P(new target) ${before} → ${after}`);
    assert.deepEqual(logitsOf([FAR]), far, 'a far prompt is not routed');
    assert.deepEqual(tidy(() => model.parameter(`${MODULE}.weight`).toFlatArray()), w0);
    const a = e.edited.patches()[0] as WiseAdapter;
    const [off, on, share] = tidy(() => {
      const diff = a.side.current!.sub(model.parameter(`${MODULE}.weight`)).abs();
      const m = a.side.mask!.to('float32');
      return [diff.mul(m.rsub(1)).max().item(), diff.mul(m).max().item(), m.mean().item()];
    });
    assert.ok(off < 1e-3 && on > 1e-2, `only the shard's masked entries train (weight decay aside): off-mask ${off}, on-mask ${on}`);
    assert.ok(Math.abs(share - 0.2) < 0.01, `mask_ratio 0.2 of the entries: ${share}`);
    const x = rec.reports[0].extra as any;
    assert.ok(x.threshold > 0 && x.threshold < NO_ACT && x.steps >= 1, JSON.stringify(x));
    const want = logitsOf([text(cases[0]), FAR]);
    const dir = join(root, 'one');
    e.save(dir);
    e.restore();
    assert.deepEqual(logitsOf([text(cases[0])]), plain0, 'restore() empties the side memory');
    const loaded = loadEditedModel(dir);
    assert.equal(loaded.patches()[0].kind, 'WISE');
    assert.deepEqual(logitsOf([text(cases[0]), FAR], undefined, loaded.base), want, 'identical logits after load');
    assert.equal(pNewOf(loaded, cases[0]), after, 'identical scores after load');
    loaded.dispose();
    loaded.base.dispose();
    e.dispose();
  });

  test('shards: saved every save_freq edits, merged every merge_freq; rollback is exact per edit; save → load keeps the history', () => {
    const e = new Editor(model, tok, { method: 'WISE', hparams: { ...BASE, n_iter: 6, save_freq: 1, merge_freq: 2 } });
    const probe = () => logitsOf(cases.slice(0, 3).map(text));
    const p0 = probe();
    const [r1] = e.edit([request(cases[0])]);
    const p1 = probe();
    const a = e.edited.patches()[0] as WiseAdapter;
    assert.equal(a.side.memory.length, 1, 'edit 1 saved as a shard');
    const [r2] = e.edit([request(cases[1])]);
    assert.equal(a.side.memory.length, 1, 'edits 1 and 2 merged into one shard');
    assert.equal(a.side.mergeCount, 1);
    e.edit([request(cases[2])]);
    assert.equal(a.side.memory.length, 2);
    const p3 = probe();
    const dir = join(root, 'three');
    e.save(dir);
    const loaded = loadEditedModel(dir);
    const la = loaded.patches()[0] as WiseAdapter;
    assert.deepEqual(la.editIds(), a.editIds());
    loaded.dispose();
    loaded.base.dispose();
    e.rollback(e.history[2].id);
    assert.equal(a.side.memory.length, 1);
    e.rollback(r2.id);
    assert.deepEqual(probe(), p1, 'back to the state after edit 1, exactly');
    assert.notDeepEqual(p3, p1);
    e.rollback(r1.id);
    assert.deepEqual(probe(), p0, 'no edit: the plain model');
    e.dispose();
  });

  test('WISE-Merge: shards merge into the side memory; inference applies the pending final merge without storing it', () => {
    const e = new Editor(model, tok, { method: 'WISE', hparams: { ...BASE, retrieve: false, n_iter: 2, save_freq: 1, merge_freq: 2 } });
    const probe = () => logitsOf(cases.slice(0, 3).map(text));
    const p0 = probe();
    e.edit(cases.slice(0, 3).map(request));
    const a = e.edited.patches()[0] as WiseAdapter;
    assert.ok(a.side.merged !== null, 'edits 1-2 merged');
    assert.equal(a.side.memory.length, 1, 'edit 3 saved, not yet merged');
    const view = a.mergeView();
    assert.ok(view.merged !== null && view.merged !== a.side.merged && view.current === null, 'inference sees edit 3 merged in');
    const p3 = probe();
    assert.equal(a.side.memory.length, 1, 'measuring changed nothing');
    assert.deepEqual(probe(), p3);
    e.restore();
    assert.deepEqual(probe(), p0);
    e.dispose();
  });

  test('bad hparams are refused naming the file and the field', () => {
    const make = (over: Record<string, unknown>) => () => new Editor(model, tok, { method: 'WISE', hparams: { ...BASE, ...over } });
    assert.throws(make({ merge_freq: 1000, save_freq: 300 }), /merge_freq \(1000\) must be a multiple of save_freq \(300\)/);
    assert.throws(make({ merge_alg: 'slerp' }), /merge_alg must be one of ties/);
    assert.throws(make({ replay: true }), /replay .* is not implemented/);
    assert.throws(make({ inner_params: ['transformer.h[9].mlp.c_proj.weight'] }), /inner_params 'transformer\.h\[9\]/);
    assert.throws(make({ mask_ratio: 1.5 }), /mask_ratio must be in \(0, 1\]/);
    assert.throws(make({ act_margin: [5, 20] }), /act_margin must list 3 numbers/);
    assert.throws(make({ loc_file: '/nonexistent/loc.txt' }), /loc_file: no file at \/nonexistent\/loc\.txt/);
    assert.throws(make({ edit_lr: 0 }), /field 'edit_lr' must be > 0/);
  });
});
