// IKE's demonstration pool: edit cases disjoint from the evaluated ones (EasyEdit: the CounterFact train split), each
// with its paraphrases and locality probes. The hparams name the source (pool_file + pool_range); whoever reads
// datasets (lmedit eval) loads the file and hands the cases over as SessionContext.pool through `poolRequests`.
import { normalizeRequest, type EditRequest, type NormalizedRequest, type PromptAnswer } from './request.js';

/** What a pool case needs (src/eval's EditCase has this shape). */
export interface PoolCase {
  request: EditRequest;
  rephrases: string[];
  locality: Record<string, PromptAnswer[]>;
}

/**
 * A half-open slice of positions "start:end" as Python's: either side may be empty (0 / n), negative values count
 * from the end ("-200:" = the last 200). Errors name `source`.
 */
export function parsePoolRange(spec: string, n: number, source: string): { start: number; end: number } {
  const m = /^\s*(-?\d+)?\s*:\s*(-?\d+)?\s*$/.exec(spec);
  if (!m) throw new Error(`${source}: expected a slice "start:end" such as "400:600" or "-200:", got '${spec}'`);
  const at = (v: string | undefined, dflt: number) => {
    if (v === undefined) return dflt;
    const i = Number(v);
    return Math.min(n, Math.max(0, i < 0 ? n + i : i));
  };
  const start = at(m[1], 0);
  const end = at(m[2], n);
  if (end <= start) throw new Error(`${source}: the slice '${spec}' selects no case of ${n}`);
  return { start, end };
}

/** The cases `range` selects (all when null). */
export function selectPool<T>(cases: readonly T[], range: string | null, source = 'pool_range'): T[] {
  if (range === null) return [...cases];
  const { start, end } = parsePoolRange(range, cases.length, source);
  return cases.slice(start, end);
}

/** Pool cases as the normalized requests SessionContext.pool holds (rephrases and locality carried along). */
export function poolRequests(cases: readonly PoolCase[]): NormalizedRequest[] {
  return cases.map((c, i) => normalizeRequest({ ...c.request, rephrasePrompts: c.rephrases, locality: c.locality }, i));
}

/**
 * Positions of the pool records that are also evaluated (the same prompt and new target): a pool must be disjoint
 * from the evaluated cases, or the context would hold the answer. For the loader to refuse such a pool.
 */
export function poolOverlap(pool: readonly NormalizedRequest[], evaluated: readonly Pick<NormalizedRequest, 'text' | 'targetNew'>[]): number[] {
  const key = (r: Pick<NormalizedRequest, 'text' | 'targetNew'>) => `${r.text}\u0000${r.targetNew.trim()}`;
  const seen = new Set(evaluated.map(key));
  return pool.flatMap((r, i) => (seen.has(key(r)) ? [i] : []));
}
