// Generation metrics: NLTK's word_tokenize on NLTK's own documented examples, the ROME/EasyEdit n-gram entropy on
// hand-computed texts, sklearn-style TF-IDF consistency on hand-computed corpora and on WikiText-2, and fluency
// sampled from factgpt.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sentTokenize, treebankWordTokenize, wordTokenize } from '../../src/eval/word-tokenize.js';
import {
  fluency, generateForMetrics, nGramEntropy, ngramEntropy, sampleForMetrics, splitCorpus, textNGramEntropy, TfidfModel,
} from '../../src/eval/generation.js';
import { loadModel } from '../../src/models/index.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import { FACTGPT, SHARED_DATA } from '../data.js';

const close = (a: number, b: number, what = '') => assert.ok(Math.abs(a - b) < 1e-12, `${what} ${a} != ${b}`);

describe('wordTokenize = NLTK word_tokenize', () => {
  // nltk/tokenize/__init__.py, nltk/test/tokenize.doctest and the NLTKWordTokenizer tests
  const cases: [string, string[]][] = [
    ['Good muffins cost $3.88\nin New York.  Please buy me\ntwo of them.\n\nThanks.',
      ['Good', 'muffins', 'cost', '$', '3.88', 'in', 'New', 'York', '.', 'Please', 'buy', 'me', 'two', 'of', 'them', '.', 'Thanks', '.']],
    ['On a $50,000 mortgage of 30 years at 8 percent, the monthly payment would be $366.88.',
      ['On', 'a', '$', '50,000', 'mortgage', 'of', '30', 'years', 'at', '8', 'percent', ',', 'the', 'monthly', 'payment', 'would', 'be', '$', '366.88', '.']],
    ['"We beat some pretty good teams to get here," Slocum said.',
      ['``', 'We', 'beat', 'some', 'pretty', 'good', 'teams', 'to', 'get', 'here', ',', "''", 'Slocum', 'said', '.']],
    ['Well, we couldn\'t have this predictable, cliche-ridden, "Touched by an Angel" (a show creator John Masius worked on) wanna-be if she didn\'t.',
      ['Well', ',', 'we', 'could', "n't", 'have', 'this', 'predictable', ',', 'cliche-ridden', ',', '``', 'Touched', 'by', 'an', 'Angel', "''",
        '(', 'a', 'show', 'creator', 'John', 'Masius', 'worked', 'on', ')', 'wanna-be', 'if', 'she', 'did', "n't", '.']],
    ['I cannot cannot work under these conditions!', ['I', 'can', 'not', 'can', 'not', 'work', 'under', 'these', 'conditions', '!']],
    ['The company spent $30,000,000 last year.', ['The', 'company', 'spent', '$', '30,000,000', 'last', 'year', '.']],
    ['The company spent 40.75% of its income last year.', ['The', 'company', 'spent', '40.75', '%', 'of', 'its', 'income', 'last', 'year', '.']],
    ['He arrived at 3:00 pm.', ['He', 'arrived', 'at', '3:00', 'pm', '.']],
    ['I bought these items: books, pencils, and pens.', ['I', 'bought', 'these', 'items', ':', 'books', ',', 'pencils', ',', 'and', 'pens', '.']],
    ['Though there were 150, 100 of them were old.', ['Though', 'there', 'were', '150', ',', '100', 'of', 'them', 'were', 'old', '.']],
    ["There were 300,000, but that wasn't enough.", ['There', 'were', '300,000', ',', 'but', 'that', 'was', "n't", 'enough', '.']],
    ["It's more'n enough.", ['It', "'s", 'more', "'n", 'enough', '.']],
    // sentence splitting: Dr. is an abbreviation; after an ordinary word the next word's case does not matter
    ['I called Dr. Jones. I called Dr. Jones.', ['I', 'called', 'Dr.', 'Jones', '.', 'I', 'called', 'Dr.', 'Jones', '.']],
    ['Ich muss unbedingt daran denken, Mehl, usw. fur einen Kuchen einzukaufen. Ich muss.',
      ['Ich', 'muss', 'unbedingt', 'daran', 'denken', ',', 'Mehl', ',', 'usw', '.', 'fur', 'einen', 'Kuchen', 'einzukaufen', '.', 'Ich', 'muss', '.']],
    // contractions and quotes
    ["They'll save and invest more.", ['They', "'ll", 'save', 'and', 'invest', 'more', '.']],
    ["can't", ['ca', "n't"]],
    ['gonna', ['gon', 'na']],
    ['"Hello," he said.', ['``', 'Hello', ',', "''", 'he', 'said', '.']],
    ["'Hard' to tell", ["'", 'Hard', "'", 'to', 'tell']],
    ["'tis a fine day'", ["'", 'tis', 'a', 'fine', 'day', "'"]],
    ["o'clock", ["o'clock"]],
    ["O'Connor", ["O'Connor"]],
    // ellipsis, double dash, numbers with commas
    ['Wait... what -- 1,000 of them...', ['Wait', '...', 'what', '--', '1,000', 'of', 'them', '...']],
  ];
  for (const [text, expected] of cases) {
    test(JSON.stringify(text), () => assert.deepEqual(wordTokenize(text), expected));
  }

  test('the word tokenizer alone splits only the final period (NLTKWordTokenizer doctests)', () => {
    assert.deepEqual(treebankWordTokenize('Good muffins cost $3.88 (roughly 3,36 euros)\nin New York.  Please buy me\ntwo of them.\nThanks.'),
      ['Good', 'muffins', 'cost', '$', '3.88', '(', 'roughly', '3,36', 'euros', ')', 'in', 'New', 'York.', 'Please', 'buy', 'me', 'two',
        'of', 'them.', 'Thanks', '.']);
    assert.deepEqual(treebankWordTokenize('Good muffins cost $3.88\nin New (York).  Please (buy) me\ntwo of them.\n(Thanks).'),
      ['Good', 'muffins', 'cost', '$', '3.88', 'in', 'New', '(', 'York', ')', '.', 'Please', '(', 'buy', ')', 'me', 'two', 'of', 'them.',
        '(', 'Thanks', ')', '.']);
  });

  test('sentences as Punkt cuts them (punkt.py doctests)', () => {
    assert.deepEqual(sentTokenize('Good muffins cost $3.88\nin New York.  Please buy me\ntwo of them.\n\nThanks.'),
      ['Good muffins cost $3.88\nin New York.', 'Please buy me\ntwo of them.', 'Thanks.']);
    assert.deepEqual(sentTokenize('Punkt knows that the periods in Mr. Smith and Johann S. Bach\ndo not mark sentence boundaries.  '
      + 'And sometimes sentences\ncan start with non-capitalized words.  i is a good variable\nname.'), [
      'Punkt knows that the periods in Mr. Smith and Johann S. Bach\ndo not mark sentence boundaries.',
      'And sometimes sentences\ncan start with non-capitalized words.',
      'i is a good variable\nname.',
    ]);
    assert.deepEqual(sentTokenize('(How does it deal with this parenthesis?)  "It should be part of the\nprevious sentence." '
      + '"(And the same with this one.)" (\'And this one!\')\n"(\'(And (this)) \'?)" [(and this. )]'), [
      '(How does it deal with this parenthesis?)', '"It should be part of the\nprevious sentence."', '"(And the same with this one.)"',
      "('And this one!')", '"(\'(And (this)) \'?)"', '[(and this. )]',
    ]);
  });

  test('no text, no tokens', () => {
    assert.deepEqual(wordTokenize(''), []);
    assert.deepEqual(wordTokenize(' \n '), []);
  });
});

describe('n-gram entropy (ROME / EasyEdit fluency)', () => {
  test('H_n over the n-gram frequency distribution, in bits', () => {
    // bigrams ab, ba, ab: p = 2/3, 1/3; trigrams aba, bab: p = 1/2, 1/2
    close(ngramEntropy(['a', 'b', 'a', 'b'], 2), Math.log2(3) - 2 / 3);
    close(ngramEntropy(['a', 'b', 'a', 'b'], 3), 1);
    close(ngramEntropy(['a', 'a', 'a'], 2), 0);
  });

  test('a text scores (2/3·H_2 + 4/3·H_3)/2 on its NLTK tokens', () => {
    close(textNGramEntropy('a b a b'), (Math.log2(3) - 2 / 3 + 2 * 1) / 3);
    close(textNGramEntropy('w x y z'), (Math.log2(3) + 2 * 1) / 3);
    close(textNGramEntropy('a b.'), (1 + 2 * 0) / 3, 'punctuation is a token: a b . has bigrams a-b, b-.');
    close(textNGramEntropy('a a a a a'), 0, 'one repeated n-gram: no entropy');
  });

  test('too few tokens for an n-gram give H = 0, not NaN (numpy sums an empty array to 0)', () => {
    assert.equal(textNGramEntropy(''), 0);
    assert.equal(textNGramEntropy('word'), 0);
    assert.equal(textNGramEntropy('two words'), 0);
  });

  test('arithmetic or geometric mean over texts; no texts is an error', () => {
    const a = textNGramEntropy('a b a b');
    const b = textNGramEntropy('w x y z');
    close(nGramEntropy(['a b a b', 'w x y z']), (a + b) / 2);
    close(nGramEntropy(['a b a b', 'w x y z'], 'geom'), Math.sqrt(a * b));
    assert.equal(nGramEntropy(['a b a b', 'word'], 'geom'), 0);
    assert.throws(() => nGramEntropy([]), /no texts/);
  });
});

describe('TF-IDF consistency', () => {
  // N = 3 documents; df: the 2, cat 2, sat 2, dog 1 ("a" is too short for the token pattern)
  const model = TfidfModel.fit(['The cat sat', 'the dog sat', 'a cat']);
  const idfThe = Math.log(4 / 3) + 1;
  const idfDog = Math.log(4 / 2) + 1;

  test('smooth idf = ln((1 + N)/(1 + df)) + 1 over lower-cased terms of two or more word characters', () => {
    assert.equal(model.documents, 3);
    assert.deepEqual([...model.idf.keys()].sort(), ['cat', 'dog', 'sat', 'the']);
    close(model.idf.get('the')!, idfThe);
    close(model.idf.get('dog')!, idfDog);
  });

  test('vectors are raw counts × idf, L2-normalised, unknown terms ignored', () => {
    const v = model.vectorize('Dog DOG cat zebra');
    const norm = Math.hypot(2 * idfDog, idfThe);
    close(v.get('dog')!, 2 * idfDog / norm);
    close(v.get('cat')!, idfThe / norm);
    assert.equal(v.has('zebra'), false);
  });

  test('cosine: identical texts 1, disjoint 0, by hand in between; no known term gives 0', () => {
    close(model.similarity('the dog sat', 'the dog sat'), 1);
    close(model.similarity('dog', 'cat sat'), 0);
    // (idf_the, idf_dog) · (idf_the, idf_cat), idf_cat = idf_the
    close(model.similarity('the dog', 'the cat'), idfThe ** 2 / Math.sqrt((idfThe ** 2 + idfDog ** 2) * (2 * idfThe ** 2)));
    assert.equal(model.similarity('zebra', 'the cat'), 0);
  });

  test('consistency compares the joined generated texts with the joined references', () => {
    close(model.consistency(['the', 'dog'], ['the dog']), 1);
    close(model.consistency(['the dog', 'sat'], ['a cat']), model.similarity('the dog sat', 'a cat'));
  });

  test('corpus documents: lines, paragraphs, WikiText articles', () => {
    const text = ' = A = \n\n one \n = = S = = \n two \n = 1 k = \n\n = B = \n\n three \n';
    assert.deepEqual(splitCorpus(text, 'lines'), [' = A = ', ' one ', ' = = S = = ', ' two ', ' = 1 k = ', ' = B = ', ' three ']);
    assert.deepEqual(splitCorpus(text, 'paragraphs'), [' = A = ', ' one \n = = S = = \n two \n = 1 k = ', ' = B = ', ' three ']);
    assert.deepEqual(splitCorpus(text, 'wikitext-articles'), [' = A = \n\n one \n = = S = = \n two \n = 1 k = \n', ' = B = \n\n three \n']);
  });

  test('the IDF table is cached by corpus fingerprint and reloaded', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lmedit-tfidf-'));
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, 'the cat sat\nthe dog sat\n');
    const cacheDir = join(dir, 'cache');
    const first = TfidfModel.fromCorpus(corpus, { cacheDir });
    assert.deepEqual(first.corpus?.split, 'lines');
    const [file] = readdirSync(cacheDir);
    assert.match(file, /^tfidf-idf-[0-9a-f]{16}\.json$/);
    // a planted value proves the second call reads the cache
    const json = JSON.parse(readFileSync(join(cacheDir, file), 'utf8'));
    json.idf.cat = 42;
    writeFileSync(join(cacheDir, file), JSON.stringify(json));
    assert.equal(TfidfModel.fromCorpus(corpus, { cacheDir }).idf.get('cat'), 42);
    // another split or other contents: another fingerprint, learned afresh
    assert.notEqual(TfidfModel.fromCorpus(corpus, { cacheDir, split: 'paragraphs' }).idf.get('cat'), 42);
    writeFileSync(corpus, 'the cat sat\nthe dog sat\na cat\n');
    const changed = TfidfModel.fromCorpus(corpus, { cacheDir });
    assert.equal(changed.documents, 3);
    assert.equal(readdirSync(cacheDir).length, 3);
    const saved = join(dir, 'idf.json');
    changed.save(saved);
    assert.deepEqual(TfidfModel.load(saved).toJSON(), changed.toJSON());
    writeFileSync(saved, '{"idf": {}}');
    assert.throws(() => TfidfModel.load(saved), /not an lmedit IDF table/);
  });

  test('WikiText-2 (test split, articles as documents) gives a finite IDF for a large vocabulary', () => {
    const wiki = TfidfModel.fromCorpus(join(SHARED_DATA, 'wikitext-2', 'test.txt'), { split: 'wikitext-articles' });
    assert.equal(wiki.documents, 60);
    assert.ok(wiki.idf.size > 10_000, `${wiki.idf.size} terms`);
    for (const v of wiki.idf.values()) assert.ok(Number.isFinite(v) && v >= 1);
    assert.ok(wiki.idf.get('the')! < wiki.idf.get('guitar')!, 'a function word is less informative than a content word');
    const s = wiki.consistency(['He played the guitar in a rock band.'], ['The band released an album with guitar and drums.']);
    assert.ok(s > 0 && s < 1, `${s}`);
  });
});

describe('fluency on factgpt', () => {
  const model = loadModel(FACTGPT);
  const tok = loadTokenizer(FACTGPT);
  const prompts = ['The mother tongue of Danielle Darrieux is', 'The official religion of Edwin of Northumbria is'];
  const opts = { maxOutLen: 40, seed: 0 };

  let texts: string[] = [];

  test('every text is its prompt plus top-5 samples, maxOutLen tokens in all, decoded as generate_fast does', () => {
    const ids = sampleForMetrics(model, tok, prompts, opts);
    ids.forEach((row, i) => {
      assert.equal(row.length, 40);
      assert.deepEqual(row.slice(0, tok.encode(prompts[i]).length), tok.encode(prompts[i]));
    });
    // the same seed draws the same samples
    texts = generateForMetrics(model, tok, prompts, opts);
    assert.deepEqual(texts, ids.map((row) => tok.decode(row, { skipSpecialTokens: true, cleanUpTokenizationSpaces: true })
      .normalize('NFKD').replaceAll('\n\n', ' ').replaceAll('<|endoftext|>', '')));
    texts.forEach((t, i) => assert.ok(t.startsWith(prompts[i]), t));
  });

  test('a prompt as long as maxOutLen is kept whole, with nothing added', () => {
    const [row] = sampleForMetrics(model, tok, [prompts[0]], { maxOutLen: 3 });
    assert.deepEqual(row, tok.encode(prompts[0]));
  });

  test('fluency = n-gram entropy of the generated texts, finite and positive', () => {
    const r = fluency(model, tok, prompts, opts);
    assert.deepEqual(r.texts, texts);
    assert.equal(r.ngramEntropy, nGramEntropy(r.texts));
    assert.ok(Number.isFinite(r.ngramEntropy) && r.ngramEntropy > 0, `${r.ngramEntropy}`);
  });
});
