// TF-IDF as sklearn's TfidfVectorizer with its defaults and a fixed vocabulary: ROME's consistency metric
// (dsets/tfidf_stats.py, eval_utils_counterfact.py::tfidf_similarity) and a lexical retriever (IKE's demonstrations
// and memory, docs/retrieval.md). The IDF comes from a document list or a corpus file (cached by its fingerprint).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { writeFileAtomicSync } from '../io/atomic.js';
import { readJsonObject } from '../io/json.js';
import { rankTop, type Retriever, type RetrievalHit } from './retriever.js';

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
    const bytes = fs.readFileSync(file);
    const fingerprint: CorpusFingerprint = { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), split };
    const key = createHash('sha256').update(`${fingerprint.size}|${fingerprint.sha256}|${split}`).digest('hex').slice(0, 16);
    const cached = opts.cacheDir ? path.join(opts.cacheDir, `tfidf-idf-${key}.json`) : undefined;
    if (cached && fs.existsSync(cached)) {
      const model = TfidfModel.load(cached);
      const c = model.corpus;
      if (c && c.size === fingerprint.size && c.sha256 === fingerprint.sha256 && c.split === split) return model;
    }
    const model = TfidfModel.fit(splitCorpus(bytes.toString('utf8'), split), fingerprint);
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
    return dot(this.vectorize(a), this.vectorize(b));
  }

  /** Consistency (ROME's reference score): similarity of `" ".join(generated)` and `" ".join(references)`. */
  consistency(generated: readonly string[], references: readonly string[]): number {
    return this.similarity(generated.join(' '), references.join(' '));
  }
}

function dot(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): number {
  let s = 0;
  for (const [t, w] of a) s += w * (b.get(t) ?? 0);
  return s;
}

/**
 * Cosine kNN over TF-IDF vectors, the IDF learned from the documents themselves (sklearn's fit_transform on the
 * corpus, then transform of the query): the lexical stand-in for a sentence-embedding retriever.
 */
export class TfidfRetriever implements Retriever {
  readonly model: TfidfModel;
  private readonly vectors: Map<string, number>[];

  constructor(readonly documents: readonly string[], model?: TfidfModel) {
    this.model = model ?? TfidfModel.fit(documents);
    this.vectors = documents.map((d) => this.model.vectorize(d));
  }

  get size(): number {
    return this.documents.length;
  }

  scores(query: string): number[] {
    const q = this.model.vectorize(query);
    return this.vectors.map((v) => dot(q, v));
  }

  topK(query: string, k: number): RetrievalHit[] {
    return rankTop(this.scores(query), k);
  }
}
