// MeLLo's hyper-parameters (princeton-nlp/MQuAKE run_mello.ipynb: 4 hops, stop at "Retrieved fact:", top-1 edited
// fact by Contriever; lmedit retrieves with src/retrieval instead, docs/mello.md).
import type { Schema } from '../hparams.js';
import { RETRIEVER_KINDS } from '../../retrieval/index.js';

export interface MelloHparams {
  /** Subquestion / retrieval rounds per question (the notebook's range(4)). */
  max_hops: number;
  /** Tokens generated per round (the notebook's max_tokens 256; capped by the model's free positions). */
  max_new_tokens: number;
  /** Few-shot task prompt file (the notebook's prompts/MeLLo-prompt.txt); null: lmedit's built-in one (prompt.ts). */
  prompt_file: string | null;
  /** How many of the task prompt's examples (blocks separated by blank lines) to keep; -1: all. */
  prompt_examples: number;
  /** How edited facts are retrieved (Contriever in the original; lmedit ships no encoder: bm25 or tfidf). */
  retriever: (typeof RETRIEVER_KINDS)[number];
  bm25_k1: number;
  bm25_b: number;
}

export const MELLO_SCHEMA: Schema = {
  max_hops: { type: 'integer', default: 4, min: 1 },
  max_new_tokens: { type: 'integer', default: 64, min: 1 },
  prompt_file: { type: 'string|null', default: null },
  prompt_examples: { type: 'integer', default: -1, min: -1 },
  retriever: { type: 'string', default: 'bm25', doc: RETRIEVER_KINDS.join(' | ') },
  bm25_k1: { type: 'number', default: 1.2 },
  bm25_b: { type: 'number', default: 0.75 },
};

export function checkMelloHparams(h: MelloHparams, source: string): void {
  if (!RETRIEVER_KINDS.includes(h.retriever)) throw new Error(`${source}: retriever must be one of ${RETRIEVER_KINDS.join(', ')}, got '${h.retriever}'`);
  if (h.retriever === 'embedding') throw new Error(`${source}: retriever 'embedding' needs a sentence encoder (the original's Contriever), and lmedit has none yet; use bm25 or tfidf`);
}
