// PMET's mechanism on kbgpt (src/methods/pmet, the multi-point value optimisation in src/methods/rome/value.ts):
// one edit point is exactly the single-module optimisation (same result, same cache key); with the attention and
// FFN outputs both deltas move and each is clamped to its own initial norm; the NLL factor scales the NLL; with two
// layers the first writes residual/√2 and the second the residual recomputed after it; only FFN weights change;
// through the Editor: save → load gives identical outputs, rollback restores the weights bit for bit.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { keep, tidy, type Tensor } from '../../src/tensor/index.js';
import { optimizeValue, type ValueOptions } from '../../src/methods/rome/value.js';
import { MemoryValueCache, type ValueCache } from '../../src/methods/value-cache.js';
import { normalizeRequest, type NormalizedRequest } from '../../src/methods/request.js';
import { readHparamsFile, validateHparams } from '../../src/methods/hparams.js';
import { representationsAt } from '../../src/methods/locate.js';
import { subjectPositions } from '../../src/methods/rome/key.js';
import { applyDelta, weightLayout } from '../../src/methods/delta.js';
import { pmet, PMET_SCHEMA, type PmetHparams } from '../../src/methods/pmet/index.js';
import { FileSecondMoments } from '../../src/stats/index.js';
import { Editor } from '../../src/editor/editor.js';
import { loadEditedModel } from '../../src/editor/persist.js';
import { GOLDEN, KBGPT, REPO_ROOT } from '../data.js';

const ATTN = 'transformer.h.0.attn.c_proj';
const MLP = 'transformer.h.0.mlp.c_proj';
const TEMPLATES = ['{}', 'The cat sat on the mat. {}'];
const cases = (JSON.parse(readFileSync(join(KBGPT, 'edits.json'), 'utf8')).cases as any[]).filter((c) => c.known_prompt && c.known_rephrase);
const request = (c: any) => ({ prompt: c.prompt, subject: c.subject, targetNew: c.target_new, groundTruth: c.ground_truth, caseId: c.case_id });
const normalized = (c: any): NormalizedRequest => normalizeRequest(request(c), 0);
const HPARAMS = join(REPO_ROOT, 'hparams/PMET/kbgpt.yaml');

let model: CausalLM;
let tok: Tokenizer;
before(() => { model = loadModel(KBGPT); tok = loadTokenizer(KBGPT); });
after(() => model.dispose());

const base = (over: Partial<ValueOptions> = {}): ValueOptions => ({
  templates: TEMPLATES, factToken: 'subject_last', numSteps: 6, lr: 0.5, weightDecay: 0.5, clampNormFactor: 4, klFactor: 0.0625, lossLayer: -1, ...over,
});

/** A cache that records the keys it is asked for. */
function spyCache(): ValueCache & { keys: string[] } {
  const inner = new MemoryValueCache();
  const keys: string[] = [];
  return { keys, get: (k) => { keys.push(k); return inner.get(k); }, set: (k, v) => inner.set(k, v), get hits() { return inner.hits; } };
}

const close = (a: number[], b: number[], tol: number) => a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) <= tol * (1 + Math.abs(b[i])));

describe('the multi-point value optimisation', () => {
  test('one module: editModules [m] is editModule m bit for bit, with the same cache key', () => {
    tidy(() => {
      const r = normalized(cases[0]);
      const c1 = spyCache();
      const c2 = spyCache();
      const single = optimizeValue(model, tok, r, base({ editModule: MLP, cache: c1 }));
      const multi = optimizeValue(model, tok, r, base({ editModules: [MLP], cache: c2 }));
      assert.deepEqual(multi.target.toFlatArray(), single.target.toFlatArray());
      assert.deepEqual(multi.delta.toFlatArray(), single.delta.toFlatArray());
      assert.deepEqual(multi.trace, single.trace);
      assert.equal(multi.points.length, 1);
      assert.equal(c2.keys[0], c1.keys[0], 'the single-module key is unchanged');
      assert.ok(c1.keys[0].startsWith(`{"v":1,"module":"${MLP}","ids":[[`), 'the key format ROME and MEMIT caches hold');
      // a cache hit gives the same value back
      const again = optimizeValue(model, tok, r, base({ editModule: MLP, cache: c1 }));
      assert.equal(again.cached, true);
      assert.deepEqual(again.target.toFlatArray(), single.target.toFlatArray());
    });
  });

  test('two points: both deltas are optimised, each clamped to its own initial norm; the initials are the modules\' outputs', () => {
    tidy(() => {
      const r = normalized(cases[1]);
      const clamp = 0.05;
      const v = optimizeValue(model, tok, r, base({ editModules: [ATTN, MLP], clampNormFactor: clamp, numSteps: 4 }));
      assert.deepEqual(v.points.map((p) => p.module), [ATTN, MLP]);
      const [a, m] = v.points;
      const norms = v.points.map((p) => ({ init: p.initial.norm().item(), delta: p.delta.norm().item() }));
      assert.ok(Math.abs(norms[0].init - norms[1].init) > 0.1 * norms[1].init, `distinct initial norms ${norms[0].init} ${norms[1].init}`);
      for (const [j, n] of norms.entries()) {
        // lr 0.5 moves each δ far beyond 5% of its norm in one step: both sit on their own ball
        assert.ok(Math.abs(n.delta - clamp * n.init) <= 1e-4 * n.init, `point ${j}: ‖δ‖ ${n.delta} vs ${clamp} × ${n.init}`);
      }
      assert.deepEqual(m.target.toFlatArray(), m.initial.add(m.delta).toFlatArray());
      // h₀ of each point = its module's output at the subject of the first rewriting prompt, before any delta
      const first = subjectPositions(tok, r, [TEMPLATES[0]], 'subject_last')[0];
      const prefix = tok.decode(tok.encode(r.targetNew).slice(0, -1), { cleanUpTokenizationSpaces: true });
      const ids = tok.encode(r.template.replace('{}', r.subject) + prefix);
      for (const p of [a, m]) {
        const out = representationsAt(model, p.module, [{ ids, index: first.index }], { output: true }).output!.select(0, 0);
        assert.ok(close(p.initial.toFlatArray(), out.toFlatArray(), 1e-5), `${p.module}: initial value`);
      }
      // unclamped, the joint optimisation lowers the loss with both deltas non-zero
      const free = optimizeValue(model, tok, r, base({ editModules: [ATTN, MLP], numSteps: 8 }));
      const tr = free.trace;
      assert.ok(tr[tr.length - 1].loss < tr[0].loss, `${tr[0].loss} → ${tr[tr.length - 1].loss}`);
      for (const p of free.points) assert.ok(p.delta.norm().item() > 0, `${p.module} moved`);
    });
  });

  test('nll_loss_factor scales the NLL (first pass), and the schedule gets its own cache key', () => {
    tidy(() => {
      const r = normalized(cases[2]);
      const c = spyCache();
      const plain = optimizeValue(model, tok, r, base({ editModules: [ATTN, MLP], numSteps: 1, cache: c }));
      const scaled = optimizeValue(model, tok, r, base({ editModules: [ATTN, MLP], numSteps: 1, nllSchedule: { factor: 2 }, cache: c }));
      assert.equal(scaled.trace[0].nll, 2 * plain.trace[0].nll);
      assert.equal(scaled.trace[0].kl, plain.trace[0].kl);
      assert.notEqual(c.keys[0], c.keys[1]);
      assert.equal(scaled.cached, undefined);
    });
  });
});

/** PMET hparams for kbgpt with test overrides. */
function hp(over: Record<string, unknown>): PmetHparams {
  return validateHparams<PmetHparams>({ ...readHparamsFile(HPARAMS).raw, v_num_grad_steps: 6, ...over }, PMET_SCHEMA, 'test');
}

describe('the update', () => {
  test('1/√(L−i): with two layers the first writes residual/√2, the second the residual left after it (/√1)', () => {
    const h = hp({ layers: [0, 1], mom2_adjustment: false, context_templates: TEMPLATES, mom2_update_weight: 10 });
    pmet.check(model, h, 'test');
    const r = normalized(cases[3]);
    const session = pmet.open(model, h, { tokenizer: tok, seed: 0 });
    const edit = session.compute([r], { editId: 'e' });
    session.dispose();
    assert.deepEqual(edit.deltas.map((d) => d.param), ['transformer.h.0.mlp.c_proj.weight', 'transformer.h.1.mlp.c_proj.weight']);
    tidy(() => {
      // the target z: the joint optimisation at layer 1 (the z layer), as PMET runs it
      const v = optimizeValue(model, tok, r, base({
        editModules: ['transformer.h.1.attn.c_proj', 'transformer.h.1.mlp.c_proj'], numSteps: 6, clampNormFactor: h.clamp_norm_factor,
        klFactor: h.kl_factor, weightDecay: h.v_weight_decay, lr: h.v_lr, nllSchedule: { factor: 1 },
      }));
      const z = v.points[1].target;
      const bare = subjectPositions(tok, r, ['{}'], 'subject_last');
      const ffnOut = (): Tensor => representationsAt(model, 'transformer.h.1.mlp.c_proj', bare, { output: true }).output!.select(0, 0);
      const residualFactor = (i: number) => {
        const d = edit.deltas[i];
        return (weightLayout(model, d.param) === 'out_in' ? d.left! : d.right!).select(1, 0).toFlatArray();
      };
      const R0 = z.sub(ffnOut());
      assert.ok(close(residualFactor(0), R0.div(Math.SQRT2).toFlatArray(), 1e-5), 'layer 0 writes R/√2');
      assert.ok(!close(residualFactor(0), R0.div(2).toFlatArray(), 1e-2), "not MEMIT's R/2");
      // the second layer's residual is recomputed after the first layer's update, and written whole (√(2−1) = 1)
      const snap = model.snapshot([edit.deltas[0].param]);
      applyDelta(model, edit.deltas[0]);
      const R1 = z.sub(ffnOut()).toFlatArray();
      model.restore(snap, { dispose: true });
      assert.ok(close(residualFactor(1), R1, 1e-5), 'layer 1 writes the residual left after layer 0');
      assert.ok(!close(R1, R0.toFlatArray(), 1e-3), 'the earlier update changed the residual');
    });
    edit.deltas.forEach((d) => { d.left?.dispose(); d.right?.dispose(); });
  });

  test('bad hparams name the field: an attention rewrite, the same module twice', () => {
    assert.throws(() => pmet.check(model, hp({ rewrite_module_tmps: ['transformer.h.{}.mlp.c_proj', 'transformer.h.{}.attn.c_proj'] }), 'pmet.yaml'),
      /pmet.yaml: rewrite_module_tmps .* only the FFN/);
    assert.throws(() => pmet.check(model, hp({ attn_module_tmp: 'transformer.h.{}.mlp.c_proj' }), 'pmet.yaml'), /mlp_module_tmp and attn_module_tmp/);
    assert.throws(() => pmet.check(model, hp({ attn_module_tmp: 'transformer.h.{}.attn.nope' }), 'pmet.yaml'), /attn_module_tmp 'transformer.h.{}.attn.nope'/);
  });
});

describe('through the Editor', () => {
  const stats = new FileSecondMoments({ [MLP]: join(GOLDEN, 'kbgpt-layer0-mom2.safetensors') });

  test('the edit takes and touches only FFN weights; save → load gives identical outputs; rollback is bit-exact', () => {
    const before = new Map([...model.params].map(([k, t]) => [k, keep(t.clone())]));
    const editor = new Editor(model, tok, { method: 'PMET', hparams: HPARAMS, overrides: { v_num_grad_steps: 10, context_templates: [...TEMPLATES, 'I think that. {}'] }, stats });
    const cs = [cases[4], cases[5]];
    const probes = cs.flatMap((c) => [
      { prompt: c.prompt, continuation: ` ${c.target_new.trim()}` },
      { prompt: c.rephrase_prompt, continuation: ` ${c.target_new.trim()}` },
    ]);
    const scoreBefore = editor.edited.score(probes);
    const [record] = editor.edit(cs.map(request));
    assert.equal(record.deltas.length, 1);
    assert.deepEqual(record.statsKeys.length, 1);
    const changed = [...model.params].filter(([k, t]) => !tidy(() => t.equal(before.get(k)!))).map(([k]) => k);
    assert.deepEqual(changed, ['transformer.h.0.mlp.c_proj.weight'], 'only the FFN down-projection changes');
    const scoreAfter = editor.edited.score(probes);
    scoreAfter.slice(0, 4).forEach((s, i) => assert.ok(s.sum > scoreBefore[i].sum, `probe ${i}: ${scoreBefore[i].sum} → ${s.sum}`));
    const norms = record.reports[0].norms!;
    assert.ok(norms.attnDelta > 0 && norms.mlpDelta > 0, 'both hidden states were optimised');

    const dir = join(mkdtempSync(join(tmpdir(), 'lmedit-pmet-')), 'edited');
    try {
      editor.save(dir);
      const loaded = loadEditedModel(dir);
      assert.deepEqual(loaded.score(probes), scoreAfter, 'identical outputs after save → load');
      loaded.base.dispose();
      loaded.dispose();
    } finally {
      rmSync(join(dir, '..'), { recursive: true });
    }
    editor.rollback(record.id);
    for (const [k, t] of model.params) assert.ok(tidy(() => t.equal(before.get(k)!)), `${k} restored bit for bit`);
    assert.deepEqual(editor.edited.score(probes), scoreBefore);
    editor.dispose();
    before.forEach((t) => t.dispose());
  });
});
