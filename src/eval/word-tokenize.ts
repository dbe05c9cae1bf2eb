// English word tokenization as NLTK's `word_tokenize` (the tokens the n-gram entropy of ROME and EasyEdit counts):
// split the text into sentences, then run NLTK's improved Treebank tokenizer (`NLTKWordTokenizer`,
// nltk/tokenize/destructive.py, NLTK 3.9) on each sentence. The word rules are NLTK's regular expressions, in NLTK's
// order, translated to JavaScript with Python's semantics kept (Unicode `\w`, `\b`, `\d`, `\s`, and `$` that also
// matches before a final newline). The sentence splitter is a documented approximation of Punkt's pre-trained
// English model (see sentTokenize and docs/generation-metrics.md).

// ---- Python `re` classes in JavaScript (all regexes below use the `u` flag) ---------------------------------------
/** Python's `\w` on str: letters, numbers, underscore (JavaScript's `\w` is ASCII only). */
const W = String.raw`[\p{L}\p{N}_]`;
/** Python's `\s` / str.split() whitespace (JavaScript's `\s` adds U+FEFF and lacks U+001C–U+001F and U+0085). */
const S = String.raw`[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]`;
/** Python's `$` without MULTILINE: the end, or just before a newline that ends the string. */
const END = String.raw`(?=\n?$)`;
/** Python's `\b` before / after a word character. */
const B_BEFORE = `(?<!${W})`;
const B_AFTER = `(?!${W})`;

type Rule = [RegExp, string];
const rule = (pattern: string, replacement: string, flags = 'gu'): Rule => [new RegExp(pattern, flags), replacement];

// ---- NLTKWordTokenizer's rules (Python `\1` is `$1`, `\g<0>` is `$&`) -------------------------------------------
const STARTING_QUOTES: Rule[] = [
  rule('([«“‘„]|`+)', ' $1 '),
  rule('^"', '``'),
  rule('(``)', ' $1 '),
  rule(String.raw`([ (\[{<])("|'{2})`, '$1 `` '),
  // an opening single quote before a word that is not a clitic ('re 've 'll 'm 't 's 'd 'n)
  rule(`${B_BEFORE}(')(?!(?:re|ve|ll|m|t|s|d|n)${B_AFTER})(?=${W})`, '$1 ', 'giu'),
];

const PUNCTUATION: Rule[] = [
  rule(String.raw`([^.])(\.)([\])}>"'»”’ ]*)${S}*${END}`, '$1 $2 $3 '),
  rule(String.raw`([:,])([^\p{Nd}])`, ' $1 $2'),
  rule(`([:,])${END}`, ' $1 '),
  rule(String.raw`\.{2,}`, ' $& '),
  rule('[;@#$%&]', ' $& '),
  rule('[\u2012-\u2015]', ' $& '), // figure dash, en dash, em dash, horizontal bar
  rule(String.raw`([^.])(\.)([\])}>"']*)${S}*${END}`, '$1 $2$3 '), // the final period
  rule('[?!]', ' $& '),
  rule("([^'])' ", "$1 ' "),
  rule(String.raw`\*`, ' $& '),
];

const PARENS_BRACKETS = rule(String.raw`[\][(){}<>]`, ' $& ');
const DOUBLE_DASHES = rule('--', ' -- ');

const ENDING_QUOTES: Rule[] = [
  rule('([»”’])', ' $1 '),
  rule("''", " '' "),
  rule('"', " '' "),
  rule(`${S}+`, ' '),
  rule("([^' ])('[sS]|'[mM]|'[dD]|') ", '$1 $2 '),
  rule("([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", '$1 $2 '),
];

/** Robert MacIntyre's contractions (CONTRACTIONS2 and CONTRACTIONS3; NLTK leaves CONTRACTIONS4 out too). */
const CONTRACTIONS: Rule[] = [
  ...['(can)(not)', "(d)('ye)", '(gim)(me)', '(gon)(na)', '(got)(ta)', '(lem)(me)', "(more)('n)"]
    .map((c) => rule(`${B_BEFORE}${c}${B_AFTER}`, ' $1 $2 ', 'giu')),
  rule(`${B_BEFORE}(wan)(na)(?=${S})`, ' $1 $2 ', 'giu'),
  rule(` ('t)(is)${B_AFTER}`, ' $1 $2 ', 'giu'),
  rule(` ('t)(was)${B_AFTER}`, ' $1 $2 ', 'giu'),
];

const WHITESPACE_RUN = new RegExp(`${S}+`, 'u');
const NON_WHITESPACE_RUN = new RegExp(`[^${S.slice(1, -1)}]+`, 'gu');

function applyAll(text: string, rules: Rule[]): string {
  return rules.reduce((t, [re, sub]) => t.replace(re, sub), text);
}

/** Python's str.split(): runs of whitespace separate, no empty strings. */
function splitWhitespace(text: string): string[] {
  return text.split(WHITESPACE_RUN).filter((t) => t.length > 0);
}

/**
 * NLTK's `NLTKWordTokenizer().tokenize(sentence)`: the word tokens of one sentence. A period is split off only at
 * the end of the text it is given, which is why `wordTokenize` splits sentences first.
 */
export function treebankWordTokenize(sentence: string): string[] {
  let text = applyAll(sentence, STARTING_QUOTES);
  text = applyAll(text, PUNCTUATION);
  text = applyAll(text, [PARENS_BRACKETS, DOUBLE_DASHES]);
  text = applyAll(` ${text} `, ENDING_QUOTES);
  text = applyAll(text, CONTRACTIONS);
  return splitWhitespace(text);
}

// ---- Sentences ------------------------------------------------------------------------------------------------
/**
 * The abbreviation types of NLTK's pre-trained English Punkt model (punkt_tab/english/abbrev_types.txt, Apache-2.0):
 * lower case, without the final period. A period after one of these does not end a sentence.
 */
const PUNKT_ENGLISH_ABBREVIATIONS = new Set([
  'a.a', 'a.c', 'a.d', 'a.g', 'a.h', 'a.m', 'a.m.e', 'a.s', 'a.t', 'adm', 'ala', 'ariz', 'aug', 'ave', 'b.f', 'b.v',
  'bros', 'c', 'c.i.t', 'c.o.m.b', 'c.v', 'calif', 'chg', 'cie', 'co', 'col', 'colo', 'conn', 'corp', 'cos', 'ct',
  'd', 'd.c', 'd.h', 'd.w', 'dec', 'dr', 'e', 'e.f', 'e.h', 'e.l', 'e.m', 'f', 'f.g', 'f.j', 'feb', 'fla', 'fri',
  'ft', 'g', 'g.d', 'g.f', 'g.k', 'ga', 'gen', 'h', 'h.c', 'h.f', 'h.m', 'i.m.s', 'ill', 'inc', 'j.b', 'j.c', 'j.j',
  'j.k', 'j.p', 'j.r', 'jan', 'jr', 'k', 'kan', 'ky', 'l', 'l.a', 'l.f', 'l.p', 'lt', 'ltd', 'm', 'm.b.a', 'm.d.c',
  'm.j', 'maj', 'messrs', 'mg', 'mich', 'minn', 'mr', 'mrs', 'ms', 'n', 'n.c', 'n.d', 'n.h', 'n.j', 'n.m', 'n.v',
  'n.y', 'nev', 'nov', 'oct', 'ok', 'okla', 'ore', 'p', 'p.a.m', 'p.m', 'pa', 'ph.d', 'prof', 'r', 'r.a', 'r.h',
  'r.i', 'r.j', 'r.k', 'r.t', 'rep', 'reps', 's', 's.a', 's.a.y', 's.c', 's.g', 's.p.a', 's.s', 'sen', 'sep',
  'sept', 'sr', 'st', 'sw', 't', 't.j', 'tenn', 'tues', 'u.k', 'u.n', 'u.s', 'u.s.a', 'u.s.s.r', 'v', 'va', 'vs',
  'vt', 'w', 'w.c', 'w.r', 'w.va', 'w.w', 'wash', 'wed', 'wis', 'yr',
]);

/**
 * The frequent sentence starters of the same model (punkt_tab/english/sent_starters.txt): after an abbreviation,
 * one of these, capitalised, starts a new sentence ("... Corp. The company ...").
 */
const PUNKT_ENGLISH_SENTENCE_STARTERS = new Set([
  'according', 'although', 'among', 'both', 'but', 'despite', 'even', 'he', 'however', 'i', 'if', 'in', 'indeed',
  'instead', 'it', 'many', 'meanwhile', 'moreover', 'most', 'nevertheless', 'nonetheless', 'nor', 'sales',
  'separately', 'similarly', 'since', 'so', 'some', 'the', 'there', 'these', 'they', 'this', 'though', 'thus',
  'under', 'when', 'while', 'yet',
]);

/** Closing punctuation that stays with the sentence before it (Punkt's boundary realignment). */
const CLOSERS = /["')\]}]+$/u;
/** Characters Punkt's own word splitter never keeps inside a word: the word a period ends is what follows them. */
const NON_WORD = /[?!)";}\]*:@'({[]/u;
const ELLIPSIS = /\.\.+$/u;
const NUMBER = /^-?[.,]?\p{Nd}[\p{Nd},.-]*\.?$/u;
const INITIAL = /^\p{L}\.$/u;

/**
 * Whether the whitespace-separated chunk `chunk`, followed by the chunk `next`, ends a sentence. The case of the
 * next word is its first character's, as for Punkt, whose word splitter makes a leading quote or bracket a token
 * of its own (neither upper nor lower case).
 */
function endsSentence(chunk: string, next: string): boolean {
  const core = chunk.replace(CLOSERS, '');
  if (/[?!]$/u.test(core)) return true;
  if (!core.endsWith('.')) return false;
  const nextUpper = /^\p{Lu}/u.test(next);
  if (ELLIPSIS.test(core)) return nextUpper;
  const word = core.split(NON_WORD).pop()!.replace(/^[-,&#`]+/u, '');
  const type = word.slice(0, -1).toLowerCase();
  if (INITIAL.test(word)) return false;
  if (PUNKT_ENGLISH_ABBREVIATIONS.has(type) || PUNKT_ENGLISH_ABBREVIATIONS.has(type.split('-').pop()!)) {
    return nextUpper && PUNKT_ENGLISH_SENTENCE_STARTERS.has((/^\p{L}+/u.exec(next)?.[0] ?? '').toLowerCase());
  }
  if (NUMBER.test(word)) return !/^\p{Ll}/u.test(next);
  return true;
}

/**
 * Sentences of `text`, approximating NLTK's `sent_tokenize` (Punkt with its pre-trained English parameters):
 * a sentence ends after `?` or `!`, and after a word ending in `.`, except: after a single-letter initial never;
 * after one of Punkt's English abbreviations only when a capitalised frequent sentence starter follows; after an
 * ellipsis only when a capitalised word follows; after a number unless a lower-case word follows. Closing quotes
 * or brackets may follow the end mark, then whitespace must. The case of the next word no more matters after an
 * ordinary word than it does for Punkt ("usw. fur" splits). Punkt's learnt collocations and per-word orthographic
 * statistics are not reproduced (docs/generation-metrics.md lists the differences this makes).
 */
export function sentTokenize(text: string): string[] {
  const chunks = [...text.matchAll(NON_WHITESPACE_RUN)];
  if (chunks.length === 0) return [];
  const slices: [number, number][] = [];
  let start = 0;
  for (let i = 0; i + 1 < chunks.length; i++) {
    if (!endsSentence(chunks[i][0], chunks[i + 1][0])) continue;
    slices.push([start, chunks[i].index! + chunks[i][0].length]);
    start = chunks[i + 1].index!;
  }
  const last = chunks[chunks.length - 1];
  slices.push([start, last.index! + last[0].length]);
  return realignBoundaries(text, slices);
}

const REALIGNMENT = new RegExp(`^["')\\]}]+?(?:${S}+|(?=--)|$)`, 'mu');

/**
 * Punkt's boundary realignment: closing quotes and brackets that open a sentence, up to whitespace, belong to the
 * sentence before ("[(and this. )]" stays one sentence).
 */
function realignBoundaries(text: string, slices: [number, number][]): string[] {
  const out: string[] = [];
  let shift = 0;
  for (let i = 0; i < slices.length; i++) {
    const from = slices[i][0] + shift;
    const next = slices[i + 1];
    const m = next ? REALIGNMENT.exec(text.slice(next[0], next[1])) : null;
    if (m) {
      out.push(text.slice(from, next[0] + m[0].trimEnd().length));
      shift = m[0].length;
    } else {
      shift = 0;
      if (slices[i][1] > from) out.push(text.slice(from, slices[i][1]));
    }
  }
  return out;
}

/** NLTK's `word_tokenize(text)`: sentTokenize, then treebankWordTokenize on each sentence. */
export function wordTokenize(text: string): string[] {
  return sentTokenize(text).flatMap(treebankWordTokenize);
}
