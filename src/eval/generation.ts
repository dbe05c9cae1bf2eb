// Generation metrics (docs/generation-metrics.md, REFERENCE §1.4 "Fluency" and "Consistency RS"):
//   fluency      weighted 2-/3-gram entropy of sampled continuations: kmeng01/rome
//                experiments/py/eval_utils_counterfact.py::n_gram_entropy (identical in EasyEdit evaluate_utils.py),
//                continuations sampled as rome util/generate.py::generate_fast (top-5, 100 tokens in all);
//   consistency  cosine of the TF-IDF vectors of the joined generated texts and the joined reference texts
//                (eval_utils_counterfact.py::tfidf_similarity), IDF learned from a local corpus.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { Generator } from '../tensor/index.js';
import { generate, type CausalLM } from '../models/index.js';
import type { Tokenizer } from '../io/tokenizer.js';
import { writeFileAtomicSync } from '../io/atomic.js';
import { readJsonObject } from '../io/json.js';
import { fileSha256 } from '../stats/index.js';
import { wordTokenize } from './word-tokenize.js';

// ---- Fluency: n-gram entropy ------------------------------------------------------------------------------------

/**
 * H_n = −Σ p log2 p over the frequency distribution of the n-grams of `tokens` (NLTK `ngrams` + `FreqDist`).
 * Fewer than n tokens give no n-grams and H_n = 0, as numpy's sum over the empty array in the reference.
 */
export function ngramEntropy(tokens: readonly string[], n: number): number {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join('\u0000');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const total = tokens.length - n + 1;
  let h = 0;
  for (const c of counts.values()) {
    const p = c / total;
    h -= p * Math.log2(p);
  }
  return h;
}

/** One text's entropy: mean over n ∈ ns of weight_n · H_n on NLTK word tokens; (H_2 + 2·H_3)/3 by default. */
export function textNGramEntropy(text: string, ns: readonly number[] = [2, 3], weights: readonly number[] = [2 / 3, 4 / 3]): number {
  if (ns.length !== weights.length || ns.length === 0) throw new Error('textNGramEntropy: ns and weights need the same, non-zero length');
  const tokens = wordTokenize(text);
  return ns.reduce((sum, n, i) => sum + weights[i] * ngramEntropy(tokens, n), 0) / ns.length;
}

/**
 * Fluency of generated texts: the arithmetic (or geometric, scipy's gmean: a zero gives 0) mean of the texts'
 * entropies, in bits. Papers report it ×100. No texts is an error (numpy would return NaN).
 */
export function nGramEntropy(texts: readonly string[], agg: 'arith' | 'geom' = 'arith'): number {
  if (texts.length === 0) throw new Error('nGramEntropy: no texts');
  const values = texts.map((t) => textNGramEntropy(t));
  if (agg === 'arith') return values.reduce((a, b) => a + b, 0) / values.length;
  return Math.exp(values.reduce((a, b) => a + Math.log(b), 0) / values.length);
}

// ---- Consistency: TF-IDF ----------------------------------------------------------------------------------------

/** `\b\w\w+\b` with Python's Unicode `\w`: maximal runs of two or more word characters. */
const TERM = /[\p{L}\p{N}_]{2,}/gu;

/** sklearn TfidfVectorizer's default analyzer: lower case, then the terms of token_pattern `(?u)\b\w\w+\b`. */
export function tfidfTerms(text: string): string[] {
  return text.toLowerCase().match(TERM) ?? [];
}

/**
 * How a corpus file is cut into documents (the unit of document frequency):
 *   lines              every non-blank line
 *   paragraphs         blocks separated by blank lines
 *   wikitext-articles  WikiText articles, each from its ` = Title = ` line to the next (ROME's IDF counted
 *                      Wikipedia articles)
 */
export type CorpusSplit = 'lines' | 'paragraphs' | 'wikitext-articles';

export function splitCorpus(text: string, split: CorpusSplit): string[] {
  const lines = text.split(/\r?\n/);
  const blank = (i: number) => i < 0 || i >= lines.length || lines[i].trim() === '';
  if (split === 'lines') return lines.filter((_, i) => !blank(i));
  // a WikiText article title is a ` = Title = ` line between blank lines (` = = Section = = ` is a section title;
  // a formula line such as ` = 1 <unk> / s and ... k = ` has text around it)
  const articleTitle = (i: number) => /^ = [^=].*=\s*$/.test(lines[i]) && blank(i - 1) && blank(i + 1);
  const docs: string[][] = [[]];
  lines.forEach((line, i) => {
    if (split === 'paragraphs' ? blank(i) : articleTitle(i)) docs.push([]);
    if (split === 'wikitext-articles' || !blank(i)) docs[docs.length - 1].push(line);
  });
  return docs.filter((d) => d.some((l) => l.trim() !== '')).map((d) => d.join('\n'));
}

/** Identifies the corpus an IDF table was learned from: the file's size and SHA-256, and how it was split. */
export interface CorpusFingerprint {
  size: number;
  sha256: string;
  split: CorpusSplit;
}

const IDF_FORMAT = 'lmedit-tfidf-idf';

export interface CorpusIdfOptions {
  /** Default `lines`. */
  split?: CorpusSplit;
  /** Directory for the learned IDF table, `tfidf-idf-<fingerprint>.json`; read when present, else written. */
  cacheDir?: string;
}

/**
 * TF-IDF vectors as sklearn's TfidfVectorizer with its defaults and a fixed vocabulary (how ROME's
 * dsets/tfidf_stats.py uses it): raw term counts × idf, idf(t) = ln((1 + N)/(1 + df(t))) + 1 (smooth_idf), L2
 * normalised; terms outside the vocabulary are ignored.
 */
export class TfidfModel {
  private constructor(
    readonly idf: ReadonlyMap<string, number>,
    /** Documents the IDF was learned from. */
    readonly documents: number,
    readonly corpus?: CorpusFingerprint,
  ) {}

  /** Learns the IDF of every term of `documents`. */
  static fit(documents: readonly string[], corpus?: CorpusFingerprint): TfidfModel {
    const df = new Map<string, number>();
    for (const doc of documents) for (const t of new Set(tfidfTerms(doc))) df.set(t, (df.get(t) ?? 0) + 1);
    const n = documents.length;
    const idf = new Map<string, number>();
    for (const [t, d] of df) idf.set(t, Math.log((1 + n) / (1 + d)) + 1);
    return new TfidfModel(idf, n, corpus);
  }

  /** The IDF of a text corpus file, cut into documents by `split`; cached by the file's fingerprint. */
  static fromCorpus(file: string, opts: CorpusIdfOptions = {}): TfidfModel {
    const split = opts.split ?? 'lines';
    const fingerprint: CorpusFingerprint = { size: fs.statSync(file).size, sha256: fileSha256(file), split };
    const key = createHash('sha256').update(`${fingerprint.size}|${fingerprint.sha256}|${split}`).digest('hex').slice(0, 16);
    const cached = opts.cacheDir ? path.join(opts.cacheDir, `tfidf-idf-${key}.json`) : undefined;
    if (cached && fs.existsSync(cached)) {
      const model = TfidfModel.load(cached);
      const c = model.corpus;
      if (c && c.size === fingerprint.size && c.sha256 === fingerprint.sha256 && c.split === split) return model;
    }
    const model = TfidfModel.fit(splitCorpus(fs.readFileSync(file, 'utf8'), split), fingerprint);
    if (cached) {
      fs.mkdirSync(opts.cacheDir!, { recursive: true });
      model.save(cached);
    }
    return model;
  }

  static fromJSON(json: Record<string, unknown>, source = 'IDF table'): TfidfModel {
    if (json.format !== IDF_FORMAT || typeof json.idf !== 'object' || json.idf === null || typeof json.documents !== 'number') {
      throw new Error(`${source}: not an lmedit IDF table (expected format '${IDF_FORMAT}' with documents and idf)`);
    }
    const idf = new Map(Object.entries(json.idf as Record<string, number>));
    return new TfidfModel(idf, json.documents, json.corpus as CorpusFingerprint | undefined);
  }

  static load(file: string): TfidfModel {
    return TfidfModel.fromJSON(readJsonObject(file, 'IDF table'), file);
  }

  toJSON(): Record<string, unknown> {
    return { format: IDF_FORMAT, version: 1, documents: this.documents, corpus: this.corpus, idf: Object.fromEntries(this.idf) };
  }

  save(file: string): void {
    writeFileAtomicSync(file, JSON.stringify(this.toJSON()) + '\n');
  }

  /** The L2-normalised TF-IDF vector of `text` over the vocabulary (sparse: term → weight). */
  vectorize(text: string): Map<string, number> {
    const v = new Map<string, number>();
    for (const t of tfidfTerms(text)) {
      const w = this.idf.get(t);
      if (w !== undefined) v.set(t, (v.get(t) ?? 0) + w);
    }
    let squares = 0;
    for (const w of v.values()) squares += w * w;
    const norm = Math.sqrt(squares);
    if (norm > 0) for (const [t, w] of v) v.set(t, w / norm);
    return v;
  }

  /**
   * Cosine similarity of the TF-IDF vectors of two texts. A text with no vocabulary term has no direction: the
   * similarity is 0 (ROME's tfidf_similarity would divide 0 by 0 and return NaN).
   */
  similarity(a: string, b: string): number {
    const va = this.vectorize(a);
    const vb = this.vectorize(b);
    let dot = 0;
    for (const [t, w] of va) dot += w * (vb.get(t) ?? 0);
    return dot;
  }

  /** Consistency (ROME's reference score): similarity of `" ".join(generated)` and `" ".join(references)`. */
  consistency(generated: readonly string[], references: readonly string[]): number {
    return this.similarity(generated.join(' '), references.join(' '));
  }
}

// ---- Sampling the texts -----------------------------------------------------------------------------------------

export interface MetricGenerationOptions {
  /** Total tokens per text, prompt included (rome generate_fast's max_out_len; default 100). */
  maxOutLen?: number;
  /** Sample among the k most likely tokens (default 5). */
  topK?: number;
  /** Seed of the one generator all batches draw from, in order (default 0). */
  seed?: number;
  /** Prompts per forward pass (default 16); the samples depend on it, as they do on the prompts' order. */
  batchSize?: number;
  /** transformers' decode clean-up (" ," → ","), on by default as in the transformers of ROME (4.15). */
  cleanUpTokenizationSpaces?: boolean;
  /** Called after each batch. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Token ids of each prompt followed by its top-k sampled continuation, `maxOutLen` tokens in all (a longer prompt is
 * kept whole, with nothing added). As in generate_fast, an end-of-text token does not stop a row. Rows are batched
 * by prompt length, so that each batch needs no padding and all its rows the same number of new tokens.
 */
export function sampleForMetrics(model: CausalLM, tokenizer: Tokenizer, prompts: readonly string[], opts: MetricGenerationOptions = {}): number[][] {
  const { maxOutLen = 100, topK = 5, seed = 0, batchSize = 16 } = opts;
  const encoded = prompts.map((p, i) => {
    const ids = tokenizer.encode(p);
    if (ids.length === 0) throw new Error(`sampleForMetrics: prompt ${i} (${JSON.stringify(p)}) encodes to no tokens`);
    return ids;
  });
  const byLength = new Map<number, number[]>();
  encoded.forEach((ids, i) => byLength.set(ids.length, [...(byLength.get(ids.length) ?? []), i]));
  const generator = new Generator(seed);
  const out = encoded.map((ids) => [...ids]);
  let done = 0;
  for (const [length, rows] of byLength) {
    for (let s = 0; s < rows.length; s += batchSize) {
      const batch = rows.slice(s, s + batchSize);
      if (maxOutLen > length) {
        const continuations = generate(model, batch.map((i) => encoded[i]), {
          maxNewTokens: maxOutLen - length, doSample: true, topK, generator, eosTokenId: null,
        });
        batch.forEach((row, b) => out[row].push(...continuations[b]));
      }
      done += batch.length;
      opts.onProgress?.(done, prompts.length);
    }
  }
  return out;
}

/**
 * rome util/generate.py::generate_fast: each prompt with its sampled continuation, decoded, NFKD-normalised,
 * "\n\n" → " ", `<|endoftext|>` removed (special tokens are skipped when decoding, as EasyEdit does: the same text
 * for GPT-2, and no `<s>` for Llama).
 */
export function generateForMetrics(model: CausalLM, tokenizer: Tokenizer, prompts: readonly string[], opts: MetricGenerationOptions = {}): string[] {
  const cleanUpTokenizationSpaces = opts.cleanUpTokenizationSpaces ?? true;
  return sampleForMetrics(model, tokenizer, prompts, opts).map((ids) => tokenizer
    .decode(ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces })
    .normalize('NFKD')
    .replaceAll('\n\n', ' ')
    .replaceAll('<|endoftext|>', ''));
}

export interface FluencyResult {
  texts: string[];
  /** nGramEntropy of the texts, in bits (×100 in the papers' tables). */
  ngramEntropy: number;
}

/** Fluency of a model on prompts: generateForMetrics, then nGramEntropy. */
export function fluency(
  model: CausalLM, tokenizer: Tokenizer, prompts: readonly string[], opts: MetricGenerationOptions & { agg?: 'arith' | 'geom' } = {},
): FluencyResult {
  const texts = generateForMetrics(model, tokenizer, prompts, opts);
  return { texts, ngramEntropy: nGramEntropy(texts, opts.agg) };
}
