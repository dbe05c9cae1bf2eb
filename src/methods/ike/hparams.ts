// IKE's hyper-parameters: EasyEdit's fields (easyeditor/models/ike/ike_hparams.py: k, sentence_model_name,
// results_dir, use_icl_examples) plus lmedit's retrieval and demonstration-pool fields (docs/ike.md).
import type { Schema } from '../hparams.js';
import { RETRIEVER_KINDS, type RetrieverSpec } from '../../retrieval/index.js';
import { parsePoolRange } from '../pool.js';

export const DEMO_SELECTIONS = ['sentences', 'records'] as const;
export const DEMO_ORDERS = ['most_similar_first', 'most_similar_last'] as const;

export interface IkeHparams {
  /** Demonstrations per query (EasyEdit default 16; 32 in its gpt-j and llama files). */
  k: number;
  /** EasyEdit's sentence encoder; used only with `retriever: embedding` (recorded otherwise). */
  sentence_model_name: string;
  results_dir: string;
  /** false: no demonstrations, only the new fact (EasyEdit's switch). */
  use_icl_examples: boolean;
  /** How demonstrations and facts are retrieved: bm25 (default), tfidf, or embedding (needs an Embedder). */
  retriever: (typeof RETRIEVER_KINDS)[number];
  bm25_k1: number;
  bm25_b: number;
  /** sentences: the k best of all demonstration sentences (EasyEdit); records: the k nearest pool records (IKE repo). */
  demo_selection: (typeof DEMO_SELECTIONS)[number];
  /** most_similar_first: retrieval order (EasyEdit); most_similar_last: reversed, nearest the query (IKE repo). */
  demo_order: (typeof DEMO_ORDERS)[number];
  /** Dataset file whose cases are the demonstration pool (any format `lmedit eval` reads); null: given by the caller. */
  pool_file: string | null;
  /** Which cases of pool_file, by position: a half-open slice "start:end" (negative counts from the end); null: all. */
  pool_range: string | null;
}

export const IKE_SCHEMA: Schema = {
  k: { type: 'integer', default: 16, doc: 'demonstrations per query' },
  sentence_model_name: { type: 'string', default: './hugging_cache/all-MiniLM-L6-v2' },
  results_dir: { type: 'string', default: './results' },
  use_icl_examples: { type: 'boolean', default: true },
  retriever: { type: 'string', default: 'bm25', doc: RETRIEVER_KINDS.join(' | ') },
  bm25_k1: { type: 'number', default: 1.2 },
  bm25_b: { type: 'number', default: 0.75 },
  demo_selection: { type: 'string', default: 'sentences', doc: DEMO_SELECTIONS.join(' | ') },
  demo_order: { type: 'string', default: 'most_similar_first', doc: DEMO_ORDERS.join(' | ') },
  pool_file: { type: 'string|null', default: null },
  pool_range: { type: 'string|null', default: null },
};

/** Checks the values the schema cannot (enumerations, ranges); errors name the file and the field. */
export function checkIkeHparams(h: IkeHparams, source: string): void {
  if (h.k < 0) throw new Error(`${source}: k must be >= 0, got ${h.k}`);
  const oneOf = (field: keyof IkeHparams, values: readonly string[]) => {
    if (!values.includes(h[field] as string)) throw new Error(`${source}: ${field} must be one of ${values.join(', ')}, got '${h[field]}'`);
  };
  oneOf('retriever', RETRIEVER_KINDS);
  oneOf('demo_selection', DEMO_SELECTIONS);
  oneOf('demo_order', DEMO_ORDERS);
  if (h.pool_range !== null) parsePoolRange(h.pool_range, Number.MAX_SAFE_INTEGER, `${source}: pool_range`);
}

/** The retriever the hparams ask for; `embedderName` names the sentence encoder for `embedding`. */
export function ikeRetrieverSpec(h: IkeHparams, embedderName?: string): RetrieverSpec {
  if (h.retriever === 'bm25') return { kind: 'bm25', k1: h.bm25_k1, b: h.bm25_b };
  if (h.retriever === 'tfidf') return { kind: 'tfidf' };
  return { kind: 'embedding', model: embedderName ?? h.sentence_model_name };
}
