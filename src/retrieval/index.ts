// Retrieval over short texts: lexical (TF-IDF, BM25) and dense (a sentence embedder), one contract.
export { rankTop, type Retriever, type RetrievalHit } from './retriever.js';
export { TfidfModel, TfidfRetriever, tfidfTerms, splitCorpus, type CorpusSplit, type CorpusFingerprint, type CorpusIdfOptions } from './tfidf.js';
export { Bm25Retriever, type Bm25Options } from './bm25.js';
export { EmbeddingRetriever, normalize, type Embedder } from './embedding.js';
export { createRetriever, retrieverSpec, RETRIEVER_KINDS, type RetrieverSpec } from './spec.js';
