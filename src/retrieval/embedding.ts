// Dense retrieval: a sentence-embedding model behind `Embedder`, and cosine kNN over its vectors — EasyEdit's IKE
// (all-MiniLM-L6-v2, util.normalize_embeddings then util.semantic_search with dot_score). The encoder is a plug:
// BertEmbedder (src/models/bert-embedder.ts) runs a local sentence-transformers directory; TF-IDF and BM25 are the
// defaults.
import { rankTop, type Retriever, type RetrievalHit } from './retriever.js';

export interface Embedder {
  /** Names the model in saved states and results (EasyEdit's sentence_model_name). */
  readonly name: string;
  /** One vector per text, all of the same length. */
  embed(texts: readonly string[]): number[][];
}

/** Scales a vector to unit length; a zero vector stays zero (it matches nothing). */
export function normalize(v: readonly number[]): number[] {
  const norm = Math.hypot(...v);
  return norm > 0 ? v.map((x) => x / norm) : v.map(() => 0);
}

export class EmbeddingRetriever implements Retriever {
  private readonly vectors: number[][];

  constructor(readonly embedder: Embedder, readonly documents: readonly string[]) {
    this.vectors = documents.length === 0 ? [] : embedder.embed(documents).map(normalize);
    if (this.vectors.length !== documents.length) {
      throw new Error(`embedder ${embedder.name}: ${this.vectors.length} vectors for ${documents.length} documents`);
    }
  }

  get size(): number {
    return this.documents.length;
  }

  scores(query: string): number[] {
    const [q] = this.embedder.embed([query]).map(normalize);
    return this.vectors.map((v, i) => {
      if (v.length !== q.length) throw new Error(`embedder ${this.embedder.name}: document ${i} has ${v.length} dimensions, the query ${q.length}`);
      let s = 0;
      for (let j = 0; j < q.length; j++) s += q[j] * v[j];
      return s;
    });
  }

  topK(query: string, k: number): RetrievalHit[] {
    return rankTop(this.scores(query), k);
  }
}
