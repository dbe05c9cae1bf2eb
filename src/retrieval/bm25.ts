// Okapi BM25 (Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework: BM25 and Beyond", eq. 3.15 with
// Lucene's non-negative IDF):
//   score(q, d) = Σ_{t ∈ q} idf(t) · tf(t, d) · (k1 + 1) / (tf(t, d) + k1 · (1 − b + b · |d| / avgdl))
//   idf(t)      = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
// A term repeated in the query counts once per occurrence (as rank_bm25's BM25Okapi.get_scores). Terms are
// tfidfTerms' (lower-cased runs of ≥ 2 word characters), so both lexical retrievers see the same words.
import { rankTop, type Retriever, type RetrievalHit } from './retriever.js';
import { tfidfTerms } from './tfidf.js';

export interface Bm25Options {
  /** Term-frequency saturation (default 1.2, Lucene's). */
  k1?: number;
  /** Length normalisation, 0 (none) to 1 (full) (default 0.75). */
  b?: number;
}

export class Bm25Retriever implements Retriever {
  readonly k1: number;
  readonly b: number;
  /** Inverse document frequency of every term of the documents. */
  readonly idf: ReadonlyMap<string, number>;
  readonly averageLength: number;
  private readonly termCounts: Map<string, number>[];
  private readonly lengths: number[];

  constructor(readonly documents: readonly string[], opts: Bm25Options = {}) {
    this.k1 = opts.k1 ?? 1.2;
    this.b = opts.b ?? 0.75;
    if (!(this.k1 >= 0)) throw new Error(`BM25: k1 must be >= 0, got ${this.k1}`);
    if (!(this.b >= 0 && this.b <= 1)) throw new Error(`BM25: b must be in [0, 1], got ${this.b}`);
    const terms = documents.map(tfidfTerms);
    this.lengths = terms.map((t) => t.length);
    this.averageLength = this.lengths.reduce((a, n) => a + n, 0) / Math.max(1, documents.length);
    this.termCounts = terms.map((ts) => {
      const m = new Map<string, number>();
      for (const t of ts) m.set(t, (m.get(t) ?? 0) + 1);
      return m;
    });
    const df = new Map<string, number>();
    for (const m of this.termCounts) for (const t of m.keys()) df.set(t, (df.get(t) ?? 0) + 1);
    const n = documents.length;
    this.idf = new Map([...df].map(([t, d]) => [t, Math.log(1 + (n - d + 0.5) / (d + 0.5))]));
  }

  get size(): number {
    return this.documents.length;
  }

  scores(query: string): number[] {
    const q = tfidfTerms(query).filter((t) => this.idf.has(t));
    return this.termCounts.map((counts, i) => {
      // an empty corpus of words (avgdl 0) has no length to normalise by
      const norm = this.averageLength > 0 ? 1 - this.b + this.b * this.lengths[i] / this.averageLength : 1;
      let s = 0;
      for (const t of q) {
        const tf = counts.get(t) ?? 0;
        if (tf > 0) s += this.idf.get(t)! * tf * (this.k1 + 1) / (tf + this.k1 * norm);
      }
      return s;
    });
  }

  topK(query: string, k: number): RetrievalHit[] {
    return rankTop(this.scores(query), k);
  }
}
