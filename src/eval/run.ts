// An evaluation run: edit cases under a setting (single / batch / sequential), measure every probe before (once,
// cached) and after on the edited model (text-level: weight edits, patches and inference wrappers alike), and write a
// run directory that `lmedit report` reads:
//   run.json      the run's identity (run-dir.ts): a rerun resumes only when it is the same run
//   cases.jsonl   one line per case, appended as it goes (pre and post probe scores, per-protocol metrics, timing);
//                 a rerun into the same directory skips finished cases (resume.ts)
//   state.safetensors  sequential setting: the checkpoint a rerun resumes from, in the edit-state format
//   pre.json      the pre-edit probe scores, keyed by model fingerprint and case id
//   summary.json  metadata and, per protocol tag, the summaries before and after; efficiency; the curve (summarize.ts)
//   summary.md    the same as Markdown tables
// An aborted run (AbortSignal, e.g. Ctrl-C) stops after the current chunk, restores the model and writes a valid
// summary marked `complete: false`.
import type { EditableModel } from '../models/index.js';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { memory, resetPeakMemory } from '../tensor/index.js';
import { writeFileAtomicSync } from '../io/atomic.js';
import type { Tokenizer } from '../io/tokenizer.js';
import type { Editor, EditRecord } from '../editor/editor.js';
import { runSettingAsync, type EditMode } from '../editor/settings.js';
import type { EditRequest } from '../methods/request.js';
import type { EditCase } from './cases.js';
import { editPrompt, measureCases, type CaseScores, type ScoreSource } from './measure.js';
import { allCaseMetrics, PROTOCOLS, summarizeAll } from './protocols.js';
import { multipleChoiceAccuracy, type ChoiceItem } from './multiple-choice.js';
import { generateForMetrics, nGramEntropy, type TfidfModel } from './generation.js';
import { CASES_FILE, prepareRunDir, readCaseLines, stableHash, type RunIdentity } from './run-dir.js';
import { conflictScore } from './conflict-score.js';
import type { ModulePatch } from '../models/index.js';
import { conflictSummary } from '../editor/conflicts.js';
import { resumePoint, saveCheckpoint } from './resume.js';
import {
  efficiencyOf, lmeditVersion, summarizeLines, summaryMarkdown, type CaseLine, type CurvePoint, type GenerationScores, type RunSummary,
} from './summarize.js';

export { SEQUENTIAL_STATE_FILE } from './resume.js';
export { readCaseLines } from './run-dir.js';
export { lmeditVersion, summaryMarkdown, type CaseLine, type CurvePoint, type GenerationScores, type RunSummary } from './summarize.js';

export interface EvaluateOptions {
  editor: Editor<EditableModel>;
  cases: EditCase[];
  /** The run directory (created; must be new, empty, or a directory of the same run). */
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
  /** Recorded in summary.json; `data` and the fingerprint are part of the run's identity. */
  meta?: { name?: string; data?: Record<string, unknown>; command?: string[]; modelFingerprint?: string };
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** Called once before editing with the cases finished by an earlier run into the same directory. */
  onResume?: (done: number, total: number) => void;
  /** Warnings (a torn last line cut from cases.jsonl). */
  onWarning?: (message: string) => void;
  /** Scores probes (default: the editor's EditedModel). Tests pass scripted fake scorers. */
  scorer?: ScoreSource;
}

/** The identity of the run these options describe (run-dir.ts). */
export function runIdentity(o: EvaluateOptions): RunIdentity {
  const e = o.editor;
  return {
    model: o.meta?.modelFingerprint ?? null,
    data: { ...o.meta?.data, caseIds: stableHash(o.cases.map((c) => String(c.caseId))) },
    method: e.methodName,
    hparams: stableHash(e.hparams),
    setting: { mode: o.mode, batchSize: batchSizeOf(o), measureWhen: o.mode === 'sequential' ? o.measureWhen ?? 'each' : undefined },
    seeds: { method: e.options.seed ?? 0, generation: o.generation ? o.generation.seed ?? 0 : null },
    extras: { otherTask: o.otherTask?.file ?? null, otherTaskItems: o.otherTask?.items.length ?? null, generation: Boolean(o.generation) },
  };
}

const batchSizeOf = (o: EvaluateOptions) => (o.mode === 'single' ? 1 : Math.max(1, o.batchSize ?? 1));

function checkCases(o: EvaluateOptions): Set<string> {
  const ids = new Set<string>();
  for (const c of o.cases) {
    if (ids.has(String(c.caseId))) throw new Error(`case id ${c.caseId} appears twice in the data; case ids must be unique`);
    ids.add(String(c.caseId));
    if (c.additionalRequests?.length && o.mode !== 'single') throw new Error(`case ${c.caseId} has several edits (multi-hop data): only the single setting applies them together`);
  }
  const pool = o.editor.options.pool ?? [];
  const prompts = new Set(o.cases.map((c) => editPrompt(c)));
  const shared = pool.filter((r) => prompts.has(r.text));
  if (shared.length) throw new Error(`the method's pool shares ${shared.length} edit prompt(s) with the evaluated cases (e.g. ${JSON.stringify(shared[0].text)}): the pool must be disjoint from them`);
  return ids;
}

/** Runs the evaluation and writes the run directory; returns the summary. */
export async function evaluate(o: EvaluateOptions): Promise<RunSummary> {
  const { editor, cases } = o;
  const tok = editor.tokenizer;
  const scorer: ScoreSource = o.scorer ?? editor.edited;
  const batchSize = batchSizeOf(o);
  const ids = checkCases(o);
  prepareRunDir(o.out, runIdentity(o));
  const startedAt = new Date().toISOString();
  const fingerprint = o.meta?.modelFingerprint;
  // before anything is edited: the pre-edit scores, other-task accuracy and generations
  const pre = preScores(tok, cases, join(o.out, 'pre.json'), scorer, fingerprint);
  const otherPre = o.otherTask ? multipleChoiceAccuracy(tok, o.otherTask.items, scorer) : undefined;
  const point = resumePoint(o.out, editor, cases, o.mode, batchSize, o.onWarning);
  const loop = new EditingLoop(o, scorer, pre, point.curve);
  if (o.generation) for (const c of point.todo) loop.genPre.set(String(c.caseId), loop.generationOf(c));
  o.onResume?.(cases.length - point.todo.length, cases.length);
  const alreadyDone = o.mode === 'sequential' && point.todo.length === 0 && point.finished.length >= cases.length;
  const stopped = alreadyDone ? false : await loop.run(point.todo, point.previous);
  // the summary describes the selected cases (a directory may hold more, e.g. summarised again with a smaller --n)
  const lines = readCaseLines(join(o.out, CASES_FILE)).filter((l) => ids.has(String(l.caseId)));
  const summary: RunSummary = {
    lmedit: { version: lmeditVersion() },
    run: {
      name: o.meta?.name ?? basename(o.out), startedAt, finishedAt: new Date().toISOString(),
      complete: !stopped && lines.length >= cases.length, casesDone: lines.length, casesTotal: cases.length, command: o.meta?.command,
    },
    model: { dir: editor.model.source.dir, name: basename(editor.model.source.dir), fingerprint, modelType: editor.model.modelType },
    data: o.meta?.data,
    method: editor.methodName,
    hparamsFile: editor.hparamsSource,
    hparams: editor.hparams,
    statsKeys: [...new Set(editor.history.flatMap((r) => r.statsKeys))],
    seed: editor.options.seed ?? 0,
    setting: { mode: o.mode, batchSize, measureWhen: o.mode === 'sequential' ? o.measureWhen ?? 'each' : undefined },
    protocols: Object.fromEntries(PROTOCOLS.map((p) => [p.tag, p.description])),
    metrics: summarizeLines({ lines, otherPre, curve: loop.curve }),
    efficiency: {
      ...efficiencyOf(lines, loop.chunkSeconds, batchSize, loop.peakTensorBytes, join(o.out, 'summary.json')),
      addedParameters: loop.curve.at(-1)?.addedParameters,
    },
    curve: loop.curve.length ? loop.curve : undefined,
  };
  writeFileAtomicSync(join(o.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  writeFileAtomicSync(join(o.out, 'summary.md'), summaryMarkdown(summary));
  return summary;
}

/** Parameters the installed patches add (ModulePatch.parameterCount, else their state's tensors without history*). */
export function addedParameters(patches: readonly ModulePatch[]): number {
  let n = 0;
  for (const p of patches) {
    if (p.parameterCount) { n += p.parameterCount(); continue; }
    for (const [name, t] of Object.entries(p.state().tensors)) if (!name.startsWith('history')) n += t.shape.reduce((a, b) => a * b, 1);
  }
  return n;
}

/** The editing loop of one run: edits chunks under the setting, measures them, appends case lines, checkpoints. */
class EditingLoop {
  readonly genPre = new Map<string, GenerationScores>();
  readonly chunkSeconds: number[] = [];
  peakTensorBytes = 0;
  private readonly byRequest: Map<EditRequest, EditCase>;
  private readonly casesFile: string;
  private historySeen: number;
  private lastSave = performance.now();
  private saveCost = 0;
  private soFar: EditRequest[] = [];

  constructor(private readonly o: EvaluateOptions, private readonly scorer: ScoreSource, private readonly pre: Map<string, CaseScores>, readonly curve: CurvePoint[]) {
    this.byRequest = new Map(o.cases.map((c) => [c.request, c]));
    this.casesFile = join(o.out, CASES_FILE);
    this.historySeen = o.editor.history.length;
  }

  generationOf(c: EditCase): GenerationScores {
    const gen = this.o.generation;
    const texts = generateForMetrics(this.o.editor.edited, this.o.editor.tokenizer, c.generationPrompts?.length ? c.generationPrompts : [editPrompt(c)], { maxOutLen: gen?.maxOutLen, seed: gen?.seed });
    const refs = c.referenceTexts ?? [];
    return {
      texts, fluency: 100 * nGramEntropy(texts),
      consistency: gen?.tfidf && refs.length ? 100 * gen.tfidf.consistency(texts, refs) : undefined,
    };
  }

  /** Edits and measures the cases; returns whether it was stopped early. */
  async run(todo: EditCase[], previous: EditCase[]): Promise<boolean> {
    const { o } = this;
    this.soFar = previous.map((c) => c.request);
    resetPeakMemory();
    // the edits: additional requests of multi-edit cases are applied together with their case
    const extra = new Map(todo.filter((c) => c.additionalRequests?.length).map((c) => [c.request, c.additionalRequests!]));
    const editor = extra.size === 0 ? o.editor : withAdditional(o.editor, extra);
    const result = await runSettingAsync(editor, todo.map((c) => c.request), {
      mode: o.mode, batchSize: batchSizeOf(o), measureWhen: o.measureWhen, previous: this.soFar,
      measure: (requests, records) => this.measure(requests, records),
      onStop: () => {
        if (o.mode === 'sequential') this.checkpoint();
      },
      afterChunk: (soFar) => this.afterChunk(soFar),
      onProgress: (done, total) => {
        this.chunkSeconds.push(o.editor.history.slice(this.historySeen).reduce((a, r) => a + r.seconds, 0));
        this.historySeen = o.editor.history.length;
        this.peakTensorBytes = Math.max(this.peakTensorBytes, memory().peakAllocatedBytes);
        resetPeakMemory();
        const before = o.cases.length - todo.length;
        o.onProgress?.(before + done, before + total);
      },
      signal: o.signal,
    });
    return result.stopped;
  }

  private measure(requests: EditRequest[], records: EditRecord[]): CaseScores[] {
    const { o } = this;
    const tok = o.editor.tokenizer;
    const chunk = requests.map((r) => this.byRequest.get(r)!);
    const post = measureCases(tok, chunk, this.scorer);
    const other = o.otherTask && o.mode !== 'sequential' ? multipleChoiceAccuracy(tok, o.otherTask.items, this.scorer) : undefined;
    const seconds = records.reduce((a, r) => a + r.seconds, 0) / requests.length;
    const reports = records.flatMap((r) => r.reports);
    // the conflicts each case's edit raised, named by the earlier cases (sequential runs)
    const conflictsOf = new Map<EditRequest, CaseLine['conflicts']>();
    if (o.mode === 'sequential') {
      for (const rec of records) {
        rec.requests.forEach((_, i) => {
          const c = chunk.find((x) => String(x.caseId) === String(rec.requests[i].caseId));
          if (c) conflictsOf.set(c.request, conflictSummary(rec.conflicts.filter((k) => k.request === i)));
        });
      }
    }
    const cachedShare = reports.length ? reports.filter((r) => r.extra?.valueCached === true).length / reports.length : 0;
    chunk.forEach((c, i) => {
      const p = this.pre.get(String(c.caseId))!;
      const line: CaseLine = {
        caseId: c.caseId, method: o.editor.methodName, mode: o.mode, editsApplied: o.editor.activeEdits.reduce((a, r) => a + r.requests.length, 0),
        seconds, valueCached: cachedShare || undefined, pre: p, post: post[i], metrics: allCaseMetrics(p, post[i]),
        otherTask: other ? { accuracy: other.accuracy, n: other.n } : undefined,
        conflicts: conflictsOf.get(c.request),
        generation: o.generation ? { pre: this.genPre.get(String(c.caseId))!, post: this.generationOf(c) } : undefined,
      };
      appendFileSync(this.casesFile, JSON.stringify(line) + '\n');
    });
    return post;
  }

  /** Sequential: the curve point, then a checkpoint when saving costs ≤ 5% of the time since the last one. */
  private afterChunk(soFar: EditRequest[]): void {
    const { o } = this;
    this.soFar = soFar;
    const curveAt = new Set(o.curve ?? []);
    const atCurve = curveAt.has(soFar.length) || (curveAt.size > 0 && soFar.length === o.cases.length);
    if (atCurve) {
      const tok = o.editor.tokenizer;
      const cs = soFar.map((r) => this.byRequest.get(r)!);
      const post = measureCases(tok, cs, this.scorer);
      const rows = cs.map((c, i) => ({ pre: this.pre.get(String(c.caseId))!, post: post[i] }));
      const postOf = (rs: typeof rows) => Object.fromEntries(Object.entries(summarizeAll(rs)).map(([k, v]) => [k, v.post]));
      const metrics = postOf(rows);
      // the same over the cases whose subject no other edit so far touched (no same-subject overwrite either way)
      const perSubject = new Map<string, number>();
      for (const c of cs) perSubject.set(c.request.subject, (perSubject.get(c.request.subject) ?? 0) + 1);
      const single = rows.filter((_, i) => perSubject.get(cs[i].request.subject) === 1);
      const other = o.otherTask ? multipleChoiceAccuracy(tok, o.otherTask.items, this.scorer) : undefined;
      const conflicts = conflictScore(readCaseLines(this.casesFile), cs, post);
      this.curve.push({
        edits: soFar.length, metrics, otherTask: other ? { accuracy: other.accuracy, n: other.n } : undefined,
        oneEditPerSubject: single.length ? { n: single.length, metrics: postOf(single) } : undefined,
        conflicts, addedParameters: addedParameters(o.editor.edited.patches()),
      });
      writeFileAtomicSync(join(o.out, 'curve.json'), JSON.stringify(this.curve, null, 2) + '\n');
    }
    if (atCurve || soFar.length === o.cases.length || performance.now() - this.lastSave >= 20 * this.saveCost) this.checkpoint();
  }

  private checkpoint(): void {
    const t0 = performance.now();
    saveCheckpoint(this.o.out, this.o.editor, this.soFar.map((r) => String(this.byRequest.get(r)!.caseId)), this.o.meta?.modelFingerprint);
    this.lastSave = performance.now();
    this.saveCost = this.lastSave - t0;
  }
}

/** An editor view whose edit() also applies each case's additional requests (multi-hop data). */
function withAdditional(editor: Editor<EditableModel>, extra: Map<EditRequest, EditRequest[]>): Editor<EditableModel> {
  return new Proxy(editor, {
    get(target, prop, receiver) {
      if (prop === 'edit') return (reqs: EditRequest | EditRequest[]) => target.edit((Array.isArray(reqs) ? reqs : [reqs]).flatMap((r) => [r, ...(extra.get(r) ?? [])]));
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** Pre-edit scores for every case, computed once per run directory and model. */
function preScores(tok: Tokenizer, cases: EditCase[], file: string, scorer: ScoreSource, fingerprint?: string): Map<string, CaseScores> {
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
