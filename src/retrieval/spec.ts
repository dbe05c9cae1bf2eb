// A retriever as data: what a saved state records so that the same ranking can be rebuilt from the same documents.
import { Bm25Retriever } from './bm25.js';
import { EmbeddingRetriever, type Embedder } from './embedding.js';
import type { Retriever } from './retriever.js';
import { TfidfRetriever } from './tfidf.js';

export type RetrieverSpec =
  | { kind: 'bm25'; k1: number; b: number }
  | { kind: 'tfidf' }
  /** `model`: the embedder's name, checked against the embedder given when rebuilding. */
  | { kind: 'embedding'; model: string };

export const RETRIEVER_KINDS = ['bm25', 'tfidf', 'embedding'] as const;

/** Checks a spec read from JSON; errors name `source`. */
export function retrieverSpec(raw: unknown, source: string): RetrieverSpec {
  const r = raw as Record<string, unknown> | null;
  const kind = r?.kind;
  if (kind === 'bm25' && typeof r!.k1 === 'number' && typeof r!.b === 'number') return { kind, k1: r!.k1, b: r!.b };
  if (kind === 'tfidf') return { kind };
  if (kind === 'embedding' && typeof r!.model === 'string') return { kind, model: r!.model };
  throw new Error(`${source}: not a retriever spec (expected {kind: bm25, k1, b}, {kind: tfidf} or {kind: embedding, model}), got ${JSON.stringify(raw)}`);
}

/** The retriever a spec describes, over `documents`; an embedding spec needs the embedder it names. */
export function createRetriever(spec: RetrieverSpec, documents: readonly string[], embedder?: Embedder): Retriever {
  switch (spec.kind) {
    case 'bm25': return new Bm25Retriever(documents, { k1: spec.k1, b: spec.b });
    case 'tfidf': return new TfidfRetriever(documents);
    case 'embedding':
      if (!embedder) {
        throw new Error(`retriever 'embedding' (${spec.model}) needs a sentence embedder, and none was given ` +
          '(lmedit ships none yet; use bm25 or tfidf)');
      }
      if (embedder.name !== spec.model) throw new Error(`retriever 'embedding' was built with ${spec.model}, but the embedder given is ${embedder.name}`);
      return new EmbeddingRetriever(embedder, documents);
  }
}
