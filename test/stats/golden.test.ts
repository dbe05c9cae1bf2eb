// C = E[k kᵀ] at a rewrite module's input reproduces the reference statistics in golden/ (README: "factgpt-layer2-mom2
// .safetensors"): wikitext-2 test.txt encoded whole, consecutive 128-token chunks, float64 accumulation.
// factgpt's full run (~300k tokens, ~75 s on 2 cores) is in the normal suite; kbgpt's runs with LMEDIT_FULL_TESTS set,
// and is otherwise checked on its first chunks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import { tidy, type Tensor } from '../../src/tensor/index.js';
import { chunkCorpus, FileSecondMoments, StatsCache } from '../../src/stats/index.js';
import { FACTGPT, GOLDEN, KBGPT, SHARED_DATA } from '../data.js';
import { relativeError, tempDir } from './helpers.js';

const WIKITEXT = join(SHARED_DATA, 'wikitext-2', 'test.txt');
const FULL = Boolean(process.env.LMEDIT_FULL_TESTS);
const GOLDEN_COUNT = 295_877;

function maxAbsDiff(a: Tensor, b: Tensor): number {
  return tidy(() => a.double().sub(b.double()).abs().max().item() as number);
}

test('the chunking protocol gives the golden token count and chunk count', () => {
  const { chunks, tokens, texts } = chunkCorpus(WIKITEXT, loadTokenizer(FACTGPT), { chunk: 128 });
  assert.equal(tokens, GOLDEN_COUNT);
  assert.equal(chunks.length, 2312);
  assert.equal(texts, 1);
  assert.ok(chunks.slice(0, -1).every((c) => c.length === 128));
  assert.equal(chunks[chunks.length - 1].length, GOLDEN_COUNT - 2311 * 128);
});

const cases = [
  { name: 'factgpt', dir: FACTGPT, layer: 2, file: 'factgpt-layer2-mom2.safetensors', full: true },
  { name: 'kbgpt', dir: KBGPT, layer: 0, file: 'kbgpt-layer0-mom2.safetensors', full: FULL },
];

for (const c of cases) {
  describe(`${c.name} layer ${c.layer}: C at transformer.h.${c.layer}.mlp.c_proj's input`, () => {
    const module = `transformer.h.${c.layer}.mlp.c_proj`;
    const tmp = tempDir('stats-golden');
    let model: CausalLM;
    let golden: FileSecondMoments;
    before(() => {
      model = loadModel(c.dir);
      golden = new FileSecondMoments({ [module]: join(GOLDEN, c.file) });
    });
    after(() => {
      golden.dispose();
      model.dispose();
      tmp.cleanup();
    });

    test('over the whole corpus, C and its count reproduce the golden file', { skip: c.full ? false : 'set LMEDIT_FULL_TESTS=1 (~35 s)' }, () => {
      const stats = new StatsCache({ corpus: WIKITEXT, chunk: 128, dtype: 'float64', cacheDir: tmp.dir });
      try {
        const started = performance.now();
        const ours = stats.get(model, module);
        const seconds = (performance.now() - started) / 1000;
        const reference = golden.get(model, module);
        assert.equal(reference.count, GOLDEN_COUNT);
        assert.equal(ours.count, reference.count);
        const err = relativeError(ours.mom2, reference.mom2);
        console.log(`${c.name} layer ${c.layer}: ${ours.count} tokens in ${seconds.toFixed(1)} s (${(ours.count / seconds).toFixed(0)} tokens/s), ` +
          `relative Frobenius error ${err.toExponential(2)}, max |ΔC| ${maxAbsDiff(ours.mom2, reference.mom2).toExponential(2)}`);
        assert.ok(err < 1e-4, `relative Frobenius error ${err}`);
      } finally {
        stats.dispose();
      }
    });

    test('on the first 64 chunks, C is near the golden C and far from the neighbouring layers\'', { skip: c.full ? 'the full run is checked' : false }, () => {
      const stats = new StatsCache({ corpus: WIKITEXT, samples: 64, chunk: 128, dtype: 'float64', cacheDir: tmp.dir });
      try {
        const reference = golden.get(model, module);
        const neighbours = [c.layer - 1, c.layer + 1].filter((l) => l >= 0).map((l) => `transformer.h.${l}.mlp.c_proj`);
        const [own, ...others] = stats.getMany(model, [module, ...neighbours]);
        assert.equal(own.count, 64 * 128);
        const err = relativeError(own.mom2, reference.mom2);
        assert.ok(err < 0.3, `64-chunk estimate is ${err} from the golden C`);
        for (const o of others) assert.ok(relativeError(o.mom2, reference.mom2) > 3 * err, `${o.module} is as close as ${module}`);
      } finally {
        stats.dispose();
      }
    });
  });
}
