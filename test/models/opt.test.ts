// OPT beyond the tiny-opt golden (which golden.test.ts checks like every causal family): the OPT-350m layout
// (post-LN, no final norm, project_in/project_out, `decoder.*` names without `model.`) against an independent float64
// forward, module paths and hparams templates, a ROME edit through the templates, and the config/weights errors.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, generate, type CausalLM } from '../../src/models/index.js';
import { cat, noGrad, randn, tensor, tidy, Generator, type Tensor } from '../../src/tensor/index.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { checkAgainstModel } from '../../src/methods/hparams.js';
import { Editor } from '../../src/editor/editor.js';
import { tpatcher, type TPatch, type TPatcherHparams } from '../../src/methods/tpatcher/index.js';
import { validateHparams } from '../../src/methods/hparams.js';
import { normalizeRequest } from '../../src/methods/request.js';
import type { Tokenizer } from '../../src/io/tokenizer.js';
import { GOLDEN } from '../data.js';

const TINY = join(GOLDEN, 'tiny-opt');
const V = 64;
const D = 48;
const P = 32;
const L = 2;
const H = 4;
const I = 96;
const MAXPOS = 32;

function maxAbsDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
}

/** Random OPT-350m-shaped weights (P != d), named as facebook/opt checkpoints (`decoder.*`). */
function randomWeights(seed: number): Map<string, Tensor> {
  const g = new Generator(seed);
  const w = new Map<string, Tensor>();
  const r = (name: string, shape: number[], std: number, mean = 0) => w.set(name, noGrad(() => randn(shape, { generator: g }).mul(std).add(mean)));
  r('decoder.embed_tokens.weight', [V, P], 0.5);
  r('decoder.embed_positions.weight', [MAXPOS + 2, D], 0.5);
  r('decoder.project_in.weight', [D, P], 0.2);
  r('decoder.project_out.weight', [P, D], 0.2);
  for (let i = 0; i < L; i++) {
    const l = `decoder.layers.${i}`;
    for (const x of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) { r(`${l}.self_attn.${x}.weight`, [D, D], 0.2); r(`${l}.self_attn.${x}.bias`, [D], 0.2); }
    r(`${l}.fc1.weight`, [I, D], 0.2); r(`${l}.fc1.bias`, [I], 0.2);
    r(`${l}.fc2.weight`, [D, I], 0.2); r(`${l}.fc2.bias`, [D], 0.2);
    for (const n of ['self_attn_layer_norm', 'final_layer_norm']) { r(`${l}.${n}.weight`, [D], 0.2, 1); r(`${l}.${n}.bias`, [D], 0.2); }
  }
  return w;
}

const CONFIG_350M = {
  architectures: ['OPTForCausalLM'], model_type: 'opt', vocab_size: V, hidden_size: D, ffn_dim: I, num_hidden_layers: L,
  num_attention_heads: H, max_position_embeddings: MAXPOS, word_embed_proj_dim: P, do_layer_norm_before: false,
  activation_function: 'relu', tie_word_embeddings: true,
};

function writeCheckpoint(dir: string, weights: Map<string, Tensor>, config: Record<string, unknown>): void {
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeSafetensors(join(dir, 'model.safetensors'), [...weights].map(([name, t]) => ({
    name, dtype: 'F32' as const, shape: t.shape, data: () => new Uint8Array(t.toBytes()),
  })));
}

/**
 * An independent float64 forward of post-LN OPT with projections, written from ARCHITECTURES.md with elementary
 * operations (explicit mean/variance LayerNorm, per-head loops, an explicit causal softmax): logits [T, V].
 */
function reference(w: Map<string, Tensor>, ids: number[]): number[][] {
  return tidy(() => noGrad(() => {
    const f = (n: string) => w.get(n)!.to('float64');
    const T = ids.length;
    const lin = (x: Tensor, n: string) => x.matmul(f(`${n}.weight`).t()).add(f(`${n}.bias`));
    const ln = (x: Tensor, n: string) => {
      const mu = x.mean(-1, true);
      const c = x.sub(mu);
      return c.div(c.mul(c).mean(-1, true).add(1e-5).sqrt()).mul(f(`${n}.weight`)).add(f(`${n}.bias`));
    };
    const idx = tensor(ids, { dtype: 'int64' });
    const pos = tensor(ids.map((_, t) => t + 2), { dtype: 'int64' });
    let x = f('decoder.embed_tokens.weight').index([idx]).matmul(f('decoder.project_in.weight').t()).add(f('decoder.embed_positions.weight').index([pos]));
    const hd = D / H;
    const causal = tensor(Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => (j <= i ? 0 : -1e300))), { dtype: 'float64' });
    for (let i = 0; i < L; i++) {
      const l = `decoder.layers.${i}`;
      const q = lin(x, `${l}.self_attn.q_proj`).mul(hd ** -0.5);
      const k = lin(x, `${l}.self_attn.k_proj`);
      const v = lin(x, `${l}.self_attn.v_proj`);
      const heads: Tensor[] = [];
      for (let h = 0; h < H; h++) {
        const s = q.narrow(1, h * hd, hd).matmul(k.narrow(1, h * hd, hd).t()).add(causal);
        const e = s.sub(s.max(-1, true).values).exp();
        heads.push(e.div(e.sum(-1, true)).matmul(v.narrow(1, h * hd, hd)));
      }
      x = ln(x.add(lin(cat(heads, 1), `${l}.self_attn.out_proj`)), `${l}.self_attn_layer_norm`);
      x = ln(x.add(lin(lin(x, `${l}.fc1`).relu(), `${l}.fc2`)), `${l}.final_layer_norm`);
    }
    return x.matmul(f('decoder.project_out.weight').t()).matmul(f('decoder.embed_tokens.weight').t()).toArray() as number[][];
  }));
}

describe('OPT-350m layout: post-LN, no final norm, project_in/out, decoder.* names', () => {
  let dir: string;
  let weights: Map<string, Tensor>;
  let model: CausalLM;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lmedit-opt350-'));
    weights = randomWeights(11);
    writeCheckpoint(dir, weights, CONFIG_350M);
    model = loadModel(dir);
  });
  after(() => {
    model?.dispose();
    for (const t of weights.values()) t.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('logits match an independent float64 forward at every position', () => {
    for (const ids of [[5], [3, 17, 40, 2, 63, 8, 21], Array.from({ length: 19 }, (_, i) => (i * 7 + 3) % V)]) {
      const ref = reference(weights, ids);
      const got = tidy(() => noGrad(() => model.forward({ inputIds: [ids] }).logits!.select(0, 0).toArray() as number[][]));
      const diff = Math.max(...got.map((row, t) => maxAbsDiff(row, ref[t])));
      assert.ok(diff <= 1e-4, `max |Δlogit| ${diff} for ${ids.length} tokens`);
    }
  });

  test('names, dims and module paths', () => {
    assert.equal(model.dims.hiddenSize, D);
    assert.ok(model.params.has('model.decoder.project_in.weight') && model.params.has('model.decoder.project_out.weight'));
    assert.ok(!model.params.has('model.decoder.final_layer_norm.weight'));
    const paths = model.modulePaths();
    assert.ok(paths.includes('model.decoder.project_in'));
    assert.ok(!paths.includes('model.decoder.final_layer_norm'));
  });

  test('KV cache equals full recompute; left and right padding equal the unbatched logits', () => {
    const prompt = [3, 17, 40, 2, 63, 8, 21];
    assert.deepEqual(generate(model, [prompt], { maxNewTokens: 8, eosTokenId: null }), generate(model, [prompt], { maxNewTokens: 8, eosTokenId: null, noCache: true }));
    const a = [3, 17, 40];
    const b = [9, 1, 5, 33, 60, 4];
    const ref = [reference(weights, a).at(-1)!, reference(weights, b).at(-1)!];
    for (const side of ['left', 'right'] as const) {
      const pad = [0, 0, 0];
      const ids = side === 'left' ? [[...pad, ...a], b] : [[...a, ...pad], b];
      const mask = side === 'left' ? [[0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1]] : [[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]];
      const got = tidy(() => noGrad(() => {
        const l = model.forward({ inputIds: ids, attentionMask: mask }).logits!;
        return mask.map((m, r) => l.select(0, r).select(0, m.lastIndexOf(1)).toFlatArray());
      }));
      got.forEach((g, r) => assert.ok(maxAbsDiff(g, ref[r]) <= 1e-4, `${side} padding row ${r}: ${maxAbsDiff(g, ref[r])}`));
    }
  });
});

describe('tiny-opt: module paths and hparams templates', () => {
  let model: CausalLM;
  before(() => { model = loadModel(TINY); });
  after(() => model?.dispose());

  test('every listed module path is reached by a forward pass (traces see all of them)', () => {
    const paths = model.modulePaths();
    const seen = tidy(() => noGrad(() => {
      const out = model.forward({ inputIds: [[5, 9, 200]], trace: paths.map((module) => ({ module })) });
      return paths.filter((p) => out.traces.get(p)?.output !== undefined);
    }));
    assert.deepEqual(seen, paths);
  });

  test('the templates resolve: fc2 is the rewrite module ([d, ffn], Linear), mlp wraps fc1 → activation_fn → fc2', () => {
    const t = model.templates;
    checkAgainstModel(model, 'opt.yaml', [0, 1], {
      rewrite_module_tmp: t.rewriteModule, layer_module_tmp: t.layer, mlp_module_tmp: t.mlp, attn_module_tmp: t.attn,
      ln_f_module: t.lnF, lm_head_module: t.lmHead,
    });
    checkAgainstModel(model, 'opt.yaml', [1], {
      a: 'model.decoder.layers.{}.fc1', b: 'model.decoder.layers.{}.self_attn.q_proj', c: 'model.decoder.layers.{}.self_attn.out_proj',
    });
    assert.throws(() => checkAgainstModel(model, 'opt.yaml', [0], { rewrite_module_tmp: 'model.decoder.layers.{}.mlp.fc2' }),
      /opt\.yaml: rewrite_module_tmp 'model\.decoder\.layers\.\{\}\.mlp\.fc2' does not name a module of this opt model/);
    assert.deepEqual(model.parameter('model.decoder.layers.1.fc2.weight').shape, [64, 256]);
    assert.equal(t.rewriteWeightLayout, 'out_in');
    tidy(() => noGrad(() => {
      const out = model.forward({
        inputIds: [[5, 9, 200]],
        trace: [{ module: 'model.decoder.layers.1.mlp', retainInput: true }, { module: 'model.decoder.layers.1.fc2' },
          { module: 'model.decoder.layers.1.fc1', retainInput: true }, { module: 'model.decoder.layers.1.activation_fn' }],
      });
      const r = (m: string) => out.traces.get(m)!;
      assert.ok(r('model.decoder.layers.1.mlp').output!.equal(r('model.decoder.layers.1.fc2').output!));
      assert.ok(r('model.decoder.layers.1.mlp').input!.equal(r('model.decoder.layers.1.fc1').input!));
      assert.equal(r('model.decoder.layers.1.activation_fn').output!.min().item(), 0); // ReLU
    }));
  });

  test('a ROME edit through the OPT templates rewrites fc2 and makes the target the arg-max', () => {
    const bytes = {
      encode: (s: string) => [...Buffer.from(s)], decode: (ids: number[]) => Buffer.from(ids).toString('latin1'),
      eosTokenId: 2, bosTokenId: 2, padTokenId: 1, paddingSide: 'right', vocabSize: 256,
    } as unknown as Tokenizer;
    const hparams = {
      alg_name: 'ROME', layers: [0], fact_token: 'subject_last', v_num_grad_steps: 25, v_lr: 0.5, v_loss_layer: 1,
      v_weight_decay: 0.001, clamp_norm_factor: 20, kl_factor: 0.0625, mom2_adjustment: false,
      context_templates: ['{}'], context_template_length_params: [],
      rewrite_module_tmp: 'model.decoder.layers.{}.fc2', layer_module_tmp: 'model.decoder.layers.{}',
      mlp_module_tmp: 'model.decoder.layers.{}.mlp', attn_module_tmp: 'model.decoder.layers.{}.self_attn',
      ln_f_module: 'model.decoder.final_layer_norm', lm_head_module: 'model.decoder.embed_tokens',
      mom2_dataset: 'none', mom2_n_samples: 1, mom2_dtype: 'float32',
    };
    const before = model.snapshot(['model.decoder.layers.0.fc2.weight']);
    const prompt = bytes.encode('The cat sat on');
    const target = bytes.encode(' q');
    // teacher-forced log-probability of the target after the prompt
    const targetLogp = (m: { forward: CausalLM['forward'] }) => tidy(() => noGrad(() => {
      const lp = m.forward({ inputIds: [[...prompt, ...target]] }).logits!.select(0, 0).logSoftmax(-1);
      return target.reduce((s, t, i) => s + lp.select(0, prompt.length - 1 + i).select(0, t).item(), 0);
    }));
    const plain = targetLogp(model);
    const editor = new Editor(model, bytes, { method: 'ROME', hparams });
    try {
      const [rec] = editor.edit({ prompt: 'The cat sat on', subject: 'cat', targetNew: 'q' });
      assert.deepEqual(rec.deltas.map((d) => d.param), ['model.decoder.layers.0.fc2.weight']);
      assert.ok(rec.reports[0].deltaNorm > 0);
      const edited = targetLogp(editor.edited);
      assert.ok(edited > plain + 1, `log p(target) ${plain} → ${edited}`);
    } finally {
      editor.restore();
      editor.dispose();
      const same = tidy(() => noGrad(() => model.parameter('model.decoder.layers.0.fc2.weight').equal(before.get('model.decoder.layers.0.fc2.weight')!)));
      assert.ok(same, 'restore() puts the original fc2 back');
      for (const t of before.values()) t.dispose();
    }
  });
  test('T-Patcher patches the lmedit mlp hook (input d wide, ReLU neurons) and the patch makes the target the arg-max', () => {
    const bytes = { encode: (s: string) => [...Buffer.from(s)], decode: (ids: number[]) => Buffer.from(ids).toString('latin1') } as unknown as Tokenizer;
    const h = validateHparams<TPatcherHparams>({
      alg_name: 'T-Patcher', layer: -1, lr: 0.05, max_edit_step: 100, start_val_epoch: 0, check_val_every_n_epoch: 5, use_val: 0, memory_loss: 'non_use',
    }, tpatcher.schema, 'opt.yaml');
    tpatcher.check(model, h, 'opt.yaml');
    const s = tpatcher.open(model, h, { tokenizer: bytes, seed: 0 });
    try {
      const e = s.compute([normalizeRequest({ prompt: 'The cat sat on', subject: 'cat', targetNew: 'm' }, 0)], { editId: 'x' });
      const p = e.patches![0] as TPatch;
      assert.equal(p.module, 'model.decoder.layers.1.mlp');
      assert.equal(p.activation, 'relu');
      const uninstall = model.install(p);
      const next = tidy(() => noGrad(() => model.forward({ inputIds: [bytes.encode('The cat sat on')], logits: 'last' }).logits!.argmax(-1).item()));
      uninstall();
      assert.equal(next, bytes.encode(' m')[0]);
      p.dispose();
    } finally {
      s.dispose();
    }
  });
});

describe('OPT config and weights errors name the file and the field or tensor', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'lmedit-opt-bad-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const withConfig = (patch: Record<string, unknown>) => {
    const base = { ...CONFIG_350M, hidden_size: 64, ffn_dim: 256, num_attention_heads: 4, vocab_size: 256, max_position_embeddings: 64, word_embed_proj_dim: 64, do_layer_norm_before: true };
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...base, ...patch }));
    copyFileSync(join(TINY, 'model.safetensors'), join(dir, 'model.safetensors'));
  };

  test('an unknown activation', () => {
    withConfig({ activation_function: 'gelu_fancy' });
    assert.throws(() => loadModel(dir), (e: Error) => e.message.includes(join(dir, 'config.json')) && /activation_function "gelu_fancy" is not supported for opt/.test(e.message));
  });

  test('a config that asks for project_in/out the file lacks', () => {
    withConfig({ word_embed_proj_dim: 32 });
    assert.throws(() => loadModel(dir), /tensor 'model\.decoder\.embed_tokens\.weight' has shape \[256,64\] but config\.json implies \[256,32\]|missing .*project_in/);
  });

  test('a missing tensor', () => {
    withConfig({ num_hidden_layers: 3 });
    assert.throws(() => loadModel(dir), (e: Error) => e.message.includes(dir) && /missing \d+ tensor\(s\).*model\.decoder\.layers\.2\./.test(e.message));
  });
});
