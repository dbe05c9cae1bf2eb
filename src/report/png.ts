// A Scene rasterised to RGB pixels and encoded as PNG, with node:zlib only: no native modules, no system fonts.
// Lines are thick segments with round caps, antialiased by their distance to the pixel centre; markers are
// supersampled 4×4; rectangles are filled exactly (so a bar's interior is exactly its colour); text is the 5×7
// bitmap font of font.ts, scaled by whole pixels. Default scale 2: an 800×500 scene gives a 1600×1000 image.
import { deflateSync } from 'node:zlib';
import { glyph, GLYPH_ADVANCE, GLYPH_HEIGHT } from './font.js';
import { markerPolygon, type Scene, type Shape } from './plot.js';

/** 8-bit RGB pixels, row by row, top to bottom. */
export interface Raster {
  width: number;
  height: number;
  pixels: Uint8Array;
}

type Rgb = [number, number, number];

export function renderPng(scene: Scene, scale = 2): Buffer {
  return encodePng(rasterize(scene, scale));
}

export function rasterize(scene: Scene, scale = 2): Raster {
  const canvas = new Canvas(Math.round(scene.width * scale), Math.round(scene.height * scale), parseColor(scene.background));
  for (const shape of scene.shapes) drawShape(canvas, shape, scale);
  return { width: canvas.width, height: canvas.height, pixels: canvas.pixels };
}

function drawShape(c: Canvas, s: Shape, scale: number): void {
  switch (s.type) {
    case 'rect': {
      const [x0, y0, x1, y1] = [s.x, s.y, s.x + s.w, s.y + s.h].map((v) => Math.round(v * scale));
      c.fillRect(x0, y0, x1, y1, parseColor(s.fill));
      if (s.stroke) {
        const corners: [number, number][] = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]];
        for (const seg of dashSegments(corners)) c.coverSegment(seg, scale / 2);
        c.paint(parseColor(s.stroke));
      }
      return;
    }
    case 'line':
    case 'polyline': {
      const points: [number, number][] = s.type === 'line' ? [[s.x1, s.y1], [s.x2, s.y2]] : s.points;
      const scaled = points.map(([x, y]): [number, number] => [x * scale, y * scale]);
      for (const seg of dashSegments(scaled, s.dash?.map((d) => d * scale))) c.coverSegment(seg, (s.width * scale) / 2);
      c.paint(parseColor(s.color));
      return;
    }
    case 'marker': {
      const [x, y, r] = [s.x * scale, s.y * scale, s.size * scale];
      const inside = s.shape === 'circle' ? (px: number, py: number) => (px - x) ** 2 + (py - y) ** 2 <= r * r
        : s.shape === 'square' ? (px: number, py: number) => Math.abs(px - x) <= r && Math.abs(py - y) <= r
          : insidePolygon(markerPolygon(s.shape, x, y, r));
      c.coverInside(x - 2 * r, y - 2 * r, x + 2 * r, y + 2 * r, inside);
      c.paint(parseColor(s.color));
      return;
    }
    case 'text':
      drawText(c, s, scale);
  }
}

/** Bitmap text: each font pixel a k×k block, k the whole number nearest size·scale/10 (advance 0.6·size). */
function drawText(c: Canvas, s: Extract<Shape, { type: 'text' }>, scale: number): void {
  const k = Math.max(1, Math.round((s.size * scale) / 10));
  const chars = [...s.text];
  const width = chars.length * GLYPH_ADVANCE * k - k;
  const shift = s.anchor === 'start' ? 0 : s.anchor === 'middle' ? Math.round(width / 2) : width;
  const [x, y] = [Math.round(s.x * scale), Math.round(s.y * scale)];
  const top = -Math.round((GLYPH_HEIGHT * k) / 2);
  const color = parseColor(s.color);
  const offsets = s.bold ? [0, Math.max(1, Math.floor(k / 2))] : [0];
  chars.forEach((ch, i) => glyph(ch).forEach((row, r) => row.forEach((on, col) => {
    if (!on) return;
    for (const o of offsets) {
      const dx = -shift + i * GLYPH_ADVANCE * k + col * k + o; // along the text
      const dy = top + r * k; // across it
      // rotate(-90): the offset (dx, dy) goes to (dy, -dx), so the text reads bottom to top.
      if (s.rotate) c.fillRect(x + dy, y - dx - k, x + dy + k, y - dx, color);
      else c.fillRect(x + dx, y + dy, x + dx + k, y + dy + k, color);
    }
  })));
}

/** Segments [ax, ay, bx, by] of a polyline, cut into the dashes of `pattern` (on, off, …) when there is one. */
function dashSegments(points: [number, number][], pattern?: number[]): number[][] {
  const out: number[][] = [];
  let k = 0;
  let left = pattern?.[0] ?? Infinity;
  for (let i = 0; i + 1 < points.length; i++) {
    const [ax, ay] = points[i];
    const [bx, by] = points[i + 1];
    const len = Math.hypot(bx - ax, by - ay);
    if (!pattern) {
      out.push([ax, ay, bx, by]);
      continue;
    }
    const at = (d: number) => (len === 0 ? [ax, ay] : [ax + ((bx - ax) * d) / len, ay + ((by - ay) * d) / len]);
    for (let pos = 0; pos < len;) {
      const step = Math.min(left, len - pos);
      if (k % 2 === 0) out.push([...at(pos), ...at(pos + step)]);
      pos += step;
      left -= step;
      if (left <= 1e-9) {
        k = (k + 1) % pattern.length;
        left = pattern[k];
      }
    }
  }
  return out;
}

function insidePolygon(poly: [number, number][]): (x: number, y: number) => boolean {
  return (x, y) => {
    let inside = false;
    for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
      const [xi, yi] = poly[i];
      const [xj, yj] = poly[j];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  };
}

/**
 * RGB pixels plus a coverage layer: a shape first accumulates its coverage (the maximum where its parts overlap, so
 * the joints of a polyline are not darkened twice), then `paint` blends its colour by that coverage and clears it.
 */
class Canvas {
  readonly pixels: Uint8Array;
  private readonly coverage: Float32Array;
  private dirty = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };

  constructor(readonly width: number, readonly height: number, background: Rgb) {
    this.pixels = new Uint8Array(width * height * 3);
    this.coverage = new Float32Array(width * height);
    this.fillRect(0, 0, width, height, background);
  }

  /** Pixels [x0, x1) × [y0, y1), clipped to the image. */
  fillRect(x0: number, y0: number, x1: number, y1: number, [r, g, b]: Rgb): void {
    for (let y = Math.max(0, y0); y < Math.min(this.height, y1); y++) {
      for (let x = Math.max(0, x0); x < Math.min(this.width, x1); x++) {
        const i = (y * this.width + x) * 3;
        this.pixels[i] = r;
        this.pixels[i + 1] = g;
        this.pixels[i + 2] = b;
      }
    }
  }

  /** A segment of half-width `half` with round caps; full coverage within `half` of the centre line. */
  coverSegment([ax, ay, bx, by]: number[], half: number): void {
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    this.visit(Math.min(ax, bx) - half - 1, Math.min(ay, by) - half - 1, Math.max(ax, bx) + half + 1, Math.max(ay, by) + half + 1, (cx, cy) => {
      const t = len2 === 0 ? 0 : Math.min(1, Math.max(0, ((cx - ax) * dx + (cy - ay) * dy) / len2));
      const d = Math.hypot(cx - ax - t * dx, cy - ay - t * dy);
      return Math.min(1, Math.max(0, half + 0.5 - d));
    });
  }

  /** The share of 4×4 samples of each pixel that `inside` accepts. */
  coverInside(x0: number, y0: number, x1: number, y1: number, inside: (x: number, y: number) => boolean): void {
    this.visit(x0, y0, x1, y1, (cx, cy) => {
      let hits = 0;
      for (let sy = 0; sy < 4; sy++) for (let sx = 0; sx < 4; sx++) if (inside(cx - 0.375 + sx * 0.25, cy - 0.375 + sy * 0.25)) hits++;
      return hits / 16;
    });
  }

  /** Blends `color` by the accumulated coverage, then clears the coverage. */
  paint(color: Rgb): void {
    const { x0, y0, x1, y1 } = this.dirty;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const p = y * this.width + x;
        const a = this.coverage[p];
        if (a === 0) continue;
        for (let ch = 0; ch < 3; ch++) this.pixels[p * 3 + ch] = Math.round(this.pixels[p * 3 + ch] * (1 - a) + color[ch] * a);
        this.coverage[p] = 0;
      }
    }
    this.dirty = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
  }

  /** Calls `cover` with the centre of each pixel in the box and keeps the largest coverage per pixel. */
  private visit(fx0: number, fy0: number, fx1: number, fy1: number, cover: (cx: number, cy: number) => number): void {
    const x0 = Math.max(0, Math.floor(fx0));
    const y0 = Math.max(0, Math.floor(fy0));
    const x1 = Math.min(this.width - 1, Math.ceil(fx1));
    const y1 = Math.min(this.height - 1, Math.ceil(fy1));
    if (x0 > x1 || y0 > y1) return;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const a = cover(x + 0.5, y + 0.5);
        const p = y * this.width + x;
        if (a > this.coverage[p]) this.coverage[p] = a;
      }
    }
    const d = this.dirty;
    this.dirty = { x0: Math.min(d.x0, x0), y0: Math.min(d.y0, y0), x1: Math.max(d.x1, x1), y1: Math.max(d.y1, y1) };
  }
}

function parseColor(hex: string): Rgb {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!m) throw new Error(`colour '${hex}' is not #rrggbb`);
  const v = parseInt(m[1], 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** PNG: IHDR (8-bit RGB, no interlace), one IDAT (scanlines with filter 0, deflated), IEND. */
export function encodePng({ width, height, pixels }: Raster): Buffer {
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  return Buffer.concat([SIGNATURE, chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309, as PNG chunks use). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
