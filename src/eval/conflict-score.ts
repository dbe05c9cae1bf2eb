// How well edit-conflict warnings predict lost edits, on a sequential run. An earlier edit counts as *lost* at a curve
// point when it succeeded right after it was made (ES: the new target beat the true answer on its prompt) and fails
// now; it counts as *warned* when a later edit's conflict warning named it (CaseLine.conflicts). Precision and recall
// are over the edits that succeeded right after they were made (an edit that never took cannot be lost). The same
// numbers for the naive predictor "a later edit has the same subject" are reported beside them.
import type { EditCase } from './cases.js';
import type { CaseScores } from './measure.js';
import { romeCaseMetrics } from './rome-protocol.js';
import type { CaseLine } from './summarize.js';

export interface PredictorScore {
  /** Edits the predictor names (among those that had taken). */
  flagged: number;
  /** Flagged edits that were lost. */
  hits: number;
  /** hits / flagged ×100 (undefined with nothing flagged). */
  precision?: number;
  /** hits / lost ×100 (undefined with nothing lost). */
  recall?: number;
}

export interface ConflictScore {
  /** Edits so far that succeeded right after they were made. */
  took: number;
  /** Of those, the ones that fail now. */
  lost: number;
  warnings: PredictorScore;
  sameSubject: PredictorScore;
}

const esOf = (s: CaseScores) => romeCaseMetrics(s).ES;

function score(flagged: Set<string>, took: Set<string>, lost: Set<string>): PredictorScore {
  const f = [...flagged].filter((id) => took.has(id));
  const hits = f.filter((id) => lost.has(id)).length;
  return {
    flagged: f.length, hits,
    precision: f.length ? (100 * hits) / f.length : undefined,
    recall: lost.size ? (100 * hits) / lost.size : undefined,
  };
}

/**
 * The score at a curve point: `lines` are the case lines so far (each measured right after its own edit), `now` the
 * same cases measured at this point.
 */
export function conflictScore(lines: readonly CaseLine[], cases: readonly EditCase[], now: readonly CaseScores[]): ConflictScore | undefined {
  if (!lines.some((l) => l.conflicts !== undefined)) return undefined;
  const byId = new Map(lines.map((l) => [String(l.caseId), l]));
  const took = new Set<string>();
  const lost = new Set<string>();
  cases.forEach((c, i) => {
    const id = String(c.caseId);
    const line = byId.get(id);
    if (!line || esOf(line.post) !== 1) return;
    took.add(id);
    if (esOf(now[i]) !== 1) lost.add(id);
  });
  const warned = new Set(lines.flatMap((l) => (l.conflicts ?? []).flatMap((c) => (c.caseId === undefined ? [] : [String(c.caseId)]))));
  // a later edit: one applied after this case's (cases of one batch are solved together)
  const at = (c: EditCase) => byId.get(String(c.caseId))?.editsApplied ?? 0;
  const sameSubject = new Set<string>();
  cases.forEach((c, i) => {
    if (cases.slice(i + 1).some((d) => d.request.subject === c.request.subject && at(d) > at(c))) sameSubject.add(String(c.caseId));
  });
  return { took: took.size, lost: lost.size, warnings: score(warned, took, lost), sameSubject: score(sameSubject, took, lost) };
}
