// A Scene as SVG text, written by hand (no dependency). Every data series is one <polyline class="series">, every
// bar one <rect class="bar">, so the files are easy to inspect and to test.
import { markerPolygon, type Scene, type Shape } from './plot.js';

const FONT_FAMILY = 'DejaVu Sans Mono, Menlo, Consolas, monospace';

export function sceneToSvg(scene: Scene): string {
  const body = scene.shapes.map(shapeSvg).join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${scene.width}" height="${scene.height}" viewBox="0 0 ${scene.width} ${scene.height}" font-family="${FONT_FAMILY}">`,
    `<title>${escapeXml(scene.title)}</title>`,
    `<rect x="0" y="0" width="${scene.width}" height="${scene.height}" fill="${scene.background}"/>`,
    body,
    '</svg>',
    '',
  ].join('\n');
}

function shapeSvg(s: Shape): string {
  switch (s.type) {
    case 'rect':
      return `<rect${s.role ? ` class="${s.role}"` : ''} x="${n(s.x)}" y="${n(s.y)}" width="${n(s.w)}" height="${n(s.h)}" fill="${s.fill}"${s.stroke ? ` stroke="${s.stroke}" stroke-width="1"` : ''}/>`;
    case 'line':
      return `<line x1="${n(s.x1)}" y1="${n(s.y1)}" x2="${n(s.x2)}" y2="${n(s.y2)}" stroke="${s.color}" stroke-width="${s.width}"${dash(s.dash)}/>`;
    case 'polyline':
      return `<polyline class="series" data-series="${escapeXml(s.series)}" points="${s.points.map(([x, y]) => `${n(x)},${n(y)}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="${s.width}" stroke-linejoin="round" stroke-linecap="round"${dash(s.dash)}/>`;
    case 'marker':
      return markerSvg(s);
    case 'text': {
      const rotate = s.rotate ? ` transform="rotate(-90 ${n(s.x)} ${n(s.y)})"` : '';
      return `<text x="${n(s.x)}" y="${n(s.y)}" font-size="${s.size}" fill="${s.color}" text-anchor="${s.anchor}" dominant-baseline="central"${s.bold ? ' font-weight="bold"' : ''}${rotate}>${escapeXml(s.text)}</text>`;
    }
  }
}

function markerSvg(m: Extract<Shape, { type: 'marker' }>): string {
  const r = m.size;
  switch (m.shape) {
    case 'circle': return `<circle cx="${n(m.x)}" cy="${n(m.y)}" r="${r}" fill="${m.color}"/>`;
    case 'square': return `<rect x="${n(m.x - r)}" y="${n(m.y - r)}" width="${2 * r}" height="${2 * r}" fill="${m.color}"/>`;
    default: return `<polygon points="${markerPolygon(m.shape, m.x, m.y, r).map(([x, y]) => `${n(x)},${n(y)}`).join(' ')}" fill="${m.color}"/>`;
  }
}

function dash(d: number[] | undefined): string {
  return d ? ` stroke-dasharray="${d.join(' ')}"` : '';
}

function n(v: number): string {
  return String(Math.round(v * 100) / 100);
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
