// The chart model (line and grouped-bar charts) and its layout into a Scene: a flat list of drawing primitives in
// logical pixels (800×500 by default). The SVG writer (svg.ts) and the PNG rasteriser (png.ts) both draw the same
// Scene, so the two files of a plot show the same picture.

export type MarkerShape = 'circle' | 'square' | 'triangle' | 'diamond';

export interface LineSeries {
  label: string;
  color: string;
  /** Dash pattern in logical pixels (on, off, …); none = solid. */
  dash?: number[];
  marker: MarkerShape;
  /** In increasing x. */
  points: { x: number; y: number }[];
}

export interface LineChart {
  kind: 'line';
  title: string;
  xLabel: string;
  yLabel: string;
  xScale: 'linear' | 'log';
  /** 'percent' (default): 0–100 when every value fits; 'auto': a nice range around the data (losses, fractions). */
  yScale?: 'percent' | 'auto';
  series: LineSeries[];
}

export interface BarChart {
  kind: 'bar';
  title: string;
  yLabel: string;
  /** The x-axis groups (metrics); each bar series has one value per group. */
  groups: string[];
  bars: { label: string; color: string; values: (number | undefined)[] }[];
}

export type Chart = LineChart | BarChart;

export type Shape =
  | { type: 'rect'; x: number; y: number; w: number; h: number; fill: string; stroke?: string; role?: 'bar' }
  | { type: 'line'; x1: number; y1: number; x2: number; y2: number; color: string; width: number; dash?: number[] }
  | { type: 'polyline'; points: [number, number][]; color: string; width: number; dash?: number[]; series: string }
  | { type: 'marker'; x: number; y: number; size: number; shape: MarkerShape; color: string }
  | { type: 'text'; x: number; y: number; text: string; size: number; color: string; anchor: 'start' | 'middle' | 'end'; bold?: boolean; rotate?: boolean };

/** Drawing primitives; text is positioned by its vertical centre; `rotate` turns it to read bottom to top. */
export interface Scene {
  width: number;
  height: number;
  background: string;
  title: string;
  shapes: Shape[];
}

/** Print-safe palette (Okabe & Ito, without the yellow that vanishes on paper), then black and grey. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#999999'];
/** The i-th series colour: the palette, then its tints (mixed with white) once it is used up. */
export function seriesColor(i: number): string {
  const base = PALETTE[i % PALETTE.length];
  const round = Math.floor(i / PALETTE.length) % 3;
  if (round === 0) return base;
  const mix = round * 0.3;
  const channels = [1, 3, 5].map((k) => Math.round(parseInt(base.slice(k, k + 2), 16) * (1 - mix) + 255 * mix));
  return `#${channels.map((c) => c.toString(16).padStart(2, '0').toUpperCase()).join('')}`;
}
export const DASHES: (number[] | undefined)[] = [undefined, [8, 4], [2, 3], [8, 3, 2, 3]];
export const MARKERS: MarkerShape[] = ['circle', 'square', 'triangle', 'diamond'];

const INK = '#222222';
const GRID = '#DDDDDD';
const FONT = { title: 15, label: 12, tick: 11, legend: 11, value: 9 };

/**
 * Width of text in logical pixels. The SVG uses a monospace font and the PNG a bitmap font whose advance is
 * 0.6 of the size at the sizes used here, so one measure serves both.
 */
export function textWidth(text: string, size: number): number {
  return text.length * 0.6 * size;
}

/** Corners of the polygon markers (the SVG writer and the rasteriser draw the same shape). */
export function markerPolygon(shape: 'triangle' | 'diamond', x: number, y: number, r: number): [number, number][] {
  const s = r * 1.25;
  return shape === 'triangle'
    ? [[x, y - s], [x + s, y + s * 0.8], [x - s, y + s * 0.8]]
    : [[x, y - s], [x + s, y], [x, y + s], [x - s, y]];
}

interface Box { left: number; top: number; right: number; bottom: number }

export function layoutChart(chart: Chart, size: { width: number; height: number } = { width: 800, height: 500 }): Scene {
  const legend = chart.kind === 'line'
    ? chart.series.map((s) => ({ label: s.label, color: s.color, dash: s.dash, marker: s.marker as MarkerShape | undefined }))
    : chart.bars.map((b) => ({ label: b.label, color: b.color, dash: undefined, marker: undefined }));
  const legendText = legend.map((e) => truncate(e.label, 30));
  const legendWidth = 44 + Math.max(0, ...legendText.map((t) => textWidth(t, FONT.legend)));
  const height = Math.max(size.height, 60 + legend.length * 18 + 20);
  const box: Box = { left: 64, top: 44, right: size.width - legendWidth - 16, bottom: height - 58 };
  const shapes: Shape[] = [];
  const text = (x: number, y: number, t: string, sz: number, anchor: 'start' | 'middle' | 'end', extra: { bold?: boolean; rotate?: boolean } = {}) =>
    shapes.push({ type: 'text', x, y, text: t, size: sz, color: INK, anchor, ...extra });

  const values = chart.kind === 'line' ? chart.series.flatMap((s) => s.points.map((p) => p.y)) : chart.bars.flatMap((b) => b.values.filter((v): v is number => v !== undefined));
  const y = chart.kind === 'line' && chart.yScale === 'auto' ? niceAxis(Math.min(0, ...values), Math.max(...values)) : valueAxis(values);
  const yPos = (v: number) => box.bottom - ((v - y.min) / (y.max - y.min)) * (box.bottom - box.top);
  for (const t of y.ticks) {
    shapes.push({ type: 'line', x1: box.left, y1: yPos(t), x2: box.right, y2: yPos(t), color: GRID, width: 1 });
    text(box.left - 6, yPos(t), formatTick(t), FONT.tick, 'end');
  }
  if (chart.kind === 'line') drawLines(chart, box, yPos, shapes, text);
  else drawBars(chart, box, yPos, shapes, text);
  shapes.push({ type: 'line', x1: box.left, y1: box.top, x2: box.left, y2: box.bottom, color: INK, width: 1 });
  shapes.push({ type: 'line', x1: box.left, y1: box.bottom, x2: box.right, y2: box.bottom, color: INK, width: 1 });

  text(size.width / 2, 20, chart.title, FONT.title, 'middle', { bold: true });
  if (chart.kind === 'line') text((box.left + box.right) / 2, height - 16, chart.xLabel, FONT.label, 'middle');
  text(16, (box.top + box.bottom) / 2, chart.yLabel, FONT.label, 'middle', { rotate: true });

  legend.forEach((e, i) => {
    const lx = box.right + 16;
    const ly = box.top + 8 + i * 18;
    if (e.marker) {
      shapes.push({ type: 'line', x1: lx, y1: ly, x2: lx + 28, y2: ly, color: e.color, width: 2, dash: e.dash });
      shapes.push({ type: 'marker', x: lx + 14, y: ly, size: 4, shape: e.marker, color: e.color });
    } else {
      shapes.push({ type: 'rect', x: lx + 6, y: ly - 6, w: 16, h: 12, fill: e.color, stroke: INK });
    }
    text(lx + 36, ly, legendText[i], FONT.legend, 'start');
  });
  return { width: size.width, height, background: '#FFFFFF', title: chart.title, shapes };
}

function drawLines(chart: LineChart, box: Box, yPos: (v: number) => number, shapes: Shape[], text: (x: number, y: number, t: string, sz: number, anchor: 'middle') => void): void {
  const xs = chart.series.flatMap((s) => s.points.map((p) => p.x));
  const x = chart.xScale === 'log' ? logAxis(xs) : linearAxis(xs);
  const to = chart.xScale === 'log' ? Math.log10 : (v: number) => v;
  const xPos = (v: number) => box.left + ((to(v) - to(x.min)) / (to(x.max) - to(x.min))) * (box.right - box.left);
  for (const t of x.ticks) {
    shapes.push({ type: 'line', x1: xPos(t), y1: box.top, x2: xPos(t), y2: box.bottom, color: GRID, width: 1 });
    shapes.push({ type: 'line', x1: xPos(t), y1: box.bottom, x2: xPos(t), y2: box.bottom + 4, color: INK, width: 1 });
    text(xPos(t), box.bottom + 14, formatTick(t), FONT.tick, 'middle');
  }
  for (const s of chart.series) {
    const points = s.points.map((p): [number, number] => [xPos(p.x), yPos(p.y)]);
    shapes.push({ type: 'polyline', points, color: s.color, width: 2, dash: s.dash, series: s.label });
    for (const [px, py] of points) shapes.push({ type: 'marker', x: px, y: py, size: 4, shape: s.marker, color: s.color });
  }
}

function drawBars(chart: BarChart, box: Box, yPos: (v: number) => number, shapes: Shape[], text: (x: number, y: number, t: string, sz: number, anchor: 'middle') => void): void {
  const groupWidth = (box.right - box.left) / Math.max(1, chart.groups.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, chart.bars.length);
  const zero = yPos(0);
  // Value labels on every bar, or on none when one does not fit.
  const labelled = chart.bars.every((b) => b.values.every((v) => v === undefined || textWidth(v.toFixed(0), FONT.value) < barWidth));
  chart.groups.forEach((g, gi) => {
    const g0 = box.left + gi * groupWidth + groupWidth * 0.1;
    chart.bars.forEach((b, bi) => {
      const v = b.values[gi];
      if (v === undefined) return;
      const top = Math.min(yPos(v), zero);
      shapes.push({ type: 'rect', x: g0 + bi * barWidth, y: top, w: barWidth, h: Math.abs(zero - yPos(v)), fill: b.color, stroke: INK, role: 'bar' });
      if (labelled) text(g0 + (bi + 0.5) * barWidth, top - 7, v.toFixed(0), FONT.value, 'middle');
    });
    text(box.left + (gi + 0.5) * groupWidth, box.bottom + 14, truncate(g, Math.floor(groupWidth / (0.6 * FONT.tick))), FONT.tick, 'middle');
  });
}

interface Axis { min: number; max: number; ticks: number[] }

/** Percentages get 0–100 in steps of 20; values outside that range a nice range that includes 0. */
export function valueAxis(values: number[]): Axis {
  if (values.every((v) => v >= 0 && v <= 100)) return { min: 0, max: 100, ticks: [0, 20, 40, 60, 80, 100] };
  return niceAxis(Math.min(0, ...values), Math.max(0, ...values));
}

/** Whole decades around the data (1, 10, 100, 1000), with 2 and 5 between them when the data spans little. */
export function logAxis(values: number[]): Axis {
  const positive = values.filter((v) => v > 0);
  const lo = Math.floor(Math.log10(Math.min(...positive)));
  let hi = Math.ceil(Math.log10(Math.max(...positive)));
  if (hi === lo) hi += 1;
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) {
    for (const m of hi - lo <= 2 ? [1, 2, 5] : [1]) if (e < hi || m === 1) ticks.push(m * 10 ** e);
  }
  return { min: 10 ** lo, max: 10 ** hi, ticks };
}

export function linearAxis(values: number[]): Axis {
  return niceAxis(0, Math.max(1, ...values));
}

function niceAxis(lo: number, hi: number): Axis {
  const raw = (hi - lo) / 5 || 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const min = Math.floor(lo / step) * step;
  const max = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let t = min; t <= max + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return { min, max, ticks };
}

function formatTick(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(3)));
}

function truncate(s: string, chars: number): string {
  return s.length <= chars ? s : `${s.slice(0, Math.max(1, chars - 3))}...`;
}
