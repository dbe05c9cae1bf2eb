// The statistics cache: memory, then disk, then compute; keys that change with every setting; checkpoints that let
// an interrupted computation continue to exactly the uninterrupted result.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, type CausalLM } from '../../src/models/index.js';
import { readSafetensorsHeader } from '../../src/io/safetensors.js';
import { StatsCache, type StatsCacheOptions, type StatsProgress } from '../../src/stats/index.js';
import { BYTES, sampleText, tempDir, TINY_GPT2, writeText } from './helpers.js';

const MODULE = 'transformer.h.1.mlp.c_proj';

describe('StatsCache', () => {
  let model: CausalLM;
  const tmp = tempDir('stats-cache');
  let corpus: string;
  let base: StatsCacheOptions;
  before(() => {
    model = loadModel(TINY_GPT2);
    corpus = writeText(tmp.dir, 'corpus.txt', sampleText(1200));
    base = { corpus, chunk: 32, tokenizer: BYTES, batchTokens: 64, dtype: 'float64' };
  });
  after(() => {
    model.dispose();
    tmp.cleanup();
  });

  test('computes once, then serves from memory, then a new instance reads the file without computing', () => {
    const cacheDir = join(tmp.dir, 'reuse');
    const events: StatsProgress[] = [];
    const first = new StatsCache({ ...base, cacheDir, onProgress: (p) => events.push(p) });
    const second = new StatsCache({ ...base, cacheDir, onProgress: () => assert.fail('a cached statistic was recomputed') });
    try {
      const computed = first.get(model, MODULE);
      assert.equal(computed.source, 'computed');
      assert.equal(computed.count, 1200);
      assert.equal(events[0].chunksDone, 0);
      assert.equal(events.at(-1)!.chunksDone, 38);
      assert.equal(events.at(-1)!.tokensDone, 1200);
      const again = first.get(model, MODULE);
      assert.equal(again.source, 'memory');
      assert.equal(again.mom2, computed.mom2, 'the same tensor');
      const fromDisk = second.get(model, MODULE);
      assert.equal(fromDisk.source, 'disk');
      assert.equal(fromDisk.key, computed.key);
      assert.equal(fromDisk.count, 1200);
      assert.ok(fromDisk.mom2.equal(computed.mom2));

      assert.match(computed.key, /^[0-9a-f]{16}\/transformer\.h\.1\.mlp\.c_proj__[0-9a-f]{16}__nall__c32__float64$/);
      assert.equal(computed.file, join(cacheDir, `${computed.key}.safetensors`));
      const meta = readSafetensorsHeader(computed.file).metadata;
      assert.equal(meta.count, '1200');
      assert.equal(meta.module, MODULE);
      assert.equal(meta.key, computed.key);
      assert.equal(meta.samples, 'all');
      assert.equal(meta.chunk, '32');
      assert.equal(meta.chunks, '38');
      assert.equal(meta.dtype, 'float64');
      assert.equal(meta.lmeditVersion, JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')).version);
      assert.ok(!Number.isNaN(Date.parse(meta.created)));
      const remembered = JSON.parse(readFileSync(join(cacheDir, 'fingerprints.json'), 'utf8')).files;
      assert.ok(Object.keys(remembered).some((k) => k.startsWith(join(TINY_GPT2, 'model.safetensors') + '|')));
    } finally {
      first.dispose();
      second.dispose();
    }
  });

  test('the key changes with samples, tokens, dtype, chunk, corpus contents and module, and with nothing else', () => {
    const cacheDir = join(tmp.dir, 'keys');
    const key = (o: Partial<StatsCacheOptions>, module = MODULE) => new StatsCache({ ...base, cacheDir, ...o }).keyFor(model, module);
    const reference = key({});
    assert.equal(key({ batchTokens: 512, checkpointSeconds: 1 }), reference);
    const variants = [
      key({ samples: 10 }), key({ tokens: 100 }), key({ dtype: 'float32' }), key({ chunk: 16 }), key({}, 'transformer.h.0.mlp.c_proj'),
      key({ corpus: writeText(tmp.dir, 'other.txt', sampleText(1200, 7)) }),
    ];
    assert.equal(new Set([reference, ...variants]).size, variants.length + 1);
    const copy = join(tmp.dir, 'copy-of-corpus.txt');
    copyFileSync(corpus, copy);
    assert.equal(key({ corpus: copy }), reference, 'the corpus is identified by its contents, not its path');
  });

  test('an interrupted computation resumes from its checkpoint and ends with the uninterrupted C', () => {
    const whole = new StatsCache({ ...base, cacheDir: join(tmp.dir, 'whole') });
    const cacheDir = join(tmp.dir, 'interrupted');
    const stop = new Error('interrupted');
    let stoppedAt = 0;
    const interrupted = new StatsCache({
      ...base, cacheDir,
      onProgress: (p) => {
        if (p.chunksDone >= 10) {
          stoppedAt = p.chunksDone;
          throw stop;
        }
      },
    });
    const events: StatsProgress[] = [];
    const resumed = new StatsCache({ ...base, cacheDir, onProgress: (p) => events.push(p) });
    try {
      const expected = whole.get(model, MODULE);
      assert.throws(() => interrupted.get(model, MODULE), (e) => e === stop);
      assert.equal(stoppedAt, 10, 'batches of 2 chunks of 32 tokens');
      const file = resumed.fileOf(resumed.keyFor(model, MODULE));
      assert.ok(existsSync(`${file}.partial`), 'a checkpoint was written');
      assert.ok(!existsSync(file), 'no result yet');

      const done = resumed.get(model, MODULE);
      assert.equal(done.source, 'computed');
      assert.equal(events[0].resumedFrom, 10);
      assert.equal(events[0].chunksDone, 10, 'progress starts where the first run stopped');
      assert.equal(events[0].tokensDone, 320);
      assert.equal(events.length, 1 + (38 - 10) / 2);
      assert.equal(done.count, expected.count);
      assert.ok(done.mom2.equal(expected.mom2), 'bit-for-bit the uninterrupted result');
      assert.ok(!existsSync(`${file}.partial`), 'the checkpoint is removed once the result is stored');
    } finally {
      for (const s of [whole, interrupted, resumed]) s.dispose();
    }
  });

  test('periodic checkpoints survive a crash; a damaged checkpoint is discarded and the run starts over', () => {
    const cacheDir = join(tmp.dir, 'periodic');
    const saved = join(tmp.dir, 'saved.partial');
    let file = '';
    const running = new StatsCache({
      ...base, cacheDir, checkpointSeconds: 0,
      onProgress: (p) => { if (p.chunksDone === 20) copyFileSync(`${file}.partial`, saved); },
    });
    file = running.fileOf(running.keyFor(model, MODULE));
    const messages: string[] = [];
    const events: StatsProgress[] = [];
    const fresh = () => new StatsCache({ ...base, cacheDir, log: (m) => messages.push(m), onProgress: (p) => events.push(p) });
    try {
      const expected = running.get(model, MODULE);
      // a crash at chunk 20: the checkpoint on disk, no result
      rmSync(file);
      copyFileSync(saved, `${file}.partial`);
      const afterCrash = fresh();
      assert.ok(afterCrash.get(model, MODULE).mom2.equal(expected.mom2));
      assert.equal(events[0].resumedFrom, 20);
      afterCrash.dispose();

      rmSync(file);
      writeFileSync(`${file}.partial`, 'not a checkpoint');
      events.length = 0;
      const afterDamage = fresh();
      assert.ok(afterDamage.get(model, MODULE).mom2.equal(expected.mom2));
      assert.equal(events[0].resumedFrom, 0);
      assert.ok(messages.some((m) => m.includes('ignoring damaged checkpoint') && m.includes(`${file}.partial`)), messages.join('\n'));
      afterDamage.dispose();
    } finally {
      running.dispose();
    }
  });

  test('sample and token budgets take the first chunks of the corpus', () => {
    const cacheDir = join(tmp.dir, 'budgets');
    // Fewer tokens than the 256 features of the keys: singular C, computed here only because it is asked for.
    const singular = { rankDeficient: 'warn' as const, log: () => {} };
    const bySamples = new StatsCache({ ...base, ...singular, cacheDir, samples: 5 });
    const byTokens = new StatsCache({ ...base, ...singular, cacheDir, tokens: 150 });
    const both = new StatsCache({ ...base, ...singular, cacheDir, samples: 3, tokens: 150 });
    try {
      assert.equal(bySamples.get(model, MODULE).count, 160);
      assert.equal(byTokens.get(model, MODULE).count, 150);
      assert.equal(both.get(model, MODULE).count, 96);
    } finally {
      for (const s of [bySamples, byTokens, both]) s.dispose();
    }
  });
});
