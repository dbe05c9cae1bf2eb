// Bad corpora, bad modules and bad files fail with messages that name what to fix.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, type CausalLM } from '../../src/models/index.js';
import { chunkCorpus, FileSecondMoments, StatsCache } from '../../src/stats/index.js';
import { GOLDEN } from '../data.js';
import { BYTES, sampleText, tempDir, TINY_GPT2, writeText } from './helpers.js';

describe('statistics errors', () => {
  let model: CausalLM;
  const tmp = tempDir('stats-errors');
  before(() => { model = loadModel(TINY_GPT2); });
  after(() => {
    model.dispose();
    tmp.cleanup();
  });
  const stats = (corpus: string, extra = {}) => new StatsCache({ corpus, chunk: 16, tokenizer: BYTES, cacheDir: join(tmp.dir, 'cache'), ...extra });

  test('a missing, empty or unreadable corpus is named', () => {
    const missing = join(tmp.dir, 'no-such-corpus.txt');
    assert.throws(() => stats(missing).get(model, 'transformer.h.0.mlp.c_proj'), new RegExp(`corpus ${missing} does not exist`));
    const empty = writeText(tmp.dir, 'empty.txt', '');
    assert.throws(() => chunkCorpus(empty, BYTES, { chunk: 16 }), new RegExp(`corpus ${empty} has no text`));
    const emptyDir = join(tmp.dir, 'empty-dir');
    mkdirSync(emptyDir);
    writeText(emptyDir, 'notes.md', 'not a corpus file');
    assert.throws(() => chunkCorpus(emptyDir, BYTES, { chunk: 16 }), new RegExp(`corpus directory ${emptyDir} has no .txt or .jsonl files`));
    const broken = join(tmp.dir, 'broken-dir');
    mkdirSync(broken);
    writeText(broken, 'a.txt', sampleText(50));
    symlinkSync(join(tmp.dir, 'nowhere.txt'), join(broken, 'b.txt'));
    assert.throws(() => chunkCorpus(broken, BYTES, { chunk: 16 }), new RegExp(`cannot read corpus file ${join(broken, 'b.txt')}`));
  });

  test('a JSONL record without the text field, or not JSON, is named by file and line', () => {
    const file = writeText(tmp.dir, 'records.jsonl', `${JSON.stringify({ text: 'one' })}\n\n${JSON.stringify({ body: 'two' })}\n`);
    assert.throws(() => chunkCorpus(file, BYTES, { chunk: 16 }), new RegExp(`${file}:3: record has no "text" field`));
    assert.throws(() => chunkCorpus(file, BYTES, { chunk: 16, field: 'body' }), new RegExp(`${file}:1: record has no "body" field`));
    const numbers = writeText(tmp.dir, 'numbers.jsonl', `${JSON.stringify({ text: 5 })}\n`);
    assert.throws(() => chunkCorpus(numbers, BYTES, { chunk: 16 }), new RegExp(`${numbers}:1: field "text" is number`));
    const bad = writeText(tmp.dir, 'bad.jsonl', `${JSON.stringify({ text: 'ok' })}\n{"text": \n`);
    assert.throws(() => chunkCorpus(bad, BYTES, { chunk: 16 }), new RegExp(`${bad}:2: not valid JSON`));
  });

  test('a module the model does not have, or a chunk longer than its context, is refused', () => {
    const corpus = writeText(tmp.dir, 'ok.txt', sampleText(100));
    assert.throws(() => stats(corpus).get(model, 'transformer.h.9.mlp.c_proj'), /module 'transformer\.h\.9\.mlp\.c_proj' is not in the gpt2 model/);
    assert.throws(() => stats(corpus, { chunk: 65 }).get(model, 'transformer.h.0.mlp.c_proj'), /chunk 65 is longer than the model's 64 positions/);
    assert.throws(() => stats(corpus, { dtype: 'float16' as any }), /stats dtype must be float32 or float64/);
  });

  test('FileSecondMoments refuses unknown modules and files of the wrong width', () => {
    const golden = new FileSecondMoments({ 'transformer.h.1.mlp.c_proj': join(GOLDEN, 'factgpt-layer2-mom2.safetensors') });
    assert.throws(() => golden.get(model, 'transformer.h.0.mlp.c_proj'), /no second-moment file for module 'transformer\.h\.0\.mlp\.c_proj'.*transformer\.h\.1\.mlp\.c_proj/);
    assert.throws(() => golden.get(model, 'transformer.h.1.mlp.c_proj'), /factgpt-layer2-mom2\.safetensors: C is 1024×1024 but the input of transformer\.h\.1\.mlp\.c_proj has 256 features/);
    const notStats = new FileSecondMoments({ 'transformer.h.1.mlp.c_proj': join(TINY_GPT2, 'model.safetensors') });
    assert.throws(() => notStats.get(model, 'transformer.h.1.mlp.c_proj'), /model\.safetensors: no tensor 'mom2'/);
  });
});
