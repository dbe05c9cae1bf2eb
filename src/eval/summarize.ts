// The run summary: every protocol's means over the finished cases, before and after, other-task and generation
// metrics, efficiency, the curve. It reads only case lines, so lines merged from several workers' shards
// (mergeShards) summarise the same way as one process's.
import type { ConflictScore } from './conflict-score.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../util/package-root.js';
import type { EditMode } from '../editor/settings.js';
import type { CaseScores } from './measure.js';
import type { CaseMetrics, Summary } from './protocol.js';
import { summarizeAll } from './protocols.js';
import { CASES_FILE, RUN_FILE, identityDiff, readCaseLines, type RunIdentity } from './run-dir.js';

export interface CaseLine {
  caseId: string | number;
  method: string;
  mode: EditMode;
  /** Edits applied when the case was measured (sequential: all so far). */
  editsApplied: number;
  seconds?: number;
  /** Share of the chunk's optimised values (v*, z) read from the value cache instead of computed (0–1). */
  valueCached?: number;
  pre: CaseScores;
  post: CaseScores;
  metrics: Record<string, CaseMetrics>;
  otherTask?: { accuracy: number; n: number };
  generation?: { pre: GenerationScores; post: GenerationScores };
  /** Sequential: the earlier cases whose keys this case's edit reached before it was applied (src/editor/conflicts.ts). */
  conflicts?: { caseId?: string | number; editId: string; module: string; reach: number }[];
}

export interface GenerationScores {
  texts: string[];
  /** n-gram entropy ×100 */
  fluency: number;
  /** TF-IDF cosine ×100 to the reference texts */
  consistency?: number;
}

export interface CurvePoint {
  edits: number;
  metrics: Record<string, Summary>;
  otherTask?: { accuracy: number; n: number };
  /**
   * The same metrics over the edited cases whose subject no other edit so far touched (kbgpt's cases come two or three
   * per person: a later edit of the subject overwrites an earlier one's key).
   */
  oneEditPerSubject?: { n: number; metrics: Record<string, Summary> };
  /** How well the conflict warnings so far predict the earlier edits lost by now (conflict-score.ts). */
  conflicts?: ConflictScore;
  /** Numbers the edits so far added to the model (module patches; run.ts addedParameters). */
  addedParameters?: number;
}

export interface RunSummary {
  lmedit: { version: string };
  run: { name: string; startedAt: string; finishedAt: string; complete: boolean; casesDone: number; casesTotal: number; command?: string[] };
  model: { dir: string; name: string; fingerprint?: string; modelType: string };
  data?: Record<string, unknown>;
  method: string;
  hparamsFile: string;
  hparams: Record<string, unknown>;
  statsKeys: string[];
  seed: number;
  setting: { mode: EditMode; batchSize: number; measureWhen?: 'each' | 'end' };
  protocols: Record<string, string>;
  metrics: Record<string, { pre: Summary; post: Summary } | { pre: Record<string, number>; post: Record<string, number> }>;
  efficiency: {
    secondsPerEdit: number; secondsPerChunk: number; chunks: number; peakRssBytes: number; peakTensorBytes: number;
    /** Edits whose optimised value came from the value cache (their time excludes the optimisation); 0 without one. */
    valuesFromCache?: number;
    /**
     * Sequential runs with a curve: numbers the edits had added to the model at the last curve point (module patches'
     * stored tensors, rollback history left out; weight edits change parameters in place and add none).
     */
    addedParameters?: number;
  };
  curve?: CurvePoint[];
}

export function lmeditVersion(): string {
  return JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version;
}

/** What the metrics of a summary are computed from. */
export interface MetricsInput {
  lines: CaseLine[];
  /** Other-task accuracy before editing, when measured. */
  otherPre?: { accuracy: number; n: number };
  curve: CurvePoint[];
}

/** Per-protocol summaries, other-task and generation metrics of the case lines. */
export function summarizeLines(input: MetricsInput): RunSummary['metrics'] {
  const { lines, otherPre, curve } = input;
  const rows = lines.map((l) => ({ pre: l.pre, post: l.post }));
  const metrics: RunSummary['metrics'] = summarizeAll(rows);
  if (otherPre) {
    const post = lines.map((l) => l.otherTask?.accuracy).filter((x): x is number => x !== undefined);
    const last = curve[curve.length - 1]?.otherTask;
    metrics['other-task'] = {
      pre: { accuracy: otherPre.accuracy, n: otherPre.n },
      post: { accuracy: post.length ? post.reduce((a, b) => a + b, 0) / post.length : last?.accuracy ?? NaN, n: otherPre.n },
    };
  }
  const withGen = lines.filter((l) => l.generation);
  if (withGen.length) {
    const avg = (xs: (number | undefined)[]) => {
      const v = xs.filter((x): x is number => x !== undefined);
      return v.length ? v.reduce((a, b) => a + b, 0) / v.length : undefined;
    };
    const part = (w: 'pre' | 'post') => {
      const r: Record<string, number> = { n: withGen.length, fluency: avg(withGen.map((l) => l.generation![w].fluency))! };
      const cons = avg(withGen.map((l) => l.generation![w].consistency));
      if (cons !== undefined) r.consistency = cons;
      return r;
    };
    metrics.generation = { pre: part('pre'), post: part('post') };
  }
  return metrics;
}

function withoutCases(id: RunIdentity): RunIdentity {
  const { caseIds: _c, ...data } = (id.data ?? {}) as Record<string, unknown>;
  return { ...id, data };
}

/**
 * Case lines of several shard directories of one run (workers that each took part of the cases): their run.json
 * identities must agree and no case may appear twice.
 */
export function mergeShards(dirs: string[]): CaseLine[] {
  let identity: RunIdentity | undefined;
  const seen = new Set<string>();
  const out: CaseLine[] = [];
  for (const dir of dirs) {
    const marker = join(dir, RUN_FILE);
    if (!existsSync(marker)) throw new Error(`${dir}: not an lmedit run directory (no ${RUN_FILE})`);
    const id = JSON.parse(readFileSync(marker, 'utf8')).identity as RunIdentity;
    if (identity) {
      // shards differ in which cases they hold, nothing else
      const d = identityDiff(withoutCases(identity), withoutCases(id));
      if (d.length) throw new Error(`${dir} is a shard of another run than ${dirs[0]}: ${d.join('; ')}`);
    }
    identity ??= id;
    for (const l of readCaseLines(join(dir, CASES_FILE))) {
      if (seen.has(String(l.caseId))) throw new Error(`${dir}: case ${l.caseId} is also in an earlier shard`);
      seen.add(String(l.caseId));
      out.push(l);
    }
  }
  return out;
}

/**
 * Efficiency over the whole run, resumed parts included: seconds per edit from the per-case timings in cases.jsonl;
 * seconds per chunk from this process's chunks (else per-case seconds × batch size); peaks as the maximum of this
 * process and the previous summary's.
 */
export function efficiencyOf(lines: CaseLine[], chunkSeconds: number[], batchSize: number, peakTensorBytes: number, previousFile: string): RunSummary['efficiency'] {
  const timed = lines.map((l) => l.seconds).filter((x): x is number => x !== undefined && Number.isFinite(x));
  const perEdit = timed.length ? timed.reduce((a, b) => a + b, 0) / timed.length : NaN;
  let prev: Partial<RunSummary['efficiency']> = {};
  if (existsSync(previousFile)) {
    try {
      prev = JSON.parse(readFileSync(previousFile, 'utf8')).efficiency ?? {};
    } catch {
      prev = {};
    }
  }
  return {
    secondsPerEdit: perEdit,
    secondsPerChunk: chunkSeconds.length ? chunkSeconds.reduce((a, b) => a + b, 0) / chunkSeconds.length : perEdit * batchSize,
    chunks: chunkSeconds.length || (prev.chunks ?? 0),
    peakRssBytes: Math.max(process.resourceUsage().maxRSS * 1024, prev.peakRssBytes ?? 0),
    peakTensorBytes: Math.max(peakTensorBytes, prev.peakTensorBytes ?? 0),
    valuesFromCache: Math.round(lines.reduce((a, l) => a + (l.valueCached ?? 0), 0)),
  };
}

const fmt = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '—' : x.toFixed(1));

/** The summary as Markdown: one table per protocol, before and after. */
export function summaryMarkdown(s: RunSummary): string {
  const setting = `${s.setting.mode}${s.setting.mode !== 'single' ? `, batch ${s.setting.batchSize}` : ''}`;
  const out = [`# ${s.method} (${setting}) on ${s.model.name}`, '',
    `${s.run.complete ? '' : `**partial run: ${s.run.casesDone} of ${s.run.casesTotal} cases.** `}hparams ${s.hparamsFile}; statistics ${s.statsKeys.join(', ') || 'none'}; ` +
    `${s.efficiency.secondsPerEdit.toFixed(2)} s per edit; peak RSS ${(s.efficiency.peakRssBytes / 2 ** 30).toFixed(2)} GiB; ` +
    `peak tensor memory ${(s.efficiency.peakTensorBytes / 2 ** 20).toFixed(0)} MiB` +
    (s.efficiency.valuesFromCache ? ` (${s.efficiency.valuesFromCache} edits took their optimised value from the value cache, so their time excludes it)` : ''), ''];
  for (const [tag, m] of Object.entries(s.metrics)) {
    const keys = [...new Set([...Object.keys(m.pre), ...Object.keys(m.post)])].filter((k) => k !== 'n');
    out.push(`## ${tag}`, '', `| | n | ${keys.join(' | ')} |`, `|---|---|${keys.map(() => '---').join('|')}|`);
    for (const which of ['pre', 'post'] as const) {
      const row = m[which] as Record<string, number>;
      out.push(`| ${which === 'pre' ? 'before' : 'after'} | ${row.n ?? '—'} | ${keys.map((k) => fmt(row[k])).join(' | ')} |`);
    }
    out.push('');
  }
  if (s.curve) {
    out.push('## sequential curve (all edits so far)', '');
    for (const p of s.curve) {
      out.push(`- after ${p.edits} edits: ${Object.entries(p.metrics).map(([tag, m]) => `${tag} ${Object.entries(m).filter(([k]) => k !== 'n').map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`).join('; ')}`);
    }
    out.push('');
  }
  return out.join('\n');
}

