// A causal-trace heatmap as a Scene (drawn by svg.ts and png.ts), laid out like Figure 1 of the ROME paper: one
// row per token (top to bottom, subject tokens marked with *), one column per layer, colour from white (the
// corrupted P, nothing restored) to the kind's colour (the largest score), and a colour bar.
import type { Scene, Shape } from './plot.js';
import { textWidth } from './plot.js';
import { sceneToSvg } from './svg.js';
import { renderPng } from './png.js';

export interface HeatmapInput {
  /** values[row][column] (NaN cells are drawn grey). */
  values: number[][];
  rowLabels: string[];
  columnLabels: string[];
  /** Rows to mark with a trailing '*' (the subject's tokens). */
  markedRows?: number[];
  title: string;
  xLabel?: string;
  /** Colour-bar caption (e.g. 'p(Warsaw)'). */
  valueLabel?: string;
  /** Colour of the largest value (#rrggbb). */
  color?: string;
  /** Value drawn white (default: the smallest value). */
  min?: number;
  /** Value drawn in `color` (default: the largest value). */
  max?: number;
}

/** Colours of the paper's three traces. */
export const KIND_COLORS: Record<string, string> = { hidden: '#6A3D9A', mlp: '#1B7837', attn: '#B2182B' };

const INK = '#222222';

function mix(hex: string, t: number): string {
  const c = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
  const v = c.map((x) => Math.round(255 + (x - 255) * Math.min(1, Math.max(0, t))));
  return `#${v.map((x) => x.toString(16).padStart(2, '0')).join('').toUpperCase()}`;
}

/** Printable label: the bitmap font has ASCII only. */
function printable(s: string): string {
  return [...s].map((ch) => (ch >= ' ' && ch <= '~' ? ch : '?')).join('');
}

export function heatmapScene(h: HeatmapInput): Scene {
  const rows = h.values.length;
  const cols = rows === 0 ? 0 : h.values[0].length;
  if (h.rowLabels.length !== rows || h.columnLabels.length !== cols) {
    throw new Error(`heatmap: ${rows}×${cols} values but ${h.rowLabels.length} row and ${h.columnLabels.length} column labels`);
  }
  const finite = h.values.flat().filter((v) => Number.isFinite(v));
  const lo = h.min ?? (finite.length ? Math.min(...finite) : 0);
  const hi = h.max ?? (finite.length ? Math.max(...finite) : 1);
  const span = hi - lo > 0 ? hi - lo : 1;
  const color = h.color ?? KIND_COLORS.hidden;
  const marked = new Set(h.markedRows ?? []);
  const labels = h.rowLabels.map((l, i) => printable(JSON.stringify(l).slice(1, -1)) + (marked.has(i) ? '*' : ''));
  const cell = { w: Math.max(14, Math.min(36, 480 / Math.max(1, cols))), h: 18 };
  const left = 16 + Math.max(40, ...labels.map((l) => textWidth(l, 11)));
  const top = 40;
  const gridW = cols * cell.w;
  const gridH = rows * cell.h;
  const barX = left + gridW + 24;
  const width = barX + 16 + 70;
  const height = top + gridH + 56;
  const shapes: Shape[] = [];
  shapes.push({ type: 'text', x: left + gridW / 2, y: 18, text: printable(h.title), size: 13, color: INK, anchor: 'middle', bold: true });
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = h.values[r][c];
      const fill = Number.isFinite(v) ? mix(color, (v - lo) / span) : '#CCCCCC';
      shapes.push({ type: 'rect', x: left + c * cell.w, y: top + r * cell.h, w: cell.w, h: cell.h, fill });
    }
    shapes.push({ type: 'text', x: left - 6, y: top + r * cell.h + cell.h / 2, text: labels[r], size: 11, color: INK, anchor: 'end' });
  }
  const every = Math.max(1, Math.ceil(cols / 16));
  for (let c = 0; c < cols; c += every) {
    shapes.push({ type: 'text', x: left + (c + 0.5) * cell.w, y: top + gridH + 12, text: h.columnLabels[c], size: 10, color: INK, anchor: 'middle' });
  }
  if (h.xLabel) shapes.push({ type: 'text', x: left + gridW / 2, y: top + gridH + 34, text: printable(h.xLabel), size: 11, color: INK, anchor: 'middle' });
  // Colour bar: 20 steps from lo (bottom) to hi (top).
  const steps = 20;
  for (let i = 0; i < steps; i++) {
    shapes.push({ type: 'rect', x: barX, y: top + gridH - (i + 1) * (gridH / steps), w: 14, h: gridH / steps + 0.5, fill: mix(color, (i + 0.5) / steps) });
  }
  shapes.push({ type: 'text', x: barX + 18, y: top, text: hi.toPrecision(3), size: 10, color: INK, anchor: 'start' });
  shapes.push({ type: 'text', x: barX + 18, y: top + gridH, text: lo.toPrecision(3), size: 10, color: INK, anchor: 'start' });
  if (h.valueLabel) shapes.push({ type: 'text', x: barX + 7, y: top + gridH + 20, text: printable(h.valueLabel), size: 10, color: INK, anchor: 'middle' });
  return { width, height, background: '#FFFFFF', title: h.title, shapes };
}

/** The heatmap as SVG text and PNG bytes. */
export function renderHeatmap(h: HeatmapInput, scale = 2): { svg: string; png: Buffer } {
  const scene = heatmapScene(h);
  return { svg: sceneToSvg(scene), png: renderPng(scene, scale) };
}
