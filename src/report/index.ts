// The report comparing evaluation runs side by side (`lmedit report`): a table (Markdown and JSON) and the seed
// papers' plots, each as SVG and PNG. Every file is written atomically (temp file, then rename).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../io/atomic.js';
import { reportCharts, type NamedChart } from './charts.js';
import { layoutChart } from './plot.js';
import { renderPng } from './png.js';
import { MetricFilter } from './protocols.js';
import type { Run } from './runs.js';
import { sceneToSvg } from './svg.js';
import { buildTable, tableMarkdown, type ReportTable } from './table.js';

export { readRun, readRuns, expandRunDirs, normalizeSummary, SUMMARY_FILE, type Run, type CurvePoint, type MetricValues } from './runs.js';
export { buildTable, tableMarkdown, settingText, formatValue, type ReportTable, type Column, type Row, type TableOptions } from './table.js';
export { reportCharts, batchSizeCharts, sequentialCharts, barCharts, type NamedChart } from './charts.js';
export { layoutChart, textWidth, valueAxis, logAxis, linearAxis, PALETTE, seriesColor, type Chart, type LineChart, type BarChart, type LineSeries, type Scene, type Shape, type MarkerShape } from './plot.js';
export { sceneToSvg } from './svg.js';
export { rasterize, encodePng, renderPng, crc32, type Raster } from './png.js';
export { MetricFilter, layoutFor, type ProtocolLayout } from './protocols.js';

export interface ReportOptions {
  /** Output directory (created if missing). */
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
  const { charts, notes } = opts.plots === false ? { charts: [], notes: [] } : reportCharts(runs, filter);
  if (!filter.empty && !table.columns.some((c) => c.protocol)) notes.push(`no metric of these runs matches --metrics ${opts.metrics!.join(',')}`);
  mkdirSync(opts.out, { recursive: true });
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
