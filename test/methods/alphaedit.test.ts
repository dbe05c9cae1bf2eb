// AlphaEdit on kbgpt with its layer-0 statistics (the reference's): the null-space projector annihilates the preserved
// keys (P·K₀ ≈ 0) and not arbitrary directions; with P = I and no earlier edits the update is MEMIT's with C = I and
// λ = L2 (an identity); an edit leaves the rewrite module's outputs on preserved keys unchanged to tolerance, the same
// solve without P does not; earlier edits' keys come back from their memory (rollback drops them, a checkpoint by values
// keeps them, so a resumed session computes the same update); save → load gives identical outputs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Editor } from '../../src/editor/editor.js';
import { loadEditedModel } from '../../src/editor/persist.js';
import { loadModel, nextTokenLogprobs, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { readSafetensorsHeader } from '../../src/io/safetensors.js';
import { fromFile, keep, noGrad, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import type { SecondMomentProvider, WeightDelta } from '../../src/methods/types.js';
import { nullSpaceProjection } from '../../src/methods/alphaedit/projection.js';
import { keysMemoryName } from '../../src/methods/alphaedit/index.js';
import { GOLDEN, KBGPT, REPO_ROOT } from '../data.js';

const MODULE = 'transformer.h.0.mlp.c_proj';
const cases = JSON.parse(readFileSync(join(KBGPT, 'edits.json'), 'utf8')).cases as any[];
const known = cases.filter((c) => c.known_prompt && c.known_rephrase);
const request = (c: any) => ({ prompt: c.prompt, subject: c.subject, targetNew: c.target_new, groundTruth: c.ground_truth, caseId: c.case_id });
// kbgpt's shipped settings with few value steps and the bare template, to keep the suite fast
const FAST = { v_num_grad_steps: 8, context_templates: ['{}'], context_template_length_params: null };
const HPARAMS = join(REPO_ROOT, 'hparams/ALPHAEDIT/kbgpt.yaml');

function layer0Stats(): { provider: SecondMomentProvider; mom2: Tensor } {
  const file = join(GOLDEN, 'kbgpt-layer0-mom2.safetensors');
  const h = readSafetensorsHeader(file);
  const e = h.tensors.get('mom2')!;
  const mom2 = keep(fromFile(file, e.byteOffset, 'float32', e.shape));
  return {
    mom2,
    provider: {
      get(_m, module) {
        if (module !== MODULE) throw new Error(`no statistics for ${module} in this test`);
        return { mom2, count: Number(h.metadata.count), key: 'golden:kbgpt-layer0' };
      },
    },
  };
}

/** Inputs of layer 0's down-projection at every position of some WikiText text: keys the edit should preserve. */
function corpusKeys(model: CausalLM, tok: Tokenizer): Tensor {
  const text = readFileSync(join(GOLDEN, '..', 'wikitext-2', 'test.txt'), 'utf8').slice(20000, 26000);
  const ids = tok.encode(text);
  const rows = [ids.slice(0, 128), ids.slice(128, 256)]; // kbgpt has 128 positions
  return keep(tidy(() => noGrad(() => {
    const { traces } = model.forward({ inputIds: rows, logits: 'none', trace: [{ module: MODULE, retainInput: true, retainOutput: false }] });
    return traces.get(MODULE)!.input!.reshape(256, -1).contiguous(); // [256, 1024]
  })));
}

/** ΔW as the [in, out] matrix (GPT-2's Conv1D layout). */
const dense = (d: WeightDelta): Tensor => d.left!.matmul(d.right!.t());

describe('AlphaEdit on kbgpt', () => {
  let model: CausalLM;
  let tok: Tokenizer;
  let stats: ReturnType<typeof layer0Stats>;
  let K0: Tensor;
  const root = mkdtempSync(join(tmpdir(), 'lmedit-alphaedit-'));
  before(() => {
    model = loadModel(KBGPT);
    tok = loadTokenizer(KBGPT);
    stats = layer0Stats();
    K0 = corpusKeys(model, tok);
  });
  after(() => {
    model.dispose();
    stats.mom2.dispose();
    K0.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  test('P is a projector that annihilates the preserved keys, not arbitrary directions', () => {
    const proj = nullSpaceProjection(stats.mom2, 2e-2, 'kbgpt layer 0');
    tidy(() => {
      const P = proj.P.to('float64');
      assert.ok(P.matmul(P).sub(P).abs().max().item() < 1e-5, 'P² = P');
      assert.ok(P.sub(P.t()).abs().max().item() < 1e-6, 'P = Pᵀ');
      const K = K0.to('float64').t(); // [1024, 256]
      const kept = P.matmul(K).square().sum().item() / K.square().sum().item();
      const R = randn([1024, 256], { dtype: 'float64' });
      const random = P.matmul(R).square().sum().item() / R.square().sum().item();
      // the preserved keys put ~1% of their energy in the null space (Σ_{λ<τ} λ / tr C = 5.2 / 490 over the corpus);
      // a random direction puts nullity / 1024 there
      assert.ok(kept < 0.03, `‖P K₀‖² / ‖K₀‖² = ${kept}`);
      assert.ok(Math.abs(random - proj.nullity / 1024) < 0.02, `random: ${random} vs ${proj.nullity / 1024}`);
    });
    assert.ok(proj.nullity > 100 && proj.nullity < 1024, `nullity ${proj.nullity}`);
    proj.P.dispose();
    assert.throws(() => nullSpaceProjection(stats.mom2, 1e-9, 'kbgpt layer 0'), /no eigenvalue of C is below nullspace_threshold 1e-9.*raise nullspace_threshold/);
  });

  test('with P = I and no earlier edits, the update is MEMIT\'s with C = I and λ = L2', () => {
    const c = known[3];
    const alpha = new Editor(model, tok, { method: 'AlphaEdit', hparams: HPARAMS, overrides: { ...FAST, nullspace_threshold: 1e6, L2: 7 }, stats: stats.provider });
    const memit = new Editor(model, tok, { method: 'MEMIT', hparams: join(REPO_ROOT, 'hparams/MEMIT/kbgpt.yaml'), overrides: { ...FAST, mom2_adjustment: false, mom2_update_weight: 7 }, stats: stats.provider });
    const [a] = alpha.edit(request(c));
    const da = keep(tidy(() => dense(a.deltas[0])));
    alpha.restore();
    alpha.dispose();
    const [m] = memit.edit(request(c));
    tidy(() => {
      const dm = dense(m.deltas[0]);
      const err = da.sub(dm).abs().max().item() / dm.abs().max().item();
      assert.ok(err < 1e-5, `same ΔW (relative error ${err})`);
    });
    memit.restore();
    memit.dispose();
    da.dispose();
  });
  test('an edit leaves the outputs on preserved keys unchanged to tolerance; without the projection it does not', () => {
    const c = known[7];
    const change = (method: string, hparams: string, overrides: Record<string, unknown>) => {
      const editor = new Editor(model, tok, { method, hparams, overrides: { ...FAST, ...overrides }, stats: stats.provider });
      const [r] = editor.edit(request(c));
      const out = tidy(() => {
        const d = dense(r.deltas[0]); // [in, out]
        const kEdit = r.edit.memory?.[keysMemoryName(MODULE)]?.t() ?? K0.narrow(0, 0, 1);
        const preserved = K0.matmul(d).norm(2, [1]).mean().item() / K0.norm(2, [1]).mean().item();
        const edited = kEdit.matmul(d).norm().item() / kEdit.norm().item();
        return { preserved, edited };
      });
      editor.restore();
      editor.dispose();
      return out;
    };
    const alpha = change('AlphaEdit', HPARAMS, {});
    const unprojected = change('AlphaEdit', HPARAMS, { nullspace_threshold: 1e6 }); // P = I: the same solve without the projection
    // ‖ΔWᵀk‖/‖k‖ averaged over 256 WikiText positions, against the same ratio at the edited key
    assert.ok(alpha.preserved < 0.05 * alpha.edited, `AlphaEdit: preserved ${alpha.preserved} vs edited ${alpha.edited}`);
    assert.ok(unprojected.preserved > 5 * alpha.preserved, `without P: preserved ${unprojected.preserved} vs with P ${alpha.preserved}`);
  });

  test('earlier edits\' keys come from their memory: rollback drops them, a checkpoint by values keeps them', () => {
    const [a, b, c] = [known[20], known[21], known[22]];
    const opts = { method: 'AlphaEdit', hparams: HPARAMS, overrides: FAST, stats: stats.provider };
    const editor = new Editor(model, tok, opts);
    const [ra] = editor.edit(request(a));
    assert.deepEqual(ra.edit.memory![keysMemoryName(MODULE)].shape, [1024, 1]);
    const [rb] = editor.edit(request(b));
    const info = (r: typeof ra) => (r.reports[0].extra as any).layers[0];
    assert.equal(info(ra).previousKeys, 0);
    assert.equal(info(rb).previousKeys, 1);
    const checkpoint = join(root, 'state.safetensors');
    editor.saveState(checkpoint, { weights: 'values' });
    const [rc] = editor.edit(request(c));
    assert.equal(info(rc).previousKeys, 2);
    const expected = keep(tidy(() => dense(rc.deltas[0])));
    // rollback: the rolled-back edit's keys no longer constrain the next update
    editor.rollback(rc.id);
    editor.rollback(ra.id);
    const [rc2] = editor.edit(request(c));
    assert.equal(info(rc2).previousKeys, 1);
    editor.restore();
    editor.dispose();
    // a resumed session (weights and memory from the checkpoint) computes the same update as the uninterrupted one
    const resumed = new Editor(model, tok, opts);
    resumed.loadState(checkpoint);
    const [rr] = resumed.edit(request(c));
    assert.equal(info(rr).previousKeys, 2);
    tidy(() => assert.equal(dense(rr.deltas[0]).sub(expected).abs().max().item(), 0, 'bit-identical update after resuming'));
    resumed.restore();
    resumed.dispose();
    expected.dispose();
  });

  test('save → load gives identical outputs (and keeps the memory); rollback restores the weights bit-exactly', () => {
    const c = known[30];
    const prompt = [tok.encode(c.prompt)];
    const before = tidy(() => nextTokenLogprobs(model, prompt).toFlatArray());
    const editor = new Editor(model, tok, { method: 'AlphaEdit', hparams: HPARAMS, overrides: FAST, stats: stats.provider });
    const [r] = editor.edit(request(c));
    const after = tidy(() => nextTokenLogprobs(model, prompt).toFlatArray());
    assert.notDeepEqual(after, before);
    const dir = join(root, 'saved');
    editor.save(dir);
    const loaded = loadEditedModel(dir);
    try {
      assert.deepEqual(tidy(() => nextTokenLogprobs(loaded.base, prompt).toFlatArray()), after);
      assert.deepEqual(loaded.activeEdits[0].edit.memory![keysMemoryName(MODULE)].shape, [1024, 1]);
    } finally {
      loaded.dispose();
      loaded.base.dispose();
    }
    editor.rollback(r.id);
    assert.deepEqual(tidy(() => nextTokenLogprobs(model, prompt).toFlatArray()), before);
    editor.dispose();
  });
});
