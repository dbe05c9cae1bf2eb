// The streaming estimate equals C = KᵀK / n computed in one go from traced forward passes, whatever the batching,
// padding, dtype and number of modules.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel, type CausalLM } from '../../src/models/index.js';
import { noGrad, tensor, tidy, keep, type Tensor } from '../../src/tensor/index.js';
import { chunkCorpus, StatsCache } from '../../src/stats/index.js';
import { BYTES, relativeError, sampleText, tempDir, TINY_GPT2, writeText } from './helpers.js';

const MODULE = 'transformer.h.1.mlp.c_proj';

/** KᵀK / n over the given chunks, each traced in its own forward pass, keys in float64. */
function directMoment(model: CausalLM, module: string, chunks: number[][]): { c: Tensor; n: number } {
  return noGrad(() => tidy(() => {
    let sum: Tensor | undefined;
    let n = 0;
    for (const ids of chunks) {
      const { traces } = model.trace({ inputIds: [ids], logits: 'none' }, [{ module, retainInput: true }]);
      const k = traces.get(module)!.input!.select(0, 0).double();
      const p = k.t().matmul(k);
      sum = sum ? sum.add(p) : p;
      n += ids.length;
    }
    return { c: sum!.div(n), n };
  }));
}

describe('streaming second moment on tiny-gpt2', () => {
  let model: CausalLM;
  const tmp = tempDir('stats-moment');
  before(() => { model = loadModel(TINY_GPT2); });
  after(() => {
    model.dispose();
    tmp.cleanup();
  });

  test('equals KᵀK/n of one traced forward pass over all chunks (20 chunks of 32 tokens, 7 batches)', () => {
    const corpus = writeText(tmp.dir, 'equal.txt', sampleText(640));
    const stats = new StatsCache({ corpus, chunk: 32, dtype: 'float64', tokenizer: BYTES, batchTokens: 96, cacheDir: tmp.dir });
    try {
      const ours = stats.get(model, MODULE);
      assert.equal(ours.count, 640);
      assert.equal(ours.mom2.dtype, 'float64');
      assert.deepEqual(ours.mom2.shape, [256, 256]);
      tidy(() => noGrad(() => {
        const ids = tensor(BYTES.encode(sampleText(640)), { dtype: 'int64' }).reshape(20, 32);
        const { traces } = model.trace({ inputIds: ids, logits: 'none' }, [{ module: MODULE, retainInput: true }]);
        const k = traces.get(MODULE)!.input!.reshape(-1, 256).double();
        const direct = k.t().matmul(k).div(640);
        assert.ok(relativeError(ours.mom2, direct) < 1e-6, `relative error ${relativeError(ours.mom2, direct)}`);
        assert.ok(ours.mom2.allclose(ours.mom2.t(), 0, 0), 'C is symmetric');
      }));
    } finally {
      stats.dispose();
    }
  });

  test('chunks of different lengths batched with padding give the unpadded per-chunk result', () => {
    const records = [5, 40, 17, 33, 2].map((n, i) => JSON.stringify({ text: sampleText(n, i + 2) })).join('\n');
    const corpus = writeText(tmp.dir, 'ragged.jsonl', records + '\n');
    const { chunks } = chunkCorpus(corpus, BYTES, { chunk: 16 });
    assert.deepEqual(chunks.map((c) => c.length), [5, 16, 16, 8, 16, 1, 16, 16, 1, 2]);
    // 97 tokens, fewer than the 256 features: singular C, computed here only because it is asked for.
    const stats = new StatsCache({ corpus, chunk: 16, dtype: 'float64', tokenizer: BYTES, batchTokens: 64, cacheDir: tmp.dir, rankDeficient: 'warn', log: () => {} });
    try {
      const ours = stats.get(model, MODULE);
      const direct = directMoment(model, MODULE, chunks.map((c) => [...c]));
      assert.equal(ours.count, direct.n);
      assert.equal(ours.count, 97);
      assert.ok(relativeError(ours.mom2, direct.c) < 1e-6, `relative error ${relativeError(ours.mom2, direct.c)}`);
      direct.c.dispose();
    } finally {
      stats.dispose();
    }
  });

  test('several modules in the same passes equal one module at a time; float32 storage is C rounded', () => {
    const corpus = writeText(tmp.dir, 'multi.txt', sampleText(700, 5));
    const common = { corpus, chunk: 24, tokenizer: BYTES, batchTokens: 72 };
    const together = new StatsCache({ ...common, dtype: 'float64', cacheDir: `${tmp.dir}/together` });
    const alone = new StatsCache({ ...common, dtype: 'float64', cacheDir: `${tmp.dir}/alone` });
    const single = new StatsCache({ ...common, dtype: 'float32', cacheDir: `${tmp.dir}/single` });
    try {
      const [c0, c1] = together.getMany(model, ['transformer.h.0.mlp.c_proj', MODULE]);
      assert.equal(c0.source, 'computed');
      assert.ok(c0.mom2.equal(alone.get(model, 'transformer.h.0.mlp.c_proj').mom2));
      assert.ok(c1.mom2.equal(alone.get(model, MODULE).mom2));
      assert.ok(relativeError(c0.mom2, c1.mom2) > 0.1, 'the two layers differ');
      const f32 = single.get(model, MODULE);
      assert.equal(f32.mom2.dtype, 'float32');
      assert.equal(f32.count, 700);
      assert.ok(relativeError(f32.mom2, c1.mom2) < 1e-6);
    } finally {
      for (const s of [together, alone, single]) s.dispose();
    }
  });

  test('a bfloat16 model gives C close to the float32 model\'s', () => {
    const corpus = writeText(tmp.dir, 'bf16.txt', sampleText(400, 9));
    const bf16 = loadModel(TINY_GPT2, { dtype: 'bfloat16' });
    const stats = new StatsCache({ corpus, chunk: 40, tokenizer: BYTES, cacheDir: `${tmp.dir}/bf16` });
    try {
      const fromBf16 = keep(stats.get(bf16, MODULE).mom2.clone());
      const again = stats.get(model, MODULE);
      assert.equal(again.source, 'memory', 'the key names the weights files, not the compute dtype: computed once');
      const reference = directMoment(model, MODULE, chunkCorpus(corpus, BYTES, { chunk: 40 }).chunks.map((c) => [...c]));
      assert.ok(relativeError(fromBf16, reference.c) < 0.05);
      fromBf16.dispose();
      reference.c.dispose();
    } finally {
      bf16.dispose();
      stats.dispose();
    }
  });
});
