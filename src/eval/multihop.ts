// MQuAKE's multi-hop accuracy (Zhong et al. 2023; princeton-nlp/MQuAKE run_mello.ipynb): after a case's edits, the
// model answers each of the case's multi-hop questions by generation; the case is correct when any question's answer
// is the new answer or one of its aliases (`ans == new_answer or ans in new_answer_alias`). lmedit's protocol tag is
// 'mquake-multihop-gen'. It is generation-based, so it cannot be derived from the teacher-forced probe scores of
// measure.ts: evaluateMultihop edits, measures both (the registered teacher-forced protocols on the same edited model,
// reported beside it) and restores, case by case.
//
// Answer extraction for completion models: the greedy continuation is cut at the first newline, then at the first
// '.', ',' or ';' (a cloze question's answer is the phrase before the sentence goes on), trimmed. A match is exact
// (case-insensitive, as MQuAKE compares strings exactly) or, with `prefix` matching (the default), an alias followed by
// a non-word character or the end ("Czech and Slovak" is not "Czech", "Czech language" is).
import type { EditableModel } from '../models/index.js';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Editor } from '../editor/editor.js';
import type { TextModel } from '../models/index.js';
import type { EditCase, Probe } from './cases.js';
import { measureCases, type CaseScores } from './measure.js';
import { allCaseMetrics, summarizeAll } from './protocols.js';
import type { Summary } from './protocol.js';

export const MULTIHOP_PROTOCOL = 'mquake-multihop-gen';
export const MULTIHOP_KEY = 'multi_hop';

/** A portability probe with the answer's aliases (MQuAKE's new_answer_alias / answer_alias). */
export interface AliasedProbe extends Probe {
  answerAliases?: string[];
  answerAliasesBefore?: string[];
}

export type MatchMode = 'exact' | 'prefix';

/** The answer phrase of a generated continuation. */
export function extractAnswer(text: string): string {
  return (text.split('\n')[0] ?? '').split(/[.,;]/)[0].trim();
}

/** Whether a generated answer names one of the accepted answers. */
export function answerMatches(generated: string, accepted: readonly string[], mode: MatchMode = 'prefix'): boolean {
  const g = extractAnswer(generated).toLowerCase();
  if (g === '') return false;
  return accepted.some((a) => {
    const x = a.trim().toLowerCase();
    if (x === '') return false;
    if (g === x) return true;
    return mode === 'prefix' && g.startsWith(x) && !/[\p{L}\p{N}_]/u.test(g.charAt(x.length));
  });
}

/** The answers a probe accepts after the edit (its ground truth and aliases), or before it. */
export function acceptedAnswers(p: Probe, before = false): string[] {
  const a = p as AliasedProbe;
  return before
    ? [p.groundTruthBefore ?? '', ...(a.answerAliasesBefore ?? [])].filter((x) => x !== '')
    : [p.groundTruth, ...(a.answerAliases ?? [])];
}

export interface MultihopOptions {
  /** Tokens generated per question (default 8). */
  maxNewTokens?: number;
  match?: MatchMode;
  /** Which portability list holds the questions (default multi_hop). */
  key?: string;
}

export interface MultihopCaseResult {
  /** 1 when any question is answered with the accepted answer (MQuAKE's per-case multi-hop accuracy). */
  multihop: number;
  /** The share of questions answered so (MQuAKE's per-question figure). */
  multihopQuestions: number;
  /** The same, against the answer before the edit (how often the old answer survives). */
  multihopOld?: number;
  answers: string[];
}

/** Greedy answers to the case's questions through `model`, matched against the accepted answers. */
export function multihopCase(model: TextModel, c: EditCase, o: MultihopOptions = {}): MultihopCaseResult | undefined {
  const probes = c.portability[o.key ?? MULTIHOP_KEY] ?? [];
  if (probes.length === 0) return undefined;
  const gens = model.generate(probes.map((p) => p.prompt), { maxNewTokens: o.maxNewTokens ?? 8, doSample: false });
  const answers = gens.map((g) => g.text);
  const ok = answers.map((a, i) => answerMatches(a, acceptedAnswers(probes[i]), o.match));
  const old = probes.map((p) => acceptedAnswers(p, true));
  const oldOk = answers.map((a, i) => (old[i].length ? answerMatches(a, old[i], o.match) : undefined));
  const defined = oldOk.filter((x): x is boolean => x !== undefined);
  return {
    multihop: Number(ok.some(Boolean)),
    multihopQuestions: ok.filter(Boolean).length / ok.length,
    multihopOld: defined.length ? Number(defined.some(Boolean)) : undefined,
    answers,
  };
}

export interface MultihopLine {
  caseId: string | number;
  pre?: MultihopCaseResult;
  post?: MultihopCaseResult;
  scoresPre: CaseScores;
  scoresPost: CaseScores;
  seconds: number;
  /** The wrapper's traces of the post-edit generations (MeLLo), when it keeps them. */
  traces?: unknown;
}

export interface MultihopSummary {
  method: string;
  n: number;
  protocols: Record<string, { pre: Record<string, number>; post: Record<string, number> }>;
}

function meanPct(xs: (number | undefined)[]): number | undefined {
  const v = xs.filter((x): x is number => x !== undefined);
  return v.length ? (100 * v.reduce((a, b) => a + b, 0)) / v.length : undefined;
}

/** The generation protocol's summary over case lines: multi-hop accuracy (per case and per question), ×100. */
export function summarizeMultihop(lines: readonly MultihopLine[]): { pre: Record<string, number>; post: Record<string, number> } {
  const side = (k: 'pre' | 'post') => {
    const r = lines.map((l) => l[k]).filter((x): x is MultihopCaseResult => x !== undefined);
    const out: Record<string, number> = { n: r.length };
    const add = (name: string, v: number | undefined) => { if (v !== undefined) out[name] = v; };
    add('multihop', meanPct(r.map((x) => x.multihop)));
    add('multihop_questions', meanPct(r.map((x) => x.multihopQuestions)));
    add('multihop_old_answer', meanPct(r.map((x) => x.multihopOld)));
    return out;
  };
  return { pre: side('pre'), post: side('post') };
}

/**
 * Edits each case (its request and additional requests together), measures the generation protocol and every
 * teacher-forced protocol on the edited model, restores; writes `multihop.jsonl` (one line per case, resumable) and
 * `summary.json` into `out`.
 */
export function evaluateMultihop(editor: Editor<EditableModel>, cases: readonly EditCase[], out: string, o: MultihopOptions & { onProgress?: (done: number, total: number) => void } = {}): MultihopSummary {
  mkdirSync(out, { recursive: true });
  const file = join(out, 'multihop.jsonl');
  const done = new Map<string, MultihopLine>();
  if (existsSync(file)) {
    for (const l of readFileSync(file, 'utf8').split('\n')) {
      if (l.trim() === '') continue;
      try {
        const x = JSON.parse(l) as MultihopLine;
        done.set(String(x.caseId), x);
      } catch { /* a torn last line is redone */ }
    }
  }
  const tok = editor.tokenizer;
  cases.forEach((c, i) => {
    if (done.has(String(c.caseId))) return;
    editor.restore();
    const scoresPre = measureCases(tok, [c], editor.edited)[0];
    const pre = multihopCase(editor.edited, c, o);
    const t0 = performance.now();
    editor.edit([c.request, ...(c.additionalRequests ?? [])]);
    const seconds = (performance.now() - t0) / 1000;
    const scoresPost = measureCases(tok, [c], editor.edited)[0];
    const post = multihopCase(editor.edited, c, o);
    // an inference wrapper that keeps traces of its last generation (MeLLo's loop) has them recorded with the case
    const traces = editor.edited.inferenceWrappers().map((w) => (w as { lastTraces?: unknown }).lastTraces).find((t) => t !== undefined);
    editor.restore();
    const line: MultihopLine = { caseId: c.caseId, pre, post, scoresPre, scoresPost, seconds, ...(traces === undefined ? {} : { traces }) };
    appendFileSync(file, JSON.stringify({ ...line, metrics: allCaseMetrics(scoresPre, scoresPost) }) + '\n');
    done.set(String(c.caseId), line);
    o.onProgress?.(i + 1, cases.length);
  });
  const lines = cases.map((c) => done.get(String(c.caseId))!);
  const teacher = summarizeAll(lines.map((l) => ({ pre: l.scoresPre, post: l.scoresPost })));
  const protocols: MultihopSummary['protocols'] = { [MULTIHOP_PROTOCOL]: summarizeMultihop(lines) };
  for (const [k, v] of Object.entries(teacher)) protocols[k] = v as { pre: Summary; post: Summary };
  const summary: MultihopSummary = { method: editor.methodName, n: lines.length, protocols };
  writeFileSync(join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  return summary;
}
