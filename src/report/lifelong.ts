// The lifelong-editing table (`lmedit lifelong`): for sequential runs of several methods over the same cases, one row
// per method and curve point (edits so far) with every edit made so far (ES / PS, EasyEdit reliability /
// generalization), locality (NS, EasyEdit locality), the other-attribute locality of the edited subjects, and how
// well the conflict warnings predicted the edits lost by then; then each method's efficiency after its last point.
import type { RunSummary } from '../eval/summarize.js';

const f = (x: number | undefined, digits = 1) => (x === undefined || Number.isNaN(x) ? '—' : x.toFixed(digits));
const pair = (a: number | undefined, b: number | undefined) => `${f(a)} / ${f(b)}`;

export interface LifelongRow {
  method: string;
  edits: number;
  ES?: number; PS?: number; reliability?: number; generalization?: number; NS?: number; locality?: number;
  otherAttribute?: number; otherAttributeNS?: number;
  conflicts?: { took: number; lost: number; precision?: number; recall?: number; sameSubjectPrecision?: number; sameSubjectRecall?: number };
}

export interface LifelongEfficiency {
  method: string; edits: number; secondsPerEdit: number; peakTensorMiB: number; peakRssGiB: number; addedParameters?: number; complete: boolean;
}

/** Rows and efficiency from the runs' summaries (one per method). */
export function lifelongRows(summaries: RunSummary[]): { rows: LifelongRow[]; efficiency: LifelongEfficiency[] } {
  const rows: LifelongRow[] = [];
  for (const s of summaries) {
    for (const p of s.curve ?? []) {
      const rome = p.metrics['rome-counterfact-prob'] as Record<string, number | undefined> | undefined;
      const ee = p.metrics['easyedit-token'] as Record<string, number | undefined> | undefined;
      const c = p.conflicts;
      rows.push({
        method: s.method, edits: p.edits,
        ES: rome?.ES, PS: rome?.PS, NS: rome?.NS, reliability: ee?.reliability, generalization: ee?.generalization,
        locality: ee?.['locality.neighborhood'] ?? ee?.locality, otherAttribute: ee?.['locality.other_attribute'],
        otherAttributeNS: rome?.['locality.other_attribute'],
        conflicts: c ? {
          took: c.took, lost: c.lost, precision: c.warnings.precision, recall: c.warnings.recall,
          sameSubjectPrecision: c.sameSubject.precision, sameSubjectRecall: c.sameSubject.recall,
        } : undefined,
      });
    }
  }
  const efficiency = summaries.map((s) => ({
    method: s.method, edits: s.run.casesDone, secondsPerEdit: s.efficiency.secondsPerEdit,
    peakTensorMiB: s.efficiency.peakTensorBytes / 2 ** 20, peakRssGiB: s.efficiency.peakRssBytes / 2 ** 30,
    addedParameters: s.efficiency.addedParameters, complete: s.run.complete,
  }));
  return { rows, efficiency };
}

/** The two tables in Markdown. */
export function lifelongMarkdown(summaries: RunSummary[]): string {
  const { rows, efficiency } = lifelongRows(summaries);
  const line = (cs: string[]) => `| ${cs.join(' | ')} |`;
  const out = [
    '## Lifelong editing: every edit so far, measured after 10, 50, 100, … sequential edits', '',
    line(['method', 'edits', 'ES / PS', 'Rel. / Gen.', 'NS', 'Loc.', 'other-attr. Loc.', 'lost / took', 'warning P / R', 'same-subject P / R']),
    '|---|---:|---|---|---:|---:|---:|---:|---|---|',
    ...rows.map((r) => line([
      r.method, String(r.edits), pair(r.ES, r.PS), pair(r.reliability, r.generalization), f(r.NS), f(r.locality), f(r.otherAttribute),
      r.conflicts ? `${r.conflicts.lost} / ${r.conflicts.took}` : '—',
      r.conflicts ? pair(r.conflicts.precision, r.conflicts.recall) : '—',
      r.conflicts ? pair(r.conflicts.sameSubjectPrecision, r.conflicts.sameSubjectRecall) : '—',
    ])),
    '',
    'ES / PS / NS: ROME protocol (new target vs true answer); Rel. / Gen. / Loc.: EasyEdit token accuracy; other-attr. Loc.: ' +
      'EasyEdit locality of the edited subjects\' other attributes; lost / took: earlier edits that worked right after they were made ' +
      'and fail now; warning P / R: precision and recall of the edit-conflict warnings for those losses; same-subject: the naive ' +
      'predictor "a later edit has the same subject".', '',
    '### Efficiency after the last point', '',
    line(['method', 'edits', 's/edit', 'peak tensor MiB', 'peak RSS GiB', 'parameters added']),
    '|---|---:|---:|---:|---:|---:|',
    ...efficiency.map((e) => line([
      e.method, `${e.edits}${e.complete ? '' : ' (partial)'}`, f(e.secondsPerEdit, 2), f(e.peakTensorMiB, 0), f(e.peakRssGiB, 2),
      e.addedParameters === undefined ? '—' : e.addedParameters.toLocaleString('en-US'),
    ])),
    '',
  ];
  return out.join('\n');
}
