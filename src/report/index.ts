// The report comparing evaluation runs side by side (`lmedit report`): a table (Markdown and JSON) and the seed
// papers' plots, each as SVG and PNG. Every file is written atomically (temp file, then rename).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../io/atomic.js';
import { prepareOutDir } from '../io/out-dir.js';
import { reportCharts, type NamedChart } from './charts.js';
import { layoutChart } from './plot.js';
import { renderPng } from './png.js';
import { MetricFilter } from './protocols.js';
import type { Run } from './runs.js';
import { sceneToSvg } from './svg.js';
import { buildTable, tableMarkdown, type ReportTable } from './table.js';
import { curveMarkdown } from './curve-table.js';

export { readRun, readRuns, expandRunDirs, normalizeSummary, SUMMARY_FILE, type Run, type CurvePoint, type MetricValues } from './runs.js';
export { buildTable, tableMarkdown, settingText, formatValue, type ReportTable, type Column, type Row, type TableOptions } from './table.js';
export { reportCharts, batchSizeCharts, sequentialCharts, barCharts, type NamedChart } from './charts.js';
export { layoutChart, textWidth, valueAxis, logAxis, linearAxis, PALETTE, seriesColor, type Chart, type LineChart, type BarChart, type LineSeries, type Scene, type Shape, type MarkerShape } from './plot.js';
export { sceneToSvg } from './svg.js';
export { rasterize, encodePng, renderPng, crc32, type Raster } from './png.js';
export { MetricFilter, layoutFor, type ProtocolLayout } from './protocols.js';

export interface ReportOptions {
  /**
   * Output directory: created if missing (with the marker `.lmedit-report`); an existing one must be empty or
   * marked as a report directory (or be a report directory of an lmedit from before the marker), so that a
   * user's own report.md is never overwritten.
   */
  out: string;
  /** Add each run's pre-edit row to the table. */
  pre?: boolean;
  /** --metrics items (see MetricFilter). */
  metrics?: string[];
  /** false: the table only. */
  plots?: boolean;
  /** PNG pixels per logical pixel (default 2: 1600×1000). */
  scale?: number;
}

export interface ReportResult {
  table: ReportTable;
  /** The table in Markdown (what the command prints). */
  tableMarkdown: string;
  charts: NamedChart[];
  /** Paths written: report.md, report.json, then the plots. */
  files: string[];
  notes: string[];
}

export function writeReport(runs: Run[], opts: ReportOptions): ReportResult {
  const filter = new MetricFilter(opts.metrics);
  const table = buildTable(runs, { pre: opts.pre, filter });
  const tableMd = tableMarkdown(table, runs);
  const curveMd = curveMarkdown(runs);
  const { charts, notes } = opts.plots === false ? { charts: [], notes: [] } : reportCharts(runs, filter);
  if (!filter.empty && !table.columns.some((c) => c.protocol)) notes.push(`no metric of these runs matches --metrics ${opts.metrics!.join(',')}`);
  prepareOutDir(opts.out, 'report', { legacy: isUnmarkedReportDir, writes: ['report.md', 'report.json', ...charts.flatMap((c) => [`${c.name}.svg`, `${c.name}.png`])] });
  const plots: string[] = [];
  for (const { name, chart } of charts) {
    const scene = layoutChart(chart);
    writeFileAtomicSync(join(opts.out, `${name}.svg`), sceneToSvg(scene));
    writeFileAtomicSync(join(opts.out, `${name}.png`), renderPng(scene, opts.scale ?? 2));
    plots.push(`${name}.svg`, `${name}.png`);
  }
  const markdown = [
    '# lmedit report', '',
    ...runs.map((r) => `- ${r.label}: \`${r.dir}\``), '',
    tableMd, '',
    ...(curveMd ? [curveMd] : []),
    ...(charts.length > 0 ? ['## Plots', '', ...charts.map((c) => `![${c.chart.title}](${c.name}.svg)`), ''] : []),
  ].join('\n');
  const json = {
    runs: runs.map((r) => ({ label: r.label, name: r.name, dir: r.dir, model: r.model ?? null, method: r.method, mode: r.mode, batchSize: r.batchSize ?? null, complete: r.complete })),
    columns: table.columns,
    rows: table.rows,
    plots,
    notes,
  };
  const files = [join(opts.out, 'report.md'), join(opts.out, 'report.json')];
  writeFileAtomicSync(files[0], markdown);
  writeFileAtomicSync(files[1], JSON.stringify(json, null, 2) + '\n');
  return { table, tableMarkdown: tableMd, charts, files: [...files, ...plots.map((p) => join(opts.out, p))], notes };
}

/**
 * A report directory written before the marker existed: only report.md, report.json and plots, a report.json of
 * the shape writeReport writes and a report.md that starts as ours (so a user's own report.md is not taken for one).
 */
function isUnmarkedReportDir(dir: string, entries: string[]): boolean {
  if (!entries.includes('report.json') || !entries.every((e) => e === 'report.md' || e === 'report.json' || /\.(svg|png)$/.test(e))) return false;
  try {
    const json = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Record<string, unknown>;
    const mdIsOurs = !entries.includes('report.md') || readFileSync(join(dir, 'report.md'), 'utf8').startsWith('# lmedit report\n');
    return mdIsOurs && ['runs', 'columns', 'rows', 'plots'].every((k) => Array.isArray(json[k]));
  } catch {
    return false;
  }
}
