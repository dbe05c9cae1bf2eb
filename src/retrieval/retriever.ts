// The retrieval contract: a fixed list of documents, ranked against a query. Methods that consult a memory (IKE's
// demonstrations and edited facts; later MemPrompt, MeLLo) hold a Retriever and never care how it scores.
// Ranking is deterministic: higher score first, ties to the earlier document (sentence-transformers'
// semantic_search leaves ties to torch.topk).

export interface RetrievalHit {
  /** Index of the document in the retriever's list. */
  index: number;
  score: number;
}

export interface Retriever {
  /** Number of documents. */
  readonly size: number;
  /** The score of every document against the query (higher is more similar). */
  scores(query: string): number[];
  /** The min(k, size) most similar documents, best first. */
  topK(query: string, k: number): RetrievalHit[];
}

/** The k best of `scores`, best first, ties to the lower index. */
export function rankTop(scores: readonly number[], k: number): RetrievalHit[] {
  if (!Number.isInteger(k) || k < 0) throw new Error(`topK: k must be a non-negative integer, got ${k}`);
  const hits = scores.map((score, index) => ({ index, score }));
  hits.sort((a, b) => b.score - a.score || a.index - b.index);
  return hits.slice(0, k);
}
