// The sequential curves as markdown: one row per curve point (number of edits so far), one column per run, for the
// ROME protocol's ES / PS / NS and EasyEdit's reliability / locality; a second table over the cases with one edit per
// subject (with their count) where the runs recorded it.
import type { CurvePoint, MetricValues, Run } from './runs.js';

const CELLS: { tag: string; keys: string[]; header: string }[] = [
  { tag: 'rome-counterfact-prob', keys: ['ES', 'PS', 'NS'], header: 'ES / PS / NS' },
  { tag: 'easyedit-token', keys: ['reliability', 'locality'], header: 'Rel. / Loc.' },
];

function cell(values: MetricValues | undefined, keys: string[]): string {
  if (!values || keys.every((k) => values[k] === undefined)) return '—';
  return keys.map((k) => (values[k] === undefined ? '—' : values[k].toFixed(1))).join(' / ');
}

function table(runs: Run[], of: (p: CurvePoint) => Record<string, MetricValues> | undefined, count?: (p: CurvePoint) => number | undefined): string[] {
  const edits = [...new Set(runs.flatMap((r) => r.curve.filter((p) => of(p)).map((p) => p.edits)))].sort((a, b) => a - b);
  if (edits.length === 0) return [];
  const cells = CELLS.filter((c) => runs.some((r) => r.curve.some((p) => of(p)?.[c.tag])));
  const header = ['edits so far', ...cells.flatMap((c) => runs.map((r) => `${r.label} ${c.header}`))];
  const rows = edits.map((n) => [String(n), ...cells.flatMap((c) => runs.map((r) => {
    const p = r.curve.find((x) => x.edits === n);
    const v = p ? cell(of(p)?.[c.tag], c.keys) : '—';
    const k = p && count ? count(p) : undefined;
    return k === undefined || v === '—' ? v : `${v} (n ${k})`;
  }))]);
  const line = (cs: string[]) => `| ${cs.join(' | ')} |`;
  return [line(header), `|${header.map((_, i) => (i === 0 ? '---:' : '---')).join('|')}|`, ...rows.map(line)];
}

/** The curve tables of the sequential runs among `runs` ('' when there are none). */
export function curveMarkdown(runs: Run[]): string {
  const seq = runs.filter((r) => r.mode === 'sequential' && r.curve.length > 0);
  if (seq.length === 0) return '';
  const all = table(seq, (p) => p.metrics);
  const single = table(seq, (p) => p.oneEditPerSubject, (p) => p.oneEditPerSubjectN);
  return [
    '## Sequential curves (all edits so far measured at each point)', '', ...all, '',
    ...(single.length ? ['Only the cases whose subject no other edit so far touched:', '', ...single, ''] : []),
  ].join('\n');
}
