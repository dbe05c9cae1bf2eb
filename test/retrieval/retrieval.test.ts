// Retrievers on corpora small enough to score by hand.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Bm25Retriever, EmbeddingRetriever, TfidfRetriever, TfidfModel, createRetriever, rankTop, retrieverSpec, type Embedder,
} from '../../src/retrieval/index.js';
import { TfidfModel as FromEval } from '../../src/eval/generation.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

describe('rankTop', () => {
  test('best first, ties to the lower index, k capped at the size, k = 0 empty', () => {
    assert.deepEqual(rankTop([0.5, 2, 0.5, 1], 3), [{ index: 1, score: 2 }, { index: 3, score: 1 }, { index: 0, score: 0.5 }]);
    assert.equal(rankTop([1, 2], 5).length, 2);
    assert.deepEqual(rankTop([1, 2], 0), []);
    assert.throws(() => rankTop([1], -1), /non-negative integer/);
  });
});

describe('BM25', () => {
  // terms: d0 [the cat sat] (3), d1 [the dog sat on the mat] (6), d2 [cat and dog] (3; "a" is too short); avgdl 4
  const docs = ['The cat sat', 'the dog sat on the mat', 'a cat and a dog'];
  const bm25 = new Bm25Retriever(docs);
  const idf2 = Math.log(1 + (3 - 2 + 0.5) / (2 + 0.5)); // df 2
  const idf1 = Math.log(1 + (3 - 1 + 0.5) / (1 + 0.5)); // df 1
  const norm = (len: number) => 1 - 0.75 + 0.75 * len / 4;
  const term = (idf: number, tf: number, len: number) => idf * tf * 2.2 / (tf + 1.2 * norm(len));

  test('idf = ln(1 + (N − df + 0.5)/(df + 0.5)), average length over terms', () => {
    close(bm25.idf.get('cat')!, idf2);
    close(bm25.idf.get('mat')!, idf1);
    assert.equal(bm25.averageLength, 4);
  });

  test('scores by hand (k1 1.2, b 0.75) and the ranking, ties to the earlier document', () => {
    const s = bm25.scores('Cat MAT zebra');
    close(s[0], term(idf2, 1, 3));
    close(s[1], term(idf1, 1, 6));
    close(s[2], term(idf2, 1, 3));
    assert.deepEqual(bm25.topK('cat mat', 3).map((h) => h.index), [1, 0, 2]);
  });

  test('term frequency saturates; a repeated query term counts once per occurrence', () => {
    close(bm25.scores('the')[1], term(idf2, 2, 6));
    close(bm25.scores('the the')[1], 2 * term(idf2, 2, 6));
    assert.deepEqual(bm25.scores('zebra'), [0, 0, 0]);
  });

  test('b = 0 ignores length; bad parameters are errors', () => {
    const flat = new Bm25Retriever(docs, { b: 0 });
    close(flat.scores('sat')[0], flat.scores('sat')[1]);
    assert.throws(() => new Bm25Retriever(docs, { b: 2 }), /b must be in \[0, 1\]/);
    assert.throws(() => new Bm25Retriever(docs, { k1: -1 }), /k1 must be >= 0/);
  });
});

describe('TF-IDF retriever', () => {
  // N = 3; idf(the) = idf(cat) = idf(sat) = ln(4/3) + 1 = a, idf(dog) = ln 2 + 1 = b
  const docs = ['The cat sat', 'the dog sat', 'a cat'];
  const tfidf = new TfidfRetriever(docs);
  const a = Math.log(4 / 3) + 1;
  const b = Math.log(2) + 1;

  test('cosine of L2-normalised TF-IDF vectors, IDF fitted on the documents', () => {
    const s = tfidf.scores('cat');
    close(s[0], 1 / Math.sqrt(3));
    close(s[1], 0);
    close(s[2], 1);
    close(tfidf.scores('dog')[1], b / Math.sqrt(2 * a * a + b * b));
    assert.deepEqual(tfidf.topK('cat', 2).map((h) => h.index), [2, 0]);
  });

  test('the consistency metric still finds TfidfModel where it was', () => {
    assert.equal(FromEval, TfidfModel);
  });
});

describe('embedding retriever', () => {
  const table: Record<string, number[]> = { north: [0, 3], east: [2, 0], 'north-east': [1, 1], nowhere: [0, 0] };
  const embedder: Embedder = { name: 'toy', embed: (texts) => texts.map((t) => table[t]) };

  test('cosine kNN: vectors normalised, a zero vector matches nothing', () => {
    const r = new EmbeddingRetriever(embedder, ['east', 'north-east', 'nowhere', 'north']);
    const s = r.scores('north');
    close(s[0], 0);
    close(s[1], Math.SQRT1_2);
    close(s[2], 0);
    close(s[3], 1);
    assert.deepEqual(r.topK('north', 2).map((h) => h.index), [3, 1]);
  });

  test('an embedder that returns the wrong number of vectors is an error', () => {
    const bad: Embedder = { name: 'bad', embed: () => [[1]] };
    assert.throws(() => new EmbeddingRetriever(bad, ['x', 'y']), /bad: 1 vectors for 2 documents/);
  });
});

describe('retriever specs', () => {
  test('build what they describe; embedding needs its embedder; malformed specs are errors', () => {
    assert.ok(createRetriever({ kind: 'bm25', k1: 1.2, b: 0.75 }, ['x']) instanceof Bm25Retriever);
    assert.ok(createRetriever({ kind: 'tfidf' }, ['x']) instanceof TfidfRetriever);
    assert.throws(() => createRetriever({ kind: 'embedding', model: 'all-MiniLM-L6-v2' }, ['x']), /needs a sentence embedder/);
    const toy: Embedder = { name: 'toy', embed: (t) => t.map(() => [1]) };
    assert.throws(() => createRetriever({ kind: 'embedding', model: 'other' }, ['x'], toy), /built with other/);
    assert.deepEqual(retrieverSpec({ kind: 'bm25', k1: 1, b: 0.5 }, 's'), { kind: 'bm25', k1: 1, b: 0.5 });
    assert.throws(() => retrieverSpec({ kind: 'bm25' }, 'state'), /state: not a retriever spec/);
  });
});
