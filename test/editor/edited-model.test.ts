// EditedModel on kbgpt: save → load gives identical logits; a weight-edited checkpoint loads as a plain model with the
// same logits; edit packs and run checkpoints (the one state format) replay bit-exactly onto their base model and
// are refused on another; rolling back edit 3 of 5 leaves the other four exactly as a fresh application of them,
// for weight deltas, shared patches and inference wrappers; a tampered state file is refused. The patch and wrapper
// here are scripted (a fixed shift at one module; a wrapper that prefixes remembered text): they test the container,
// GRACE's and IKE's own tests test the methods.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Editor } from '../../src/editor/editor.js';
import { EditedModel } from '../../src/editor/edited-model.js';
import { loadEditState, loadEditedModel, saveEditState, saveEditedModel } from '../../src/editor/persist.js';
import { registerMethod } from '../../src/editor/methods.js';
import { STATE_FILE } from '../../src/editor/state-file.js';
import { loadModel, nextTokenLogprobs, type CausalLM, type ModulePatch, type PatchContext, type PatchState, type TextModel, type TextScoreRequest } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { FileSecondMoments } from '../../src/stats/index.js';
import { Generator, keep, noGrad, randn, tensor, tidy, type Tensor } from '../../src/tensor/index.js';
import type { Edit, EditMethod, InferenceWrapper, WeightDelta } from '../../src/methods/types.js';
import { GOLDEN, KBGPT, REPO_ROOT } from '../data.js';

/** Scripted shared patch: adds the shift of every edit it holds at the last token of each row. */
class ScriptedShifts implements ModulePatch {
  readonly kind = 'scripted-shifts';
  readonly shifts = new Map<string, Tensor>();
  constructor(readonly module: string) {}
  forward(y: Tensor, ctx: PatchContext): Tensor {
    let out = y;
    for (const s of this.shifts.values()) {
      const rows = ctx.lastPositions.map((_, b) => b);
      out = out.indexPut([tensor(rows, { dtype: 'int64' }), tensor(ctx.lastPositions, { dtype: 'int64' })], s.unsqueeze(0).expand(rows.length, s.shape[0]), true);
    }
    return out;
  }
  parameters(): Tensor[] {
    return [...this.shifts.values()];
  }
  state(): PatchState {
    return { tensors: Object.fromEntries(this.shifts), meta: { ids: [...this.shifts.keys()] } };
  }
  removeEdit(id: string): void {
    this.shifts.get(id)?.dispose();
    this.shifts.delete(id);
  }
  editIds(): string[] {
    return [...this.shifts.keys()];
  }
  dispose(): void {
    for (const s of this.shifts.values()) s.dispose();
    this.shifts.clear();
  }
}

/** Scripted wrapper: prefixes the remembered sentences of its edits to every prompt. */
class ScriptedMemory implements InferenceWrapper {
  readonly kind = 'scripted-memory';
  readonly facts = new Map<string, string>();
  private wrap(p: string): string {
    return [...this.facts.values(), p].join(' ');
  }
  score(inner: TextModel, requests: TextScoreRequest[]) {
    return inner.score(requests.map((r) => ({ ...r, prompt: this.wrap(r.prompt) })));
  }
  generate(inner: TextModel, prompts: string[], opts?: object) {
    return inner.generate(prompts.map((p) => this.wrap(p)), opts);
  }
  state(): PatchState {
    return { tensors: {}, meta: { facts: [...this.facts] } };
  }
  removeEdit(id: string): void {
    this.facts.delete(id);
  }
  dispose(): void {}
}

const MODULE = 'transformer.h.2.mlp';

/** A scripted method whose edits are a random rank-1 delta, a shift in a shared patch and a sentence in a shared wrapper. */
const scripted: EditMethod = {
  name: 'SCRIPTED', schema: {}, batching: 'sequential',
  check() {},
  open(model) {
    const patch = new ScriptedShifts(MODULE);
    const memory = new ScriptedMemory();
    let k = 0;
    return {
      compute(requests, ctx): Edit {
        const g = new Generator(100 + k++);
        const delta: WeightDelta = { param: 'transformer.h.1.mlp.c_proj.weight', left: keep(randn([1024, 1], { generator: g }).mul(0.05)), right: keep(randn([256, 1], { generator: g }).mul(0.05)) };
        patch.shifts.set(ctx.editId, keep(randn([256], { generator: g })));
        memory.facts.set(ctx.editId, `${requests[0].text}${requests[0].targetNew}.`);
        void model;
        return { deltas: [delta], patches: [patch], wrapper: memory, diagnostics: [], statsKeys: [] };
      },
      dispose() {},
    };
  },
  loadPatch(state) {
    const p = new ScriptedShifts(MODULE);
    for (const id of state.meta.ids as string[]) p.shifts.set(id, keep(noGrad(() => state.tensors[id].clone())));
    return p;
  },
  loadWrapper(state) {
    const w = new ScriptedMemory();
    for (const [id, f] of state.meta.facts as [string, string][]) w.facts.set(id, f);
    return w;
  },
};

const cases = (JSON.parse(readFileSync(join(KBGPT, 'edits.json'), 'utf8')).cases as any[]).filter((c) => c.known_prompt);
const request = (c: any) => ({ prompt: c.prompt, subject: c.subject, targetNew: c.target_new, groundTruth: c.ground_truth, caseId: c.case_id });

describe('EditedModel on kbgpt', () => {
  let model: CausalLM;
  let tok: Tokenizer;
  const root = mkdtempSync(join(tmpdir(), 'lmedit-edited-'));
  const stats = new FileSecondMoments({ 'transformer.h.0.mlp.c_proj': join(GOLDEN, 'kbgpt-layer0-mom2.safetensors') });
  const probe = ['Roderick Zielinski was born in the city of', 'The capital of France is'];
  before(() => {
    model = loadModel(KBGPT);
    tok = loadTokenizer(KBGPT);
    registerMethod('SCRIPTED', scripted);
  });
  after(() => {
    model.dispose();
    rmSync(root, { recursive: true, force: true });
  });
  const logitsOf = (m: CausalLM) => tidy(() => nextTokenLogprobs(m, probe.map((p) => tok.encode(p))).toFlatArray());
  const scoresOf = (m: TextModel) => m.score(probe.map((p) => ({ prompt: p, continuation: ' Prague' }))).map((s) => s.logprobs);

  test('ROME: save → load gives identical logits; the checkpoint loads as a plain model with the same logits; packs replay exactly', () => {
    const editor = new Editor(model, tok, { method: 'ROME', hparams: join(REPO_ROOT, 'hparams/ROME/kbgpt.yaml'), stats, overrides: { v_num_grad_steps: 8 } });
    editor.edit(request(cases[0]));
    const edited = logitsOf(model);
    const dir = join(root, 'rome');
    editor.save(dir);
    const pack = join(root, 'rome.pack');
    editor.saveDelta(pack);
    editor.restore();
    const loaded = loadEditedModel(dir);
    assert.deepEqual(logitsOf(loaded.base), edited, 'EditedModel.load: identical logits');
    assert.deepEqual(loaded.activeEdits.map((a) => a.method), ['ROME'], 'the record of the edit comes back');
    loaded.base.dispose();
    const plain = loadModel(dir);
    assert.deepEqual(logitsOf(plain), edited, 'a plain load of the checkpoint (what transformers would read) has the same logits');
    plain.dispose();
    const em = new EditedModel(model, tok);
    loadEditState(em, pack);
    assert.deepEqual(logitsOf(model), edited, 'the pack replays the edit exactly');
    em.restore();
    em.dispose();
    editor.dispose();
  });

  test('rolling back edit 3 of 5 leaves edits 1, 2, 4, 5 exactly as a fresh application of them (weights, patch, wrapper)', () => {
    const editor = new Editor(model, tok, { method: 'SCRIPTED', hparams: {} });
    const records = cases.slice(0, 5).flatMap((c) => editor.edit(request(c)));
    const shared = records[0].edit.patches![0] as ScriptedShifts;
    const memory = records[0].edit.wrapper as ScriptedMemory;
    const keptIds = [0, 1, 3, 4].map((i) => records[i].id);
    const shifts = new Map(keptIds.map((id) => [id, keep(noGrad(() => shared.shifts.get(id)!.clone()))]));
    const facts = new Map(keptIds.map((id) => [id, memory.facts.get(id)!]));
    editor.rollback(records[2].id);
    assert.deepEqual(shared.editIds(), keptIds, 'the shared patch dropped edit 3 only');
    const got = { logits: logitsOf(model), scores: scoresOf(editor.edited), w: tidy(() => model.parameter('transformer.h.1.mlp.c_proj.weight').toFlatArray()) };
    editor.restore();
    assert.deepEqual(shared.editIds(), [], 'restore() empties the shared patch');
    // the same four edits applied afresh, in order, onto the restored model
    const fresh = new EditedModel(model, tok);
    const patch = new ScriptedShifts(MODULE);
    const wrapper = new ScriptedMemory();
    for (const i of [0, 1, 3, 4]) {
      const id = records[i].id;
      patch.shifts.set(id, shifts.get(id)!);
      wrapper.facts.set(id, facts.get(id)!);
      fresh.apply(id, { deltas: records[i].deltas, patches: [patch], wrapper, diagnostics: [], statsKeys: [] }, { method: 'SCRIPTED', hparams: {}, requests: records[i].requests });
    }
    assert.deepEqual(tidy(() => model.parameter('transformer.h.1.mlp.c_proj.weight').toFlatArray()), got.w, 'weights bit-equal to a fresh application of 1, 2, 4, 5');
    assert.deepEqual(logitsOf(model), got.logits, 'logits (weights and patch) bit-equal');
    assert.deepEqual(scoresOf(fresh), got.scores, 'text scores through the wrapper equal');
    fresh.restore();
    patch.dispose();
    editor.dispose();
  });

  test('patches and wrappers save and load: identical logits and text scores; rollback by id after load', () => {
    const editor = new Editor(model, tok, { method: 'SCRIPTED', hparams: {} });
    const records = cases.slice(0, 3).flatMap((c) => editor.edit(request(c)));
    const want = { logits: logitsOf(model), scores: scoresOf(editor.edited) };
    const dir = join(root, 'scripted');
    editor.save(dir);
    const file = join(root, 'scripted.state');
    editor.saveState(file, { weights: 'values' });
    editor.restore();
    const loaded = loadEditedModel(dir);
    assert.deepEqual(logitsOf(loaded.base), want.logits);
    assert.deepEqual(scoresOf(loaded), want.scores);
    loaded.rollback(records[1].id);
    assert.notDeepEqual(scoresOf(loaded), want.scores, 'the rolled-back edit\'s memory is gone');
    loaded.dispose();
    loaded.base.dispose();
    // the run-checkpoint form: values of the touched weights, components by edit
    const resumed = new Editor(model, tok, { method: 'SCRIPTED', hparams: {} });
    resumed.loadState(file);
    assert.deepEqual(logitsOf(model), want.logits);
    assert.deepEqual(scoresOf(resumed.edited), want.scores);
    resumed.restore();
    resumed.dispose();
    editor.dispose();
  });

  test('a tampered state file, or one made for another base model, is refused naming the file', () => {
    const editor = new Editor(model, tok, { method: 'SCRIPTED', hparams: {} });
    editor.edit(request(cases[0]));
    const a = join(root, 'a');
    editor.save(a);
    const pack = join(root, 'a.pack');
    editor.saveDelta(pack);
    editor.restore();
    editor.edit(request(cases[1]));
    const b = join(root, 'b');
    editor.save(b);
    editor.restore();
    editor.dispose();
    // a manifest edited by hand (same length, so the file still parses)
    const bytes = readFileSync(pack);
    const text = bytes.toString('latin1');
    const at = text.indexOf('transformer.h.1.mlp.c_proj.weight');
    bytes.write('transformer.h.0', at, 'latin1');
    const tampered = join(root, 'tampered.pack');
    writeFileSync(tampered, bytes);
    assert.throws(() => loadEditState(new EditedModel(model, tok), tampered), /tampered\.pack: checksum mismatch/);
    // b's state beside a's weights: the checkpoint is not the one the state was written for
    copyFileSync(join(b, STATE_FILE), join(a, STATE_FILE));
    assert.throws(() => loadEditedModel(a), /lmedit_state\.safetensors was written for another checkpoint/);
    // a pack onto another base model
    const other = loadModel(join(KBGPT, '..', 'kbgpt-ctx'));
    assert.throws(() => loadEditState(new EditedModel(other, tok), pack), /was made for a different base model/);
    other.dispose();
    // saving into the source model's directory is refused, and nothing is written there
    assert.throws(() => saveEditedModel(new EditedModel(model, tok), KBGPT), /refusing to overwrite the source checkpoint/);
    assert.throws(() => saveEditState(new EditedModel(model, tok), join(root, 'missing', 'x.pack')), /ENOENT|no such file/);
  });
});
