// MemPrompt's hyper-parameters (madaan/memprompt: ClosestMatchMemory(min_sim_threshold=6), the key normalisation
// `_process_key_for_closest`, the enriched question `f"{question} | {clarification}"`) plus lmedit's retrieval and
// prompt-template fields (docs/memprompt.md).
import type { Schema } from '../hparams.js';

export const MEMPROMPT_RETRIEVERS = ['fuzzy', 'tfidf', 'bm25'] as const;
export type MemPromptRetriever = (typeof MEMPROMPT_RETRIEVERS)[number];

export interface MemPromptHparams {
  /**
   * fuzzy: Levenshtein distance between normalised keys, a hit when below `fuzzy_threshold` (the original's
   * ClosestMatchMemory); tfidf / bm25: the retrieval module's scores (src/retrieval), a hit when at least `score_threshold`.
   */
  retriever: MemPromptRetriever;
  /** The original's min_sim_threshold: a key matches when its edit distance is strictly below it (default 6). */
  fuzzy_threshold: number;
  /** fuzzy: divide the distance by the longer key's length (a threshold in [0, 1]); false: raw characters (original). */
  fuzzy_normalized: boolean;
  /** tfidf (cosine in [0, 1]) / bm25 (unbounded): the least score of a hit. */
  score_threshold: number;
  bm25_k1: number;
  bm25_b: number;
  /** The prompt the model sees when feedback is retrieved: `{question}` and `{feedback}` (original "{question} | {feedback}"). */
  prompt_template: string;
  /** What an edit stores as feedback: `{prompt}` (the filled edit prompt) and `{target_new}`. */
  feedback_template: string;
}

export const MEMPROMPT_SCHEMA: Schema = {
  retriever: { type: 'string', default: 'fuzzy', doc: MEMPROMPT_RETRIEVERS.join(' | ') },
  fuzzy_threshold: { type: 'number', default: 6, min: 0 },
  fuzzy_normalized: { type: 'boolean', default: false },
  score_threshold: { type: 'number', default: 0.5, min: 0 },
  bm25_k1: { type: 'number', default: 1.2 },
  bm25_b: { type: 'number', default: 0.75 },
  prompt_template: { type: 'string', default: '{question} | {feedback}' },
  feedback_template: { type: 'string', default: '{prompt} {target_new}' },
};

/** Checks what the schema cannot; errors name the file and the field. */
export function checkMemPromptHparams(h: MemPromptHparams, source: string): void {
  if (!MEMPROMPT_RETRIEVERS.includes(h.retriever)) throw new Error(`${source}: retriever must be one of ${MEMPROMPT_RETRIEVERS.join(', ')}, got '${h.retriever}'`);
  if (h.fuzzy_normalized && h.fuzzy_threshold > 1) throw new Error(`${source}: fuzzy_threshold must be in [0, 1] with fuzzy_normalized, got ${h.fuzzy_threshold}`);
  for (const p of ['{question}', '{feedback}']) if (!h.prompt_template.includes(p)) throw new Error(`${source}: prompt_template must contain ${p}, got ${JSON.stringify(h.prompt_template)}`);
  if (!h.feedback_template.includes('{target_new}')) throw new Error(`${source}: feedback_template must contain {target_new}, got ${JSON.stringify(h.feedback_template)}`);
}
