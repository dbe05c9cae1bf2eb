// The lifelong-editing table (`lmedit lifelong`): for sequential runs of several methods over the same cases, one row
// per method and curve point (edits so far) with every edit made so far (ES / PS, EasyEdit reliability /
// generalization), locality (NS, EasyEdit locality), the other-attribute locality of the edited subjects, and how
// well the conflict warnings predicted the edits lost by then; then each method's efficiency after its last point.
import type { RunSummary } from '../eval/summarize.js';
import type { Run } from './runs.js';

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

export interface LifelongTables { rows: LifelongRow[]; efficiency: LifelongEfficiency[] }

/**
 * The two tables in Markdown. `merged`: methods whose rows came from an earlier run's lifelong.json (named with the
 * file) rather than from a run directory here; the table says so under its rows.
 */
export function lifelongMarkdown(tables: LifelongTables, merged?: { methods: string[]; file: string }): string {
  const { rows, efficiency } = tables;
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
    ...(merged && merged.methods.length > 0 ? [`Rows of ${merged.methods.join(', ')}: from \`${merged.file}\` (an earlier run's table), not from a run directory here.`, ''] : []),
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

/** An earlier lifelong.json, checked: errors name `file` and the record at fault. */
export function parseLifelongTables(json: unknown, file: string): LifelongTables {
  const p = json as Partial<LifelongTables> | null;
  if (!p || typeof p !== 'object' || !Array.isArray(p.rows) || !Array.isArray(p.efficiency)) {
    throw new Error(`${file}: not a lifelong.json (expected the fields 'rows' and 'efficiency', both arrays)`);
  }
  p.rows.forEach((r, i) => {
    if (!r || typeof r.method !== 'string' || !Number.isInteger(r.edits)) throw new Error(`${file}: rows[${i}] needs a string 'method' and an integer 'edits'`);
  });
  p.efficiency.forEach((e, i) => {
    if (!e || typeof e.method !== 'string' || typeof e.secondsPerEdit !== 'number') throw new Error(`${file}: efficiency[${i}] needs a string 'method' and a number 'secondsPerEdit'`);
  });
  return { rows: p.rows, efficiency: p.efficiency };
}

/**
 * Adds to `current` the rows and efficiency of every method of an earlier table (`prior`) that `current` lacks; a
 * method present in both keeps only its current rows. `methods`: the ones taken from `prior`.
 */
export function mergeLifelong(current: LifelongTables, prior: LifelongTables): { tables: LifelongTables; methods: string[] } {
  const have = new Set(current.rows.map((r) => r.method));
  const methods = [...new Set(prior.rows.map((r) => r.method))].filter((m) => !have.has(m));
  const take = new Set(methods);
  return {
    tables: {
      rows: [...prior.rows.filter((r) => take.has(r.method)), ...current.rows],
      efficiency: [...prior.efficiency.filter((e) => take.has(e.method)), ...current.efficiency],
    },
    methods,
  };
}

/**
 * Table rows as report runs, so that the sequential plots can draw methods known only from a lifelong.json: the
 * curve metrics a row holds, under the protocol tags the runs use (ROME's ES/PS/NS, EasyEdit's reliability,
 * generalization and the two localities).
 */
export function rowsAsRuns(rows: LifelongRow[], file: string, model: string): Run[] {
  const methods = [...new Set(rows.map((r) => r.method))];
  const defined = (o: Record<string, number | undefined>) => Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
  return methods.map((method) => ({
    dir: file, file, name: method, label: method, complete: true, model, method, mode: 'sequential', metrics: {},
    curve: rows.filter((r) => r.method === method).sort((a, b) => a.edits - b.edits).map((r) => ({
      edits: r.edits,
      metrics: {
        'rome-counterfact-prob': defined({ ES: r.ES, PS: r.PS, NS: r.NS, 'locality.other_attribute': r.otherAttributeNS }),
        'easyedit-token': defined({ reliability: r.reliability, generalization: r.generalization, 'locality.neighborhood': r.locality, 'locality.other_attribute': r.otherAttribute }),
      },
    })),
  }));
}
