// Training curves of a trained editor (lmedit train): from its train-log.jsonl, one chart of the training losses by
// step and one of the validation metrics by step, each as SVG and PNG beside the log (curves-loss.*, curves-val.*).
import { join } from 'node:path';
import { writeFileAtomicSync } from '../io/atomic.js';
import type { LogLine } from '../train/log.js';
import { layoutChart, seriesColor, type LineChart, type LineSeries, type MarkerShape } from './plot.js';
import { sceneToSvg } from './svg.js';
import { renderPng } from './png.js';

const MARKERS: MarkerShape[] = ['circle', 'square', 'triangle', 'diamond'];
/** Logged numbers that are bookkeeping, not curves. */
const SKIP = new Set(['step', 'seconds', 'lr']);

function series(lines: LogLine[], keys: string[]): LineSeries[] {
  return keys.map((k, i) => ({
    label: k, color: seriesColor(i), marker: MARKERS[i % MARKERS.length],
    points: lines.flatMap((l) => (typeof l[k] === 'number' && Number.isFinite(l[k]) ? [{ x: l.step, y: l[k] as number }] : [])),
  })).filter((s) => s.points.length > 0);
}

function keysOf(lines: LogLine[], include: (k: string) => boolean): string[] {
  const keys = new Set<string>();
  for (const l of lines) for (const [k, v] of Object.entries(l)) if (typeof v === 'number' && !SKIP.has(k) && include(k)) keys.add(k);
  return [...keys];
}

/** The charts of a training log: losses (keys containing "loss" or "kl") and validation metrics. */
export function trainingCharts(log: LogLine[], title: string): { name: string; chart: LineChart }[] {
  const train = log.filter((l) => l.type === 'train');
  const val = log.filter((l) => l.type === 'val');
  const lossKeys = keysOf(train, (k) => /loss|kl|nll/i.test(k));
  const out: { name: string; chart: LineChart }[] = [];
  const lossSeries = series(train, lossKeys);
  if (lossSeries.length) out.push({ name: 'curves-loss', chart: { kind: 'line', title: `${title}: training losses`, xLabel: 'step', yLabel: 'loss', xScale: 'linear', yScale: 'auto', series: lossSeries } });
  const valSeries = series(val, keysOf(val, () => true));
  if (valSeries.length) out.push({ name: 'curves-val', chart: { kind: 'line', title: `${title}: validation`, xLabel: 'step', yLabel: 'validation metric', xScale: 'linear', yScale: 'auto', series: valSeries } });
  return out;
}

/** Writes the charts as SVG and PNG into `dir`; returns the files written. */
export function writeTrainingCharts(dir: string, log: LogLine[], title: string): string[] {
  const files: string[] = [];
  for (const { name, chart } of trainingCharts(log, title)) {
    const scene = layoutChart(chart);
    writeFileAtomicSync(join(dir, `${name}.svg`), sceneToSvg(scene));
    writeFileAtomicSync(join(dir, `${name}.png`), renderPng(scene, 2));
    files.push(join(dir, `${name}.svg`), join(dir, `${name}.png`));
  }
  return files;
}
