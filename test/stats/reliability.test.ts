// Statistics that would silently give a wrong edit are refused, naming what is wrong:
//   - C from fewer tokens than a key has features (kbgpt: a 4-token corpus gave ‖C⁻¹k‖ = 5.9e9), computed or cached;
//   - non-finite C, computed (nothing stored) or read from a file (named);
// and a budget larger than the corpus is stored under what C holds (it was `n2312` for a 4-token corpus).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import { readSafetensorsHeader } from '../../src/io/safetensors.js';
import { noGrad, tensor, tidy } from '../../src/tensor/index.js';
import { FileSecondMoments, readMomentFile, StatsCache, writeMomentFile } from '../../src/stats/index.js';
import { InverseCovarianceCache } from '../../src/methods/rome/key.js';
import { KBGPT } from '../data.js';
import { BYTES, sampleText, tempDir, TINY_GPT2, writeText } from './helpers.js';

const MODULE = 'transformer.h.1.mlp.c_proj'; // keys of 256 features

/** Every file under a directory, relative to it. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name));
}

describe('degenerate and non-finite statistics', () => {
  let model: CausalLM;
  const tmp = tempDir('stats-reliability');
  before(() => { model = loadModel(TINY_GPT2); });
  after(() => {
    model.dispose();
    tmp.cleanup();
  });

  test('kbgpt: C from a 4-token corpus is refused before any forward pass, naming corpus, module and counts', () => {
    const kbgpt = loadModel(KBGPT);
    const corpus = writeText(tmp.dir, 'four-tokens.txt', 'The cat sat.');
    const cacheDir = join(tmp.dir, 'kbgpt-cache');
    const stats = new StatsCache({ corpus, samples: 2312, tokenizer: loadTokenizer(KBGPT), cacheDir });
    try {
      assert.throws(() => stats.get(kbgpt, 'transformer.h.0.mlp.c_proj'), (e: Error) => e.message.startsWith(
        `C of transformer.h.0.mlp.c_proj over ${corpus} (1 chunk): averaged over 4 tokens, fewer than the 1024 features of a key: C is singular (rank ≤ 4)`));
      assert.deepEqual(filesUnder(cacheDir).filter((f) => f.endsWith('.safetensors') || f.endsWith('.partial')), [], 'nothing stored');
    } finally {
      stats.dispose();
      kbgpt.dispose();
    }
  });

  test('a rank-deficient file already in the cache (from an older lmedit) is refused, naming it', () => {
    const corpus = writeText(tmp.dir, 'short.txt', sampleText(100));
    const cacheDir = join(tmp.dir, 'old-cache');
    const warned: string[] = [];
    const lenient = new StatsCache({ corpus, chunk: 16, tokenizer: BYTES, cacheDir, rankDeficient: 'warn', log: (m) => warned.push(m) });
    const file = lenient.get(model, MODULE).file;
    lenient.dispose();
    assert.ok(warned.some((m) => m.startsWith(`WARNING: C of ${MODULE} over ${corpus} (7 chunks): averaged over 100 tokens, fewer than the 256 features`)), warned.join('\n'));
    const strict = new StatsCache({ corpus, chunk: 16, tokenizer: BYTES, cacheDir });
    assert.throws(() => strict.get(model, MODULE), (e: Error) => e.message.startsWith(`${file} (C of ${MODULE}): averaged over 100 tokens`) && /delete the file/.test(e.message));
    strict.dispose();
    const golden = new FileSecondMoments({ [MODULE]: file });
    assert.throws(() => golden.get(model, MODULE), (e: Error) => e.message.startsWith(`${file} (C of ${MODULE}, __metadata__.count 100): averaged over 100 tokens`));
    golden.dispose();
  });

  test('a sample budget larger than the corpus is stored under the number of chunks C holds', () => {
    const corpus = writeText(tmp.dir, 'forty.txt', sampleText(1200)); // 38 chunks of 32 bytes (the last 16)
    const cacheDir = join(tmp.dir, 'budget');
    const logs: string[] = [];
    const asked = new StatsCache({ corpus, chunk: 32, samples: 2312, tokenizer: BYTES, cacheDir, log: (m) => logs.push(m) });
    const exact = new StatsCache({ corpus, chunk: 32, samples: 38, tokenizer: BYTES, cacheDir });
    const tokens = new StatsCache({ corpus, chunk: 32, tokens: 100_000, tokenizer: BYTES, cacheDir });
    try {
      assert.match(asked.keyFor(model, MODULE), /__n2312__c32__/, 'the key asked for');
      const e = asked.get(model, MODULE);
      assert.equal(e.source, 'computed');
      assert.match(e.key, /__n38__c32__float32$/, 'stored under what it holds');
      assert.equal(e.file, asked.fileOf(e.key));
      assert.equal(readSafetensorsHeader(e.file).metadata.chunks, '38');
      assert.ok(!existsSync(asked.fileOf(asked.keyFor(model, MODULE))), 'no file named n2312');
      assert.ok(logs.some((m) => m.includes('holds only 38 chunks (1200 tokens), less than the budget asked for (2312 samples)')), logs.join('\n'));
      assert.equal(asked.get(model, MODULE).source, 'memory');
      const same = exact.get(model, MODULE);
      assert.equal(same.key, e.key, 'asking for exactly what the corpus holds finds the same file');
      assert.equal(same.source, 'disk');
      assert.match(tokens.get(model, MODULE).key, /__nall__t1200__c32__/);
    } finally {
      for (const s of [asked, exact, tokens]) s.dispose();
    }
  });

  test('non-finite C: refused when computed (nothing stored) and when read from a file', () => {
    const corpus = writeText(tmp.dir, 'nan.txt', sampleText(640));
    const cacheDir = join(tmp.dir, 'nan-cache');
    const poisoned = loadModel(TINY_GPT2);
    noGrad(() => poisoned.params.get('transformer.h.0.mlp.c_fc.weight')!.fill_(Number.NaN));
    const stats = new StatsCache({ corpus, chunk: 32, tokenizer: BYTES, cacheDir });
    try {
      assert.throws(() => stats.get(poisoned, MODULE), (e: Error) => e.message.startsWith(`C of ${MODULE} computed over ${corpus}: 65536 of 65536 values are not finite`)
        && /not stored .*Check that the model's weights are finite/.test(e.message));
      assert.deepEqual(filesUnder(cacheDir).filter((f) => f.endsWith('.safetensors') || f.endsWith('.partial')), []);
    } finally {
      stats.dispose();
      poisoned.dispose();
    }
    const file = join(tmp.dir, 'nan-mom2.safetensors');
    tidy(() => {
      const c = tensor(Array.from({ length: 256 * 256 }, (_, i) => (i === 257 ? Number.NaN : i % 257 === 0 ? 1 : 0))).reshape(256, 256);
      writeMomentFile(file, c, { count: '5000' });
    });
    assert.throws(() => readMomentFile(file), (e: Error) => e.message.startsWith(`${file}: tensor 'mom2': 1 of 65536 values are not finite (1 NaN; the first, NaN, at [1, 1])`));
    const fromFile = new FileSecondMoments({ [MODULE]: file });
    assert.throws(() => fromFile.get(model, MODULE), /nan-mom2\.safetensors: tensor 'mom2': 1 of 65536 values are not finite/);
    fromFile.dispose();
  });

  test('a singular C that reaches ROME\'s inverse is named by its statistics key and file (was a bare linalg.inv error)', () => {
    const file = join(tmp.dir, 'singular-mom2.safetensors');
    tidy(() => writeMomentFile(file, tensor(Array.from({ length: 256 * 256 }, (_, i) => (i % 257 === 0 && i !== 0 ? 1 : 0))).reshape(256, 256), { count: '5000' }));
    const provider = new FileSecondMoments({ [MODULE]: file });
    const inverses = new InverseCovarianceCache();
    try {
      const c = provider.get(model, MODULE);
      assert.match(c.key, /^file:singular-mom2\.safetensors#[0-9a-f]+$/);
      assert.throws(() => inverses.get(c.key, c.mom2), (e: Error) => e.message.startsWith(`second-moment statistics ${c.key}: C is singular and cannot be inverted (linalg.inv:`)
        && e.message.includes('delete the file you gave (singular-mom2.safetensors)'));
      assert.throws(() => inverses.get('abc/x__n4__c128__float32', c.mom2), /delete its file \(abc\/x__n4__c128__float32\.safetensors in the statistics cache\)/);
    } finally {
      inverses.dispose();
      provider.dispose();
    }
  });
});
