// The side-by-side table: one row per run (and, asked for, one per run before its edits), the run's identity, then
// one block of columns per protocol, then efficiency. A column belongs to exactly one protocol tag.
import { layoutFor, metricName, MetricFilter, orderKeys, orderTags } from './protocols.js';
import type { MetricValues, Run } from './runs.js';

export type ColumnKind = 'text' | 'count' | 'percent' | 'seconds' | 'bytes';

export interface Column {
  /** Unique: `run`, `model`, …, `<protocol tag>:<metric>`, `secondsPerEdit`, `peakRssBytes`. */
  key: string;
  header: string;
  kind: ColumnKind;
  protocol?: string;
  metric?: string;
}

export interface Row {
  run: string;
  dir: string;
  /** `after` the edits (the run's result) or `before` them (the unedited model on the same cases). */
  phase: 'after' | 'before';
  complete: boolean;
  values: Record<string, string | number | null>;
}

export interface ReportTable {
  columns: Column[];
  rows: Row[];
}

export interface TableOptions {
  /** Add a row with each run's pre-edit scores. */
  pre?: boolean;
  filter?: MetricFilter;
}

export function buildTable(runs: Run[], opts: TableOptions = {}): ReportTable {
  const filter = opts.filter ?? new MetricFilter();
  const phases: ('before' | 'after')[] = opts.pre ? ['before', 'after'] : ['after'];
  const shown = (run: Run, tag: string, phase: 'before' | 'after'): MetricValues | undefined =>
    phase === 'before' ? run.metrics[tag]?.pre : run.metrics[tag]?.post;

  const columns: Column[] = [
    { key: 'run', header: 'run', kind: 'text' },
    { key: 'model', header: 'model', kind: 'text' },
    { key: 'method', header: 'method', kind: 'text' },
    { key: 'setting', header: 'setting', kind: 'text' },
    { key: 'n', header: 'n', kind: 'count' },
  ];
  if (opts.pre) columns.push({ key: 'phase', header: 'when', kind: 'text' });
  for (const tag of orderTags(runs.flatMap((r) => Object.keys(r.metrics)))) {
    const present = runs.flatMap((r) => phases.flatMap((p) => Object.keys(shown(r, tag, p) ?? {})));
    for (const metric of orderKeys(tag, present).filter((k) => filter.includes(tag, k))) {
      columns.push({ key: `${tag}:${metric}`, header: `${layoutFor(tag).label} ${metricName(tag, metric)}`, kind: 'percent', protocol: tag, metric });
    }
  }
  if (runs.some((r) => r.secondsPerEdit !== undefined)) columns.push({ key: 'secondsPerEdit', header: 's/edit', kind: 'seconds' });
  if (runs.some((r) => r.peakRssBytes !== undefined)) columns.push({ key: 'peakRssBytes', header: 'peak RSS', kind: 'bytes' });

  const rows = runs.flatMap((run) => phases.map((phase): Row => {
    const identity: Row['values'] = {
      run: run.label, model: run.model ?? null, method: run.method, setting: settingText(run), n: run.n ?? null, phase,
      // Efficiency belongs to the editing, so a before row has none.
      secondsPerEdit: phase === 'after' ? run.secondsPerEdit ?? null : null,
      peakRssBytes: phase === 'after' ? run.peakRssBytes ?? null : null,
    };
    const values = Object.fromEntries(columns.map((c) => [c.key, c.protocol ? shown(run, c.protocol, phase)?.[c.metric!] ?? null : identity[c.key]]));
    return { run: run.label, dir: run.dir, phase, complete: run.complete, values };
  }));
  return { columns, rows };
}

export function settingText(run: Run): string {
  if (run.mode === 'single') return 'single';
  const batch = `batch ${run.batchSize ?? '?'}`;
  if (run.mode === 'batch') return batch;
  return `${run.mode}, ${batch}${run.measureWhen === 'end' ? ', measured at end' : ''}`;
}

/** The table in Markdown, partial runs marked, with a line naming the protocol of each column prefix. */
export function tableMarkdown(table: ReportTable, runs: Run[]): string {
  const cell = (row: Row, c: Column): string => {
    const text = formatValue(row.values[c.key] ?? null, c.kind);
    if (c.key === 'run' && !row.complete) {
      const run = runs.find((r) => r.label === row.run);
      return `${text} ⚠ partial${run?.casesDone !== undefined && run.casesTotal !== undefined ? ` ${run.casesDone}/${run.casesTotal}` : ''}`;
    }
    if (c.key === 'secondsPerEdit' && row.values[c.key] !== null && cachedRun(row)) return `${text} †`;
    return text;
  };
  const cachedRun = (row: Row) => (runs.find((r) => r.label === row.run)?.valuesFromCache ?? 0) > 0;
  const align = (c: Column) => (c.kind === 'text' ? '---' : '---:');
  const line = (cells: string[]) => `| ${cells.map((s) => s.replace(/\|/g, '\\|')).join(' | ')} |`;
  const out = [
    line(table.columns.map((c) => c.header)),
    `|${table.columns.map(align).join('|')}|`,
    ...table.rows.map((r) => line(table.columns.map((c) => cell(r, c)))),
  ];
  const tags = [...new Set(table.columns.flatMap((c) => (c.protocol ? [c.protocol] : [])))];
  out.push('', `Protocols: ${tags.map((t) => `${layoutFor(t).label} = \`${t}\``).join('; ') || 'none'}. Metrics are percentages.`);
  // Footnotes name only the runs this table shows.
  const shownRuns = runs.filter((r) => table.rows.some((row) => row.run === r.label));
  const eachSequential = shownRuns.filter((r) => r.mode === 'sequential' && r.measureWhen !== 'end');
  if (eachSequential.length > 0) {
    out.push(`Sequential rows (${eachSequential.map((r) => r.label).join(', ')}) measure each case right after its own edit, with the earlier edits in place; the sequential curves measure all edits so far at each curve point.`);
  }
  if (table.rows.some((r) => !r.complete)) out.push('⚠ partial: the run stopped before all its cases; its figures are over the cases done.');
  const cached = shownRuns.filter((r) => (r.valuesFromCache ?? 0) > 0);
  if (cached.length > 0) {
    out.push(`† ${cached.map((r) => `${r.label}: ${r.valuesFromCache} of ${r.n ?? '?'}`).join('; ')} edits took their optimised value (v*, z) from the value cache, so their seconds exclude the optimisation.`);
  }
  return out.join('\n');
}

export function formatValue(v: string | number | null, kind: ColumnKind): string {
  if (v === null) return '—';
  if (typeof v === 'string') return v;
  switch (kind) {
    case 'percent': return v.toFixed(1);
    case 'seconds': return v < 10 ? v.toFixed(2) : v.toFixed(1);
    case 'bytes': return v >= 2 ** 30 ? `${(v / 2 ** 30).toFixed(2)} GiB` : `${(v / 2 ** 20).toFixed(0)} MiB`;
    default: return String(v);
  }
}
