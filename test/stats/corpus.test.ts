// Reading a corpus into chunks: the three corpus forms, budgets, and content fingerprints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chunkCorpus, corpusFiles, corpusFingerprint, fileSha256, modelFingerprint } from '../../src/stats/index.js';
import { BYTES, sampleText, tempDir, TINY_GPT2, writeText } from './helpers.js';

test('a directory is its .txt and .jsonl files in path order, each text chunked on its own', () => {
  const tmp = tempDir('corpus-dir');
  try {
    const dir = join(tmp.dir, 'c');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeText(dir, 'b.txt', 'b'.repeat(10));
    writeText(dir, 'a.txt', 'a'.repeat(25));
    writeText(join(dir, 'sub'), 'c.jsonl', [{ body: 'c'.repeat(3) }, { body: 'd'.repeat(12) }].map((r) => JSON.stringify(r)).join('\n'));
    writeText(dir, 'README.md', 'ignored');
    assert.deepEqual(corpusFiles(dir).map((f) => f.slice(dir.length + 1)), ['a.txt', 'b.txt', 'sub/c.jsonl']);
    const { chunks, tokens, texts } = chunkCorpus(dir, BYTES, { chunk: 8, field: 'body' });
    assert.deepEqual(chunks.map((c) => String.fromCharCode(...c)), [
      'aaaaaaaa', 'aaaaaaaa', 'aaaaaaaa', 'a', 'bbbbbbbb', 'bb', 'ccc', 'dddddddd', 'dddd',
    ]);
    assert.equal(tokens, 50);
    assert.equal(texts, 4);
  } finally {
    tmp.cleanup();
  }
});

test('a text file is encoded whole, newlines kept, without special tokens', () => {
  const tmp = tempDir('corpus-file');
  try {
    const file = writeText(tmp.dir, 'lines.txt', 'ab\ncd\n\nef');
    const seen: Array<{ text: string; special: boolean | undefined }> = [];
    const encoder = { encode: (text: string, opts?: { addSpecialTokens?: boolean }) => { seen.push({ text, special: opts?.addSpecialTokens }); return BYTES.encode(text); } };
    const { chunks } = chunkCorpus(file, encoder, { chunk: 4 });
    assert.deepEqual(seen, [{ text: 'ab\ncd\n\nef', special: false }]);
    assert.deepEqual(chunks.map((c) => c.length), [4, 4, 1]);
  } finally {
    tmp.cleanup();
  }
});

test('budgets: samples counts chunks, tokens cuts the last chunk; texts past the budget are not tokenized', () => {
  const tmp = tempDir('corpus-budget');
  try {
    const file = writeText(tmp.dir, 'r.jsonl', [30, 30, 30].map((n, i) => JSON.stringify({ text: sampleText(n, i) })).join('\n'));
    let encoded = 0;
    const counting = { encode: (t: string) => { encoded++; return BYTES.encode(t); } };
    const s = chunkCorpus(file, counting, { chunk: 16, samples: 3 });
    assert.deepEqual(s.chunks.map((c) => c.length), [16, 14, 16]);
    assert.equal(encoded, 2);
    const t = chunkCorpus(file, BYTES, { chunk: 16, tokens: 40 });
    assert.deepEqual(t.chunks.map((c) => c.length), [16, 14, 10]);
    assert.equal(t.tokens, 40);
  } finally {
    tmp.cleanup();
  }
});

test('fingerprints follow file contents: SHA-256 of the bytes, remembered until the file changes', () => {
  const tmp = tempDir('fingerprint');
  try {
    const cacheDir = join(tmp.dir, 'cache');
    const file = writeText(tmp.dir, 'a.txt', sampleText(300));
    assert.equal(fileSha256(file, { cacheDir }), createHash('sha256').update(readFileSync(file)).digest('hex'));
    const remembered = JSON.parse(readFileSync(join(cacheDir, 'fingerprints.json'), 'utf8')).files;
    assert.deepEqual(Object.values(remembered), [fileSha256(file)]);
    const before = corpusFingerprint(file);
    assert.match(before, /^[0-9a-f]{16}$/);
    writeFileSync(file, sampleText(300, 2));
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    assert.notEqual(corpusFingerprint(file), before, 'new contents, new fingerprint');
    fileSha256(file, { cacheDir });
    assert.deepEqual(Object.values(JSON.parse(readFileSync(join(cacheDir, 'fingerprints.json'), 'utf8')).files), [fileSha256(file)],
      'the new version is remembered, the old one forgotten');

    const jsonl = writeText(tmp.dir, 'r.jsonl', JSON.stringify({ text: 'x', body: 'y' }));
    assert.notEqual(corpusFingerprint(jsonl, 'text'), corpusFingerprint(jsonl, 'body'), 'the JSONL field is part of the corpus');
    const model = modelFingerprint(TINY_GPT2);
    assert.match(model, /^[0-9a-f]{16}$/);
    assert.equal(modelFingerprint(TINY_GPT2), model);
  } finally {
    tmp.cleanup();
  }
});
