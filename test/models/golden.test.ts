// Parity with the golden references (../shared/data/golden): every tiny checkpoint per architecture and the real
// stories260K model must give the recorded logits, NLL, residual norms, greedy tokens (with and without the KV
// cache), padded batches and bf16 results. Tolerances are those of golden/README.md.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, generate, supportedModelTypes, type CausalLM } from '../../src/models/index.js';
import { tensor, tidy, noGrad } from '../../src/tensor/index.js';
import { GOLDEN } from '../data.js';

const ARCHS = ['gpt2', 'gptj', 'gpt_neox', 'llama', 'qwen2', 'opt'];

function maxAbsDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

interface Sequence {
  input_ids: number[];
  last_logits: number[];
  first_logits: number[];
  mean_nll: number | null;
  resid_norms_last: number[];
  final_norm_out_norm_last: number;
}

function forwardSequence(model: CausalLM, ids: number[]) {
  return tidy(() => noGrad(() => {
    const out = model.forward({ inputIds: [ids], residuals: true });
    const logits = out.logits!.select(0, 0);
    const first = logits.select(0, 0).toFlatArray();
    const last = logits.select(0, -1).toFlatArray();
    let meanNll: number | null = null;
    if (ids.length > 1) {
      const logp = logits.narrow(0, 0, ids.length - 1).to('float64').logSoftmax(-1);
      const target = tensor(ids.slice(1), { dtype: 'int64' }).unsqueeze(1);
      meanNll = -logp.gather(1, target).mean().item();
    }
    const resid = out.residuals!.map((h) => h.select(0, 0).select(0, -1).norm().item());
    const finalNorm = out.hidden.select(0, 0).select(0, -1).norm().item();
    return { first, last, meanNll, resid, finalNorm };
  }));
}

function checkGolden(dir: string) {
  const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8'));
  let model: CausalLM;

  test('loads', () => {
    model = loadModel(dir);
    assert.equal(model.modelType, golden.model_type ?? model.modelType);
  });

  test('fp32 logits, NLL and residual norms match the float64 reference', () => {
    for (const [k, seq] of (golden.sequences as Sequence[]).entries()) {
      const r = forwardSequence(model, seq.input_ids);
      assert.ok(maxAbsDiff(r.last, seq.last_logits) <= 1e-4, `sequence ${k} last logits: ${maxAbsDiff(r.last, seq.last_logits)}`);
      assert.ok(maxAbsDiff(r.first, seq.first_logits) <= 1e-4, `sequence ${k} first logits`);
      if (seq.mean_nll !== null) assert.ok(Math.abs(r.meanNll! - seq.mean_nll) <= 1e-5, `sequence ${k} NLL ${r.meanNll} vs ${seq.mean_nll}`);
      assert.equal(r.resid.length, seq.resid_norms_last.length);
      r.resid.forEach((v, i) => assert.ok(Math.abs(v - seq.resid_norms_last[i]) <= 1e-4 * Math.max(1, seq.resid_norms_last[i]), `sequence ${k} residual norm ${i}: ${v} vs ${seq.resid_norms_last[i]}`));
      assert.ok(Math.abs(r.finalNorm - seq.final_norm_out_norm_last) <= 1e-4 * Math.max(1, seq.final_norm_out_norm_last));
    }
  });

  test('greedy generation: KV cache equals full recompute equals the reference', () => {
    const g = golden.greedy;
    const prompt = g.prompt as number[];
    const cached = generate(model, [prompt], { maxNewTokens: g.n_new, eosTokenId: null });
    const recomputed = generate(model, [prompt], { maxNewTokens: g.n_new, eosTokenId: null, noCache: true });
    assert.deepEqual(cached[0], g.tokens_kv_cache);
    assert.deepEqual(recomputed[0], g.tokens_no_cache);
  });

  for (const side of ['right_padded', 'left_padded'] as const) {
    test(`${side} batch equals the unbatched logits`, () => {
      const b = golden.batched[side];
      const mask = b.attention_mask as number[][];
      const got = tidy(() => noGrad(() => {
        const out = model.forward({ inputIds: b.input_ids, attentionMask: mask, positionIds: tensor(b.position_ids, { dtype: 'int64' }) });
        return mask.map((m, row) => out.logits!.select(0, row).select(0, m.lastIndexOf(1)).toFlatArray());
      }));
      got.forEach((l, row) => assert.ok(maxAbsDiff(l, b.last_real_position_logits[row]) <= 1e-4, `row ${row}`));
      // positions derived from the mask alone (the library default) give the same result
      const derived = tidy(() => noGrad(() => {
        const out = model.forward({ inputIds: b.input_ids, attentionMask: mask });
        return mask.map((m, row) => out.logits!.select(0, row).select(0, m.lastIndexOf(1)).toFlatArray());
      }));
      derived.forEach((l, row) => assert.ok(maxAbsDiff(l, b.last_real_position_logits[row]) <= 1e-4, `derived positions row ${row}`));
    });
  }

  test('bf16 weights: fp32 compute and bf16 compute within the stated tolerances', () => {
    const bf16File = golden.bf16?.file;
    if (!bf16File) return;
    const widened = loadModel(dir, { dtype: 'float32', weightsFile: bf16File });
    const fullBf16 = loadModel(dir, { dtype: 'bfloat16', weightsFile: bf16File });
    try {
      for (const [k, seq] of (golden.sequences as Sequence[]).entries()) {
        const w = forwardSequence(widened, seq.input_ids);
        assert.ok(maxAbsDiff(w.last, golden.bf16.last_logits_bf16_weights_fp32_compute[k]) <= 1e-4, `sequence ${k} bf16 weights fp32 compute`);
        assert.ok(maxAbsDiff(w.last, seq.last_logits) <= 0.25, `sequence ${k} bf16 weights vs fp32 golden`);
        const h = forwardSequence(fullBf16, seq.input_ids);
        assert.ok(maxAbsDiff(h.last, seq.last_logits) <= 0.75, `sequence ${k} bf16 compute: ${maxAbsDiff(h.last, seq.last_logits)}`);
      }
    } finally {
      widened.dispose();
      fullBf16.dispose();
    }
  });

  test('disposes', () => model.dispose());
}

for (const arch of ARCHS) {
  const dir = join(GOLDEN, `tiny-${arch}`);
  describe(`golden tiny-${arch}`, { skip: !supportedModelTypes().includes(arch) ? `${arch} not registered` : !existsSync(dir) }, () => checkGolden(dir));
}

describe('golden stories260K-hf (real trained Llama)', { skip: !supportedModelTypes().includes('llama') }, () => {
  checkGolden(join(GOLDEN, 'stories260K-hf'));
});

describe('stories260K-hf tells the recorded story', { skip: !supportedModelTypes().includes('llama') }, () => {
  test('greedy generation from BOS reproduces the recorded ids and text', async () => {
    const { loadTokenizer } = await import('../../src/io/tokenizer.js');
    const dir = join(GOLDEN, 'stories260K-hf');
    const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')).generation_from_bos;
    const model = loadModel(dir);
    const tok = loadTokenizer(dir);
    try {
      const expected = (golden.ids as number[]).slice(1);
      // llama2.c stops at BOS (id 1), its story separator
      const [ids] = generate(model, [[1]], { maxNewTokens: expected.length, eosTokenId: 1 });
      assert.deepEqual(ids.slice(0, expected.length), expected);
      assert.equal(tok.decode([1, ...expected]), golden.text);
      assert.deepEqual(tok.encode(JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')).story_encoding.text), JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')).story_encoding.ids);
    } finally {
      model.dispose();
    }
  });
});
