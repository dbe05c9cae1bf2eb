// An evaluation protocol turns the raw probe scores of a case (measure.ts), before and after its edit, into named
// per-case metrics; the summary is the mean over cases ×100 of each metric plus the protocol's derived figures.
// Every result carries the protocol's tag, so numbers of different protocols are never mixed.
// The registry of protocols is protocols.ts (the protocols import these types, the registry imports the protocols).
import type { CaseScores } from './measure.js';

/** Per-case metric values (fractions, or probability differences for magnitudes); undefined = not measurable. */
export type CaseMetrics = Record<string, number | undefined>;

export interface Protocol {
  tag: string;
  description: string;
  caseMetrics(pre: CaseScores, post: CaseScores): CaseMetrics;
  /** Figures computed from the summary's means (S, harmonic means, means over keys). */
  derived(summary: Record<string, number | undefined>): Record<string, number | undefined>;
}

export type Summary = Record<string, number> & { n: number };

/** Means ×100 over the cases of each metric defined for at least one case, plus the derived figures. */
export function summarizeMetrics(protocol: Protocol, perCase: CaseMetrics[]): Summary {
  const keys = [...new Set(perCase.flatMap((m) => Object.keys(m)))];
  const s: Record<string, number | undefined> = {};
  for (const k of keys) {
    const v = perCase.map((m) => m[k]).filter((x): x is number => x !== undefined && !Number.isNaN(x));
    if (v.length) s[k] = (100 * v.reduce((a, b) => a + b, 0)) / v.length;
  }
  Object.assign(s, protocol.derived(s));
  const out: Summary = { n: perCase.length } as Summary;
  for (const [k, v] of Object.entries(s)) if (v !== undefined) out[k] = v;
  return out;
}
