// Generation metrics (docs/generation-metrics.md, REFERENCE §1.4 "Fluency" and "Consistency RS"):
//   fluency      weighted 2-/3-gram entropy of sampled continuations: kmeng01/rome
//                experiments/py/eval_utils_counterfact.py::n_gram_entropy (identical in EasyEdit evaluate_utils.py),
//                continuations sampled as rome util/generate.py::generate_fast (top-5, 100 tokens in all);
//   consistency  cosine of the TF-IDF vectors of the joined generated texts and the joined reference texts
//                (eval_utils_counterfact.py::tfidf_similarity), IDF learned from a local corpus.
import { Generator } from '../tensor/index.js';
import { CausalLM, TextLM, type TextModel } from '../models/index.js';
import type { Tokenizer } from '../io/tokenizer.js';
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

// TfidfModel and its analyzer live in src/retrieval/tfidf.ts (IKE retrieves with them too).
export { TfidfModel, tfidfTerms, splitCorpus, type CorpusSplit, type CorpusFingerprint, type CorpusIdfOptions } from '../retrieval/tfidf.js';

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
export function sampleForMetrics(model: CausalLM | TextModel, tokenizer: Tokenizer, prompts: readonly string[], opts: MetricGenerationOptions = {}): number[][] {
  const text: TextModel = model instanceof CausalLM ? new TextLM(model, tokenizer) : model;
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
        const continuations = text.generate(batch.map((i) => prompts[i]), {
          maxNewTokens: maxOutLen - length, doSample: true, topK, generator, eosTokenId: null,
        });
        batch.forEach((row, b) => out[row].push(...continuations[b].ids));
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
export function generateForMetrics(model: CausalLM | TextModel, tokenizer: Tokenizer, prompts: readonly string[], opts: MetricGenerationOptions = {}): string[] {
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
  model: CausalLM | TextModel, tokenizer: Tokenizer, prompts: readonly string[], opts: MetricGenerationOptions & { agg?: 'arith' | 'geom' } = {},
): FluencyResult {
  const texts = generateForMetrics(model, tokenizer, prompts, opts);
  return { texts, ngramEntropy: nGramEntropy(texts, opts.agg) };
}
