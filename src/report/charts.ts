// The seed papers' figures from a set of runs, one chart per protocol (never two protocols in one plot):
//   batch-size   metric vs edits per update (log x), runs in batch mode (single mode counts as batch size 1),
//                one file per (protocol, model), one line per (method, metric);
//   sequential   metric vs number of accumulated edits, from the `curve` of sequential runs, one line per
//                (method, metric), one file per (protocol, model);
//   bars         grouped bars per protocol: groups = its metrics, bars = runs.
// A chart is made only when the runs give data for it: a line plot when some line has two points (two batch sizes
// of one method, a curve of two measurements), a bar plot when a run has a value.
import { layoutFor, metricName, MetricFilter, orderKeys, orderTags } from './protocols.js';
import { DASHES, MARKERS, seriesColor, type BarChart, type Chart, type LineSeries } from './plot.js';
import type { CurvePoint, Run } from './runs.js';

export interface NamedChart {
  /** File name without extension: `batch-size_<tag>_<model>`, `sequential_<tag>_<model>`, `bars_<tag>`. */
  name: string;
  chart: Chart;
}

export function reportCharts(runs: Run[], filter = new MetricFilter()): { charts: NamedChart[]; notes: string[] } {
  const notes: string[] = [];
  const charts = [...batchSizeCharts(runs, filter, notes), ...sequentialCharts(runs, filter), ...barCharts(runs, filter)];
  return { charts, notes };
}

/** Lines of metric vs batch size, per model and protocol. */
export function batchSizeCharts(runs: Run[], filter: MetricFilter, notes: string[] = []): NamedChart[] {
  const batched = runs.filter((r) => r.mode === 'batch' || r.mode === 'single').map((r) => ({ run: r, size: r.mode === 'single' ? 1 : r.batchSize }));
  const out: NamedChart[] = [];
  for (const [model, group] of groupBy(batched.filter((b) => b.size !== undefined && b.size > 0), (b) => b.run.model ?? 'unknown model')) {
    // One run per (method, batch size): the first given wins.
    const byMethod = new Map<string, Map<number, Run>>();
    for (const { run, size } of group) {
      const sizes = byMethod.get(run.method) ?? byMethod.set(run.method, new Map()).get(run.method)!;
      if (sizes.has(size!)) notes.push(`batch-size plot: ${run.label} has the method, model and batch size of ${sizes.get(size!)!.label}, which is plotted instead`);
      else sizes.set(size!, run);
    }
    for (const tag of orderTags(group.flatMap((b) => Object.keys(b.run.metrics)))) {
      const lines = [...byMethod].map(([method, sizes]) => ({
        method,
        points: [...sizes].sort((a, b) => a[0] - b[0]).map(([x, run]) => ({ x, values: run.metrics[tag]?.post ?? {} })),
      }));
      const series = lineSeries(tag, lines, filter);
      if (!series.some((s) => s.points.length >= 2)) continue;
      out.push({
        name: fileName('batch-size', tag, model),
        chart: { kind: 'line', title: `${layoutFor(tag).label}: metrics vs batch size (${model})`, xLabel: 'batch size (edits per update)', yLabel: `${layoutFor(tag).label} metric (%)`, xScale: 'log', series },
      });
    }
  }
  return out;
}

/** Lines of metric vs accumulated edits from the curves of sequential runs, per model and protocol. */
export function sequentialCharts(runs: Run[], filter: MetricFilter): NamedChart[] {
  const out: NamedChart[] = [];
  const sequential = runs.filter((r) => r.mode === 'sequential' && r.curve.length > 0);
  for (const [model, group] of groupBy(sequential, (r) => r.model ?? 'unknown model')) {
    // Lines are named by method; by run when two runs of one method are compared.
    const methods = group.map((r) => r.method);
    const name = (r: Run) => `${methods.filter((m) => m === r.method).length > 1 ? r.label : r.method}${r.complete ? '' : ' (partial)'}`;
    // all edited cases; then (where the runs recorded it) only the cases whose subject was edited once so far
    const views = [
      { file: 'sequential', of: (p: CurvePoint) => p.metrics, note: '' },
      { file: 'sequential-one-edit-per-subject', of: (p: CurvePoint) => p.oneEditPerSubject, note: ', cases with one edit per subject' },
    ];
    for (const view of views) {
      for (const tag of orderTags(group.flatMap((r) => r.curve.flatMap((p) => Object.keys(view.of(p) ?? {}))))) {
        const lines = group.map((r) => ({ method: name(r), points: r.curve.flatMap((p) => (view.of(p) ? [{ x: p.edits, values: view.of(p)![tag] ?? {} }] : [])) }));
        const series = lineSeries(tag, lines, filter);
        if (!series.some((s) => s.points.length >= 2)) continue;
        out.push({
          name: fileName(view.file, tag, model),
          chart: { kind: 'line', title: `${layoutFor(tag).label}: metrics vs number of sequential edits (${model}${view.note})`, xLabel: 'number of edits', yLabel: `${layoutFor(tag).label} metric (%)`, xScale: 'linear', series },
        });
      }
    }
  }
  return out;
}

/** Grouped bars per protocol: one group per metric, one bar per run (after its edits). */
export function barCharts(runs: Run[], filter: MetricFilter): NamedChart[] {
  const out: NamedChart[] = [];
  for (const tag of orderTags(runs.flatMap((r) => Object.keys(r.metrics)))) {
    const withTag = runs.filter((r) => r.metrics[tag]?.post);
    const present = orderKeys(tag, withTag.flatMap((r) => Object.keys(r.metrics[tag].post!)));
    const groups = filter.forPlot(tag, layoutFor(tag).bars, present);
    if (groups.length === 0 || withTag.length === 0) continue;
    const chart: BarChart = {
      kind: 'bar', title: `${layoutFor(tag).label}: metrics per run`, yLabel: `${layoutFor(tag).label} metric (%)`,
      groups: groups.map((k) => metricName(tag, k)),
      bars: withTag.map((r, i) => ({ label: r.complete ? r.label : `${r.label} (partial)`, color: seriesColor(i), values: groups.map((k) => r.metrics[tag].post![k]) })),
    };
    out.push({ name: fileName('bars', tag), chart });
  }
  return out;
}

/**
 * One series per (method, metric). Colour tells methods apart (or metrics, when there is one method); marker and
 * dash tell metrics apart, so the plot still reads in black and white.
 */
function lineSeries(tag: string, lines: { method: string; points: { x: number; values: Record<string, number> }[] }[], filter: MetricFilter): LineSeries[] {
  const present = orderKeys(tag, lines.flatMap((l) => l.points.flatMap((p) => Object.keys(p.values))));
  const metrics = filter.forPlot(tag, layoutFor(tag).lines, present);
  const series: LineSeries[] = [];
  lines.forEach((line, li) => metrics.forEach((metric, mi) => {
    const points = line.points.filter((p) => p.values[metric] !== undefined).map((p) => ({ x: p.x, y: p.values[metric] }));
    if (points.length === 0) return;
    series.push({
      label: `${line.method} ${metricName(tag, metric)}`,
      color: seriesColor(lines.length === 1 ? mi : li),
      dash: DASHES[mi % DASHES.length],
      marker: MARKERS[mi % MARKERS.length],
      points,
    });
  }));
  return series;
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) m.set(key(it), [...(m.get(key(it)) ?? []), it]);
  return m;
}

function fileName(...parts: string[]): string {
  return parts.map((p) => p.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^[-.]+|-+$/g, '')).join('_');
}
