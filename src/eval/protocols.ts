// The protocol registry: every protocol a run reports, by tag (protocol.ts holds the types they implement).
import type { CaseScores } from './measure.js';
import { summarizeMetrics, type CaseMetrics, type Protocol, type Summary } from './protocol.js';
import { firstTokenProtocol, romeProtocol } from './rome-protocol.js';
import { easyEditProtocol, romeZsreProtocol } from './easyedit-protocol.js';

export const PROTOCOLS: Protocol[] = [romeProtocol, easyEditProtocol, romeZsreProtocol, firstTokenProtocol];

export function protocolFor(tag: string): Protocol {
  const p = PROTOCOLS.find((x) => x.tag === tag);
  if (!p) throw new Error(`unknown protocol '${tag}' (known: ${PROTOCOLS.map((x) => x.tag).join(', ')})`);
  return p;
}

/** Per-case metrics of every protocol. */
export function allCaseMetrics(pre: CaseScores, post: CaseScores): Record<string, CaseMetrics> {
  return Object.fromEntries(PROTOCOLS.map((p) => [p.tag, p.caseMetrics(pre, post)]));
}

/** Summaries of every protocol, before (pre vs pre) and after the edits. */
export function summarizeAll(rows: { pre: CaseScores; post: CaseScores }[]): Record<string, { pre: Summary; post: Summary }> {
  return Object.fromEntries(PROTOCOLS.map((p) => [p.tag, {
    pre: summarizeMetrics(p, rows.map((r) => p.caseMetrics(r.pre, r.pre))),
    post: summarizeMetrics(p, rows.map((r) => p.caseMetrics(r.pre, r.post))),
  }]));
}
