// MemPrompt's memory (madaan/memprompt closest_match_memory.py::ClosestMatchMemory, openai_wrapper.py): keys are
// questions normalised by `_process_key_for_closest` (drop "<...>", lower case, collapse spaces, drop punctuation);
// a lookup returns the entry whose key is nearest the normalised query, if near enough. Nearness is the original's
// Levenshtein distance below a threshold, or a TF-IDF / BM25 score of src/retrieval at or above one.
import { createRetriever, type Retriever } from '../../retrieval/index.js';
import type { MemPromptRetriever } from './hparams.js';

/** openai_wrapper.py::_process_key_for_closest, character for character (Python's `re` on ASCII). */
export function normalizeKey(key: string): string {
  let k = key.replace(/<.*>/g, '').toLowerCase().trim();
  k = k.replace(/ +/g, ' ');
  k = k.replace(/[^a-zA-Z0-9 ]/g, '');
  return k.trim();
}

/** Levenshtein distance (insertions, deletions, substitutions of one UTF-16 unit each; python-Levenshtein's distance). */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let cur = new Array<number>(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1));
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

export interface MemoryEntry {
  editId: string;
  caseId?: string | number;
  /** The question as given (the filled edit prompt). */
  question: string;
  /** normalizeKey(question). */
  key: string;
  /** The clarification / new fact added to the prompt. */
  feedback: string;
}

export interface MatchSettings {
  retriever: MemPromptRetriever;
  fuzzyThreshold: number;
  fuzzyNormalized: boolean;
  scoreThreshold: number;
  bm25: { k1: number; b: number };
}

export interface MemoryHit {
  entry: MemoryEntry;
  /** Distance (fuzzy: smaller is nearer) or score (tfidf/bm25: larger is nearer). */
  score: number;
}

/**
 * The entries of one memory. As the original's dict, an entry with the same normalised key as an older one shadows
 * it (the later feedback is used); removing the later entry (rollback) brings the older back.
 */
export class MemPromptMemory {
  private index?: Retriever;

  constructor(readonly settings: MatchSettings, private entries: MemoryEntry[] = []) {}

  all(): readonly MemoryEntry[] {
    return this.entries;
  }

  add(entries: readonly MemoryEntry[]): void {
    this.entries.push(...entries);
    this.index = undefined;
  }

  removeEdit(editId: string): void {
    this.entries = this.entries.filter((e) => e.editId !== editId);
    this.index = undefined;
  }

  /** The live entries: the latest per normalised key (a dict's overwrite). */
  private live(): MemoryEntry[] {
    const byKey = new Map<string, MemoryEntry>();
    for (const e of this.entries) {
      byKey.delete(e.key);
      byKey.set(e.key, e);
    }
    return [...byKey.values()];
  }

  /** The nearest entry within the threshold; ties go to the most recently added. */
  lookup(query: string): MemoryHit | undefined {
    const live = this.live();
    if (live.length === 0) return undefined;
    const q = normalizeKey(query);
    const s = this.settings;
    if (s.retriever === 'fuzzy') {
      // ClosestMatchMemory._find_closest_key: min_dist starts at the threshold, a key is taken when dist < min_dist
      let best: MemoryHit | undefined;
      let bound = s.fuzzyThreshold;
      for (let i = live.length - 1; i >= 0; i--) {
        const raw = levenshtein(q, live[i].key);
        const d = s.fuzzyNormalized ? raw / Math.max(1, q.length, live[i].key.length) : raw;
        if (d < bound) {
          bound = d;
          best = { entry: live[i], score: d };
        }
      }
      return best;
    }
    // the index is over the live keys, in their order (rebuilt after each change)
    this.index ??= createRetriever(s.retriever === 'bm25' ? { kind: 'bm25', k1: s.bm25.k1, b: s.bm25.b } : { kind: 'tfidf' }, live.map((e) => e.key));
    const scores = this.index.scores(q);
    let bestI = -1;
    for (let i = scores.length - 1; i >= 0; i--) if (scores[i] >= s.scoreThreshold && (bestI < 0 || scores[i] > scores[bestI])) bestI = i;
    return bestI < 0 ? undefined : { entry: live[bestI], score: scores[bestI] };
  }
}
