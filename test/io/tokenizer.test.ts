// Tokenizers: exact ids against the golden files, the two GPT-2 formats agree, stories260K's llama2.c tokenizer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeBatch, loadTokenizer } from '../../src/io/tokenizer.js';

const data = (rel: string) => fileURLToPath(new URL(`../../../shared/data/${rel}`, import.meta.url));
const readJson = (rel: string) => JSON.parse(fs.readFileSync(data(rel), 'utf8'));

const fromTokenizerJson = loadTokenizer(data('factgpt')); // tokenizer.json
const fromVocabMerges = loadTokenizer(data('gpt2-tokenizer')); // vocab.json + merges.txt only
const goldenPrompts: Array<{ prompt: string; input_ids: number[] }> = readJson('golden/factgpt.json').prompts;

/**
 * Ids from the Rust `tokenizers` library (0.23.2, Tokenizer.from_file on data/factgpt/tokenizer.json), i.e. what
 * transformers' GPT2TokenizerFast gives: leading spaces, non-Latin scripts, emoji bytes, digits, contractions,
 * runs of spaces (the `\s+(?!\S)` rule), newlines, and `<|endoftext|>` inside the text.
 */
const REFERENCE: Array<[string, number[]]> = [
  ['Hello world', [15496, 995]],
  [' leading', [3756]],
  ['Zürich', [57, 9116, 7527]],
  ['東京', [30266, 109, 12859, 105]],
  ['emoji 😀🎉', [368, 31370, 30325, 222, 8582, 236, 231]],
  ['12345 and 3.14', [10163, 2231, 290, 513, 13, 1415]],
  ["it's", [270, 338]],
  ["Don't YOU'LL", [3987, 470, 7013, 6, 3069]],
  ['a   b  c', [64, 220, 220, 275, 220, 269]],
  ['  ', [220, 220]],
  ['line1\nline2\n\n', [1370, 16, 198, 1370, 17, 628]],
  ['<|endoftext|>Hello<|endoftext|>', [50256, 15496, 50256]],
];

test('tokenizer.json reproduces the input_ids of every factgpt golden prompt', () => {
  assert.ok(goldenPrompts.length >= 8);
  for (const p of goldenPrompts) assert.deepEqual(fromTokenizerJson.encode(p.prompt), p.input_ids, p.prompt);
});

test('vocab.json + merges.txt gives the same ids as tokenizer.json, and both match the Rust reference', () => {
  for (const p of goldenPrompts) assert.deepEqual(fromVocabMerges.encode(p.prompt), p.input_ids, p.prompt);
  for (const [text, ids] of REFERENCE) {
    assert.deepEqual(fromTokenizerJson.encode(text), ids, `tokenizer.json: ${JSON.stringify(text)}`);
    assert.deepEqual(fromVocabMerges.encode(text), ids, `vocab+merges: ${JSON.stringify(text)}`);
  }
});

test('GPT-2 encodes the whole WikiText-2 test set to the token count of the golden statistics', () => {
  // golden/README.md: factgpt-layer2-mom2 was accumulated over 295877 token positions of test.txt encoded as one text.
  const text = fs.readFileSync(data('wikitext-2/test.txt'), 'utf8');
  const ids = fromVocabMerges.encode(text);
  assert.equal(ids.length, 295877);
  assert.equal(fromVocabMerges.decode(ids), text);
});

test('decode(encode(x)) === x for GPT-2, and special tokens can be skipped', () => {
  for (const [text] of REFERENCE) {
    assert.equal(fromTokenizerJson.decode(fromTokenizerJson.encode(text)), text);
    assert.equal(fromVocabMerges.decode(fromVocabMerges.encode(text)), text);
  }
  assert.equal(fromTokenizerJson.decode([50256, 15496, 50256], { skipSpecialTokens: true }), 'Hello');
  assert.equal(fromTokenizerJson.decode([]), '');
  const greedy = readJson('golden/factgpt.json').greedy[0];
  assert.equal(fromTokenizerJson.decode(greedy.generated_ids), greedy.generated_text);
});

test('GPT-2 special tokens: eos = bos = <|endoftext|>, pad defaults to eos, right padding', () => {
  for (const tok of [fromTokenizerJson, fromVocabMerges]) {
    assert.equal(tok.vocabSize, 50257);
    assert.deepEqual([tok.eosTokenId, tok.bosTokenId, tok.padTokenId, tok.paddingSide], [50256, 50256, 50256, 'right']);
    assert.equal(tok.tokenToId('<|endoftext|>'), 50256);
    assert.equal(tok.idToToken(995), 'Ġworld');
  }
});

test('encodeBatch pads to the longest row on either side with pad = eos', () => {
  const texts = ['Hello world', 'The mother tongue of Danielle Darrieux is'];
  const right = encodeBatch(fromTokenizerJson, texts);
  assert.deepEqual(right.ids[0], [15496, 995, ...new Array(7).fill(50256)]);
  assert.deepEqual(right.attentionMask[0], [1, 1, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(right.ids[1], goldenPrompts[0].input_ids);
  assert.deepEqual(right.attentionMask[1], new Array(9).fill(1));
  const left = encodeBatch(fromTokenizerJson, texts, { paddingSide: 'left' });
  assert.deepEqual(left.ids[0], [...new Array(7).fill(50256), 15496, 995]);
  assert.deepEqual(left.attentionMask[0], [0, 0, 0, 0, 0, 0, 0, 1, 1]);
  const custom = encodeBatch(fromTokenizerJson, texts, { padTokenId: 0 });
  assert.deepEqual(custom.ids[0].slice(2), new Array(7).fill(0));
});

test('stories260K (llama2.c tokenizer) encodes the golden story and decodes the greedy generation', () => {
  const tok = loadTokenizer(data('golden/stories260K-hf'));
  const golden = readJson('golden/stories260K-hf/golden.json');
  assert.deepEqual([tok.vocabSize, tok.bosTokenId, tok.eosTokenId], [512, 1, 2]);
  assert.deepEqual(tok.encode(golden.story_encoding.text), golden.story_encoding.ids);
  assert.equal(tok.decode(golden.generation_from_bos.ids), golden.generation_from_bos.text);
  assert.deepEqual(tok.encode('', { addSpecialTokens: true }), [1]);
  for (const text of ['Tom and his dog.', 'Zürich 東京 😀', 'a\nb']) assert.equal(tok.decode(tok.encode(text)), text);
  assert.equal(tok.decode(tok.encode('Lily', { addSpecialTokens: false })), 'Lily');
});

test('a directory without tokenizer files gives an error that says what was looked for', () => {
  assert.throws(() => loadTokenizer(data('golden/tiny-gpt2')), /tokenizer\.json, vocab\.json \+ merges\.txt, and tokenizer-vocab\.json/);
});
