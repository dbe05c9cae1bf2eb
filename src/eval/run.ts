// An evaluation run: edit cases under a setting (single / batch / sequential), measure every probe before (once,
// cached) and after, and write a run directory that `lmedit report` reads:
//   cases.jsonl   one line per case, appended as it goes (pre and post probe scores, per-protocol metrics, timing);
//                 a rerun into the same directory skips finished cases
//   state.safetensors  sequential setting: the checkpoint a rerun resumes from (sequential-state.ts)
//   pre.json      the pre-edit probe scores, keyed by model fingerprint and case id
//   summary.json  metadata (lmedit version, model fingerprint, data, method, hparams, statistics keys, seeds,
//                 setting) and, per protocol tag, the summaries before and after; efficiency; the sequential curve
//   summary.md    the same as Markdown tables
// An aborted run (AbortSignal, e.g. Ctrl-C) stops after the current chunk, restores the model and writes a valid
// summary marked `complete: false`.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { memory, resetPeakMemory } from '../tensor/index.js';
import { writeFileAtomicSync } from '../io/atomic.js';
import { packageRoot } from '../util/package-root.js';
import type { Editor, EditRecord } from '../editor/editor.js';
import { runSettingAsync, type EditMode } from '../editor/settings.js';
import type { EditRequest } from '../methods/request.js';
import type { EditCase } from './cases.js';
import { measureCases, modelScorer, type CaseScores, type Scorer } from './measure.js';
import { allCaseMetrics, PROTOCOLS, summarizeAll, type CaseMetrics, type Summary } from './protocol.js';
import { multipleChoiceAccuracy, type ChoiceItem } from './multiple-choice.js';
import { editPrompt } from './measure.js';
import { generateForMetrics, nGramEntropy, type TfidfModel } from './generation.js';
import { readSequentialStateMeta, readSequentialStateTensors, saveSequentialState } from './sequential-state.js';

/** The checkpoint of a sequential run in its directory (sequential-state.ts). */
export const SEQUENTIAL_STATE_FILE = 'state.safetensors';

export interface EvaluateOptions {
  editor: Editor;
  cases: EditCase[];
  /** The run directory (created). */
  out: string;
  mode: EditMode;
  /** Requests per edit computation in batch / sequential settings (default 1). */
  batchSize?: number;
  /** Sequential: measure each chunk right after its edit ('each', default) or all cases once at the end. */
  measureWhen?: 'each' | 'end';
  /** Sequential: after these numbers of accumulated edits, measure every case edited so far (the curve). */
  curve?: number[];
  /** Other-task locality: multiple-choice items measured before and after each chunk (sequential: at curve points). */
  otherTask?: { file: string; items: ChoiceItem[] };
  /**
   * Generation metrics per case, before and after its edit: fluency = n-gram entropy ×100 of top-k samples (ROME's
   * generate_fast: top-5, 100 tokens in all) from the case's generation prompts (default: its edit prompt);
   * consistency = TF-IDF cosine ×100 to the case's reference texts, when it has some and `tfidf` is given.
   */
  generation?: { tfidf?: TfidfModel; maxOutLen?: number; seed?: number };
  /** Recorded in summary.json. */
  meta?: { name?: string; data?: Record<string, unknown>; command?: string[]; modelFingerprint?: string };
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** Called once before editing with the cases finished by an earlier run into the same directory. */
  onResume?: (done: number, total: number) => void;
  /** Scores probes (default: the editor's model). */
  scorer?: Scorer;
}

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
  };
  curve?: CurvePoint[];
}

export function lmeditVersion(): string {
  return JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version;
}

/** Reads cases.jsonl; a truncated last line (a hard kill mid-write) is ignored. */
export function readCaseLines(file: string): CaseLine[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const out: CaseLine[] = [];
  lines.forEach((l, i) => {
    try {
      out.push(JSON.parse(l));
    } catch (e) {
      if (i !== lines.length - 1) throw new Error(`${file}: line ${i + 1} is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
  });
  return out;
}

/** Runs the evaluation and writes the run directory; returns the summary. */
export async function evaluate(o: EvaluateOptions): Promise<RunSummary> {
  const { editor, cases } = o;
  const model = editor.model;
  const tok = editor.tokenizer;
  const scorer = o.scorer ?? modelScorer(model);
  const batchSize = o.mode === 'single' ? 1 : Math.max(1, o.batchSize ?? 1);
  const ids = new Set<string>();
  for (const c of cases) {
    if (ids.has(String(c.caseId))) throw new Error(`case id ${c.caseId} appears twice in the data; case ids must be unique`);
    ids.add(String(c.caseId));
    if (c.additionalRequests?.length && o.mode !== 'single') throw new Error(`case ${c.caseId} has several edits (multi-hop data): only the single setting applies them together`);
  }
  mkdirSync(o.out, { recursive: true });
  const casesFile = join(o.out, 'cases.jsonl');
  const startedAt = new Date().toISOString();

  // resume: skip finished cases (whole chunks in the batch setting)
  let finished = readCaseLines(casesFile);
  if (finished.length > 0) {
    const prev = finished[0];
    if (prev.method !== editor.methodName || prev.mode !== o.mode) {
      throw new Error(`${casesFile} holds a ${prev.method} ${prev.mode} run; this is ${editor.methodName} ${o.mode}: use a new --out`);
    }
  }
  const doneIds = new Set(finished.map((l) => String(l.caseId)));
  if (o.mode === 'batch' && doneIds.size > 0) {
    const prefix = cases.slice(0, doneIds.size).every((c) => doneIds.has(String(c.caseId)));
    if (!prefix || (doneIds.size % batchSize !== 0 && doneIds.size !== cases.length)) {
      throw new Error(`${casesFile}: the finished cases are not whole batches of ${batchSize} from the start; use a new --out`);
    }
  }
  // a sequential run resumes from its checkpoint (state.safetensors): the cases it holds are not edited again
  const stateFile = join(o.out, SEQUENTIAL_STATE_FILE);
  let previous: EditCase[] = [];
  let resumedCurve: CurvePoint[] = [];
  if (o.mode === 'sequential' && (finished.length > 0 || existsSync(stateFile))) {
    if (!existsSync(stateFile)) {
      throw new Error(`${casesFile} exists but ${stateFile} does not (a run from an older lmedit, or the checkpoint was deleted): a sequential run resumes from its checkpoint; use a new --out`);
    }
    const meta = readSequentialStateMeta(stateFile);
    const want = { method: editor.methodName, batchSize, measureWhen: o.measureWhen ?? 'each', fingerprint: o.meta?.modelFingerprint ?? null };
    for (const [k, v] of Object.entries(want)) {
      if (meta[k as keyof typeof want] !== v) throw new Error(`${stateFile}: the run was started with ${k} ${meta[k as keyof typeof want]}, this one has ${v}; use the same options or a new --out`);
    }
    const prefix = cases.slice(0, meta.caseIds.length).map((c) => String(c.caseId));
    if (prefix.length !== meta.caseIds.length || prefix.some((id, i) => id !== meta.caseIds[i])) {
      throw new Error(`${stateFile}: the saved weights hold the edits of cases ${meta.caseIds.slice(0, 5).join(', ')}${meta.caseIds.length > 5 ? ', …' : ''}, ` +
        `but the data selects ${prefix.slice(0, 5).join(', ')}${prefix.length > 5 ? ', …' : ''} first; use the same data options or a new --out`);
    }
    previous = cases.slice(0, meta.caseIds.length);
    // cases measured after the checkpoint are edited and measured again
    const held = new Set(meta.caseIds);
    const kept = finished.filter((l) => held.has(String(l.caseId)));
    if (kept.length !== finished.length) writeFileAtomicSync(casesFile, kept.map((l) => JSON.stringify(l) + '\n').join(''));
    finished = kept;
    const curveFile = join(o.out, 'curve.json');
    if (existsSync(curveFile)) resumedCurve = (JSON.parse(readFileSync(curveFile, 'utf8')) as CurvePoint[]).filter((p) => p.edits <= previous.length);
  }
  const todo = o.mode === 'sequential' ? cases.slice(previous.length) : cases.filter((c) => !doneIds.has(String(c.caseId)));

  const fingerprint = o.meta?.modelFingerprint;
  const pre = preScores(tok, cases, join(o.out, 'pre.json'), scorer, fingerprint);
  const otherPre = o.otherTask ? multipleChoiceAccuracy(tok, o.otherTask.items, scorer) : undefined;
  const gen = o.generation;
  const generationOf = (c: EditCase): GenerationScores => {
    const texts = generateForMetrics(model, tok, c.generationPrompts?.length ? c.generationPrompts : [editPrompt(c)], { maxOutLen: gen?.maxOutLen, seed: gen?.seed });
    const refs = c.referenceTexts ?? [];
    return {
      texts, fluency: 100 * nGramEntropy(texts),
      consistency: gen?.tfidf && refs.length ? 100 * gen.tfidf.consistency(texts, refs) : undefined,
    };
  };
  const genPre = new Map<string, GenerationScores>();
  if (gen) for (const c of todo) genPre.set(String(c.caseId), generationOf(c));

  const byRequest = new Map<EditRequest, EditCase>(cases.map((c) => [c.request, c]));
  const curve: CurvePoint[] = resumedCurve;
  const curveAt = new Set(o.curve ?? []);
  const chunkSeconds: number[] = [];
  let peakTensorBytes = 0;
  let historySeen = editor.history.length;
  resetPeakMemory();

  const measure = (requests: EditRequest[], records: EditRecord[]) => {
    const chunk = requests.map((r) => byRequest.get(r)!);
    const post = measureCases(tok, chunk, scorer);
    const other = o.otherTask && o.mode !== 'sequential' ? multipleChoiceAccuracy(tok, o.otherTask.items, scorer) : undefined;
    const seconds = records.reduce((a, r) => a + r.seconds, 0) / requests.length;
    const reports = records.flatMap((r) => r.reports);
    const cachedShare = reports.length ? reports.filter((r) => r.extra?.valueCached === true).length / reports.length : 0;
    chunk.forEach((c, i) => {
      const p = pre.get(String(c.caseId))!;
      const line: CaseLine = {
        caseId: c.caseId, method: editor.methodName, mode: o.mode, editsApplied: editor.activeEdits.reduce((a, r) => a + r.requests.length, 0),
        seconds, valueCached: cachedShare || undefined, pre: p, post: post[i], metrics: allCaseMetrics(p, post[i]),
        otherTask: other ? { accuracy: other.accuracy, n: other.n } : undefined,
        generation: gen ? { pre: genPre.get(String(c.caseId))!, post: generationOf(c) } : undefined,
      };
      appendFileSync(casesFile, JSON.stringify(line) + '\n');
    });
    return post;
  };

  // the edits: additional requests of multi-edit cases are applied together with their case
  const requests = todo.map((c) => c.request);
  const extra = new Map(todo.filter((c) => c.additionalRequests?.length).map((c) => [c.request, c.additionalRequests!]));
  const wrapped = extra.size === 0 ? editor : withAdditional(editor, extra);
  // sequential checkpoints: after a chunk when saving costs ≤ 5% of the time since the last save, at curve points,
  // at the end and when stopped
  let lastSave = performance.now();
  let saveCost = 0;
  let soFarNow: EditRequest[] = previous.map((c) => c.request);
  const saveState = () => {
    const t0 = performance.now();
    saveSequentialState(stateFile, editor, {
      method: editor.methodName, batchSize, measureWhen: o.measureWhen ?? 'each', fingerprint: o.meta?.modelFingerprint ?? null,
      caseIds: soFarNow.map((r) => String(byRequest.get(r)!.caseId)),
    });
    lastSave = performance.now();
    saveCost = lastSave - t0;
  };
  if (previous.length > 0) {
    const values = readSequentialStateTensors(stateFile);
    try {
      editor.adoptState(values, previous.map((c) => c.request));
    } finally {
      for (const t of values.values()) t.dispose();
    }
  }
  o.onResume?.(cases.length - todo.length, cases.length);
  const alreadyDone = o.mode === 'sequential' && todo.length === 0 && finished.length >= cases.length;
  const result = alreadyDone ? { stopped: false } : await runSettingAsync(wrapped as Editor, requests, {
    mode: o.mode, batchSize, measureWhen: o.measureWhen, previous: previous.map((c) => c.request),
    measure,
    onStop: () => {
      if (o.mode === 'sequential') saveState();
    },
    afterChunk: (soFar) => {
      soFarNow = soFar;
      const atCurve = curveAt.has(soFar.length) || (curveAt.size > 0 && soFar.length === cases.length);
      if (atCurve) {
        const cs = soFar.map((r) => byRequest.get(r)!);
        const post = measureCases(tok, cs, scorer);
        const rows = cs.map((c, i) => ({ pre: pre.get(String(c.caseId))!, post: post[i] }));
        const metrics = Object.fromEntries(Object.entries(summarizeAll(rows)).map(([k, v]) => [k, v.post]));
        const other = o.otherTask ? multipleChoiceAccuracy(tok, o.otherTask.items, scorer) : undefined;
        curve.push({ edits: soFar.length, metrics, otherTask: other ? { accuracy: other.accuracy, n: other.n } : undefined });
        writeFileAtomicSync(join(o.out, 'curve.json'), JSON.stringify(curve, null, 2) + '\n');
      }
      if (atCurve || soFar.length === cases.length || performance.now() - lastSave >= 20 * saveCost) saveState();
    },
    onProgress: (done, total) => {
      chunkSeconds.push(editor.history.slice(historySeen).reduce((a, r) => a + r.seconds, 0));
      historySeen = editor.history.length;
      peakTensorBytes = Math.max(peakTensorBytes, memory().peakAllocatedBytes);
      resetPeakMemory();
      o.onProgress?.(cases.length - todo.length + done, cases.length - todo.length + total);
    },
    signal: o.signal,
  });

  // the summary describes the selected cases (a directory may hold more, e.g. summarised again with a smaller --n)
  const lines = readCaseLines(casesFile).filter((l) => ids.has(String(l.caseId)));
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
  const summary: RunSummary = {
    lmedit: { version: lmeditVersion() },
    run: {
      name: o.meta?.name ?? basename(o.out), startedAt, finishedAt: new Date().toISOString(),
      complete: !result.stopped && lines.length >= cases.length, casesDone: lines.length, casesTotal: cases.length, command: o.meta?.command,
    },
    model: { dir: model.source.dir, name: basename(model.source.dir), fingerprint, modelType: model.modelType },
    data: o.meta?.data,
    method: editor.methodName,
    hparamsFile: editor.hparamsSource,
    hparams: editor.hparams,
    statsKeys: [...new Set(editor.history.flatMap((r) => r.statsKeys))],
    seed: editor.options.seed ?? 0,
    setting: { mode: o.mode, batchSize, measureWhen: o.mode === 'sequential' ? o.measureWhen ?? 'each' : undefined },
    protocols: Object.fromEntries(PROTOCOLS.map((p) => [p.tag, p.description])),
    metrics,
    efficiency: efficiencyOf(lines, chunkSeconds, batchSize, peakTensorBytes, join(o.out, 'summary.json')),
    curve: curve.length ? curve : undefined,
  };
  writeFileAtomicSync(join(o.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  writeFileAtomicSync(join(o.out, 'summary.md'), summaryMarkdown(summary));
  return summary;
}

/**
 * Efficiency over the whole run, resumed parts included: seconds per edit from the per-case timings in cases.jsonl;
 * seconds per chunk from this process's chunks (else per-case seconds × batch size); peaks as the maximum of this
 * process and the previous summary's.
 */
function efficiencyOf(lines: CaseLine[], chunkSeconds: number[], batchSize: number, peakTensorBytes: number, previousFile: string): RunSummary['efficiency'] {
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

/** An editor view whose edit() also applies each case's additional requests (multi-hop data). */
function withAdditional(editor: Editor, extra: Map<EditRequest, EditRequest[]>): Editor {
  return new Proxy(editor, {
    get(target, prop, receiver) {
      if (prop === 'edit') return (reqs: EditRequest | EditRequest[]) => target.edit((Array.isArray(reqs) ? reqs : [reqs]).flatMap((r) => [r, ...(extra.get(r) ?? [])]));
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** Pre-edit scores for every case, computed once per run directory and model. */
function preScores(tok: EvaluateOptions['editor']['tokenizer'], cases: EditCase[], file: string, scorer: Scorer, fingerprint?: string): Map<string, CaseScores> {
  let cached: Record<string, CaseScores> = {};
  if (existsSync(file)) {
    const data = JSON.parse(readFileSync(file, 'utf8'));
    if (data.fingerprint === (fingerprint ?? null)) cached = data.cases ?? {};
  }
  const missing = cases.filter((c) => !(String(c.caseId) in cached));
  if (missing.length > 0) {
    const s = measureCases(tok, missing, scorer);
    missing.forEach((c, i) => { cached[String(c.caseId)] = s[i]; });
    writeFileAtomicSync(file, JSON.stringify({ fingerprint: fingerprint ?? null, cases: cached }));
  }
  return new Map(Object.entries(cached));
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

/**
 * Reference texts for the consistency metric drawn from the data itself, by analogy with ROME's (Wikipedia text about
 * other subjects that have the new target): for each case, the statements "<filled prompt> <ground truth>" of up to
 * `max` other cases in `pool` whose true answer is this case's new target.
 */
export function dataReferenceTexts(cases: EditCase[], pool: EditCase[], max = 10): EditCase[] {
  const byAnswer = new Map<string, string[]>();
  for (const c of pool) {
    const gt = c.request.groundTruth?.trim();
    if (!gt) continue;
    const list = byAnswer.get(gt) ?? [];
    list.push(`${editPrompt(c)} ${gt}.`);
    byAnswer.set(gt, list);
  }
  return cases.map((c) => {
    const own = `${editPrompt(c)} ${c.request.groundTruth?.trim()}.`;
    const refs = (byAnswer.get(c.request.targetNew.trim()) ?? []).filter((t) => t !== own).slice(0, max);
    return refs.length ? { ...c, referenceTexts: [...(c.referenceTexts ?? []), ...refs] } : c;
  });
}
