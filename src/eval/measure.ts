// One teacher-forced pass over every probe of a case gives what all probe metrics need: per-token log-probabilities
// (ROME's mean-NLL comparison) and per-token arg-max predictions (EasyEdit's token accuracy and its locality, which
// compares the arg-max tokens before and after the edit). The raw scores are stored with each case, so every
// protocol is derived from the same measurement and can be recomputed later.
//
// Each probe scores a `primary` answer and, where the ROME protocol needs one, a `comparison` answer; ROME-style
// success is always "primary more likely than comparison":
//   rewrite, rephrase   primary = the new target          comparison = the true answer
//   locality            primary = the probe's own answer  comparison = the new target (it must not take over)
//   portability         primary = the answer after edit   comparison = the answer before it (when the data gives it)
import {
  scoreContinuations, type CausalLM, type ScoreRequest, type ScoreResult, type TextModel, type TextScoreRequest, type TextScoreResult,
} from '../models/index.js';
import type { Tokenizer } from '../io/tokenizer.js';
import { withLeadingSpace } from '../methods/request.js';
import type { EditCase, Probe } from './cases.js';

/**
 * Portability lists that ask the edited fact itself under another subject name (kbgpt's `subject_alias`, KnowEdit's
 * Subject_Aliasing): without an explicit `ground_truth_before_edit`, ROME's comparison is against the request's
 * true answer, as the reference kbgpt run's success_subject_alias (P(target_new) > P(ground_truth) on the alias prompt).
 */
export const SAME_FACT_PORTABILITY: ReadonlySet<string> = new Set(['subject_alias', 'subject_aliasing']);

/** Teacher-forced scores of one answer after one prompt. */
export interface TokenScore {
  /** Token ids of " answer". */
  ids: number[];
  /** log P(ids[j] | prompt, ids[<j]). */
  logprobs: number[];
  /** Arg-max prediction at each of those positions. */
  argmax: number[];
}

export interface ProbeScore {
  primary: TokenScore;
  comparison?: TokenScore;
}

export interface CaseScores {
  rewrite: ProbeScore[];
  rephrase: ProbeScore[];
  locality: Record<string, ProbeScore[]>;
  portability: Record<string, ProbeScore[]>;
}

/**
 * Scores token-level (prompt, continuation) pairs. Evaluation scores through a TextModel (an EditedModel: weight
 * edits, patches and inference wrappers); a bare token scorer is for tests that construct the logits themselves
 * (scripted fake models) and for the unedited base.
 */
export type Scorer = (requests: ScoreRequest[]) => ScoreResult[];

export function modelScorer(model: CausalLM, batchSize = 16): Scorer {
  return (requests) => scoreContinuations(model, requests, { batchSize });
}

/** What measurement scores with: a text-level model, or a token scorer (prompts encoded with the tokenizer). */
export type ScoreSource = TextModel | Scorer;

/** Scores text requests with either kind of source; continuation ids come back with each result. */
export function scoreText(tok: Tokenizer, source: ScoreSource, requests: TextScoreRequest[]): TextScoreResult[] {
  if (typeof source !== 'function') return source.score(requests);
  const encoded = requests.map((r) => ({ prompt: tok.encode(r.prompt), continuation: tok.encode(r.continuation) }));
  return source(encoded).map((s, i) => ({ ...s, ids: encoded[i].continuation }));
}

/** The filled-in edit prompt of a case. */
export function editPrompt(c: EditCase): string {
  const r = c.request;
  return r.prompt.includes('{}') ? r.prompt.replace('{}', r.subject) : r.prompt;
}

/** Scores every probe of the cases (in one batched pass). */
export function measureCases(tok: Tokenizer, cases: EditCase[], scorer: ScoreSource): CaseScores[] {
  const reqs: TextScoreRequest[] = [];
  const wheres: string[] = [];
  const add = (prompt: string, answer: string, where: string): number => {
    if (prompt.trim() === '') throw new Error(`${where}: empty prompt`);
    if (answer.trim() === '') throw new Error(`${where}: empty answer`);
    reqs.push({ prompt, continuation: withLeadingSpace(answer) });
    wheres.push(where);
    return reqs.length - 1;
  };
  type Plan = { primary: number; comparison?: number };
  const plans = cases.map((c) => {
    const r = c.request;
    const where = `case ${c.caseId}`;
    const pair = (prompt: string, primary: string, comparison: string | undefined, w: string): Plan => ({
      primary: add(prompt, primary, w),
      comparison: comparison !== undefined && comparison !== '' ? add(prompt, comparison, w) : undefined,
    });
    const named = (probes: Record<string, Probe[]>, kind: string, comparison: (p: Probe, key: string) => string | undefined) =>
      Object.fromEntries(Object.entries(probes).map(([k, list]) =>
        [k, list.map((p, i) => pair(p.prompt, p.groundTruth, comparison(p, k), `${where} ${kind}.${k}[${i}]`))]));
    return {
      rewrite: [pair(editPrompt(c), r.targetNew, r.groundTruth, `${where} prompt`)],
      rephrase: c.rephrases.map((p, i) => pair(p, r.targetNew, r.groundTruth, `${where} rephrase[${i}]`)),
      // a locality probe whose own answer is the new target (ROME's attribute prompts) has nothing to compare against
      locality: named(c.locality, 'locality', (p) => (p.groundTruth.trim() === r.targetNew.trim() ? undefined : r.targetNew)),
      // a subject alias asks the same fact under another name: its answer before the edit is the true answer
      portability: named(c.portability, 'portability', (p, k) => p.groundTruthBefore ?? (SAME_FACT_PORTABILITY.has(k) ? r.groundTruth : undefined)),
    };
  });
  const scores = scoreText(tok, scorer, reqs);
  scores.forEach((sc, i) => {
    if (sc.logprobs.some((x) => Number.isNaN(x) || x === Infinity)) {
      throw new Error(`${wheres[i]}: the model's log-probabilities are NaN (non-finite weights or activations); this is an error of the model or the edit, not a metric value`);
    }
  });
  const ts = (i: number): TokenScore => ({ ids: scores[i].ids, logprobs: scores[i].logprobs, argmax: scores[i].argmax });
  const probe = (p: Plan): ProbeScore => (p.comparison === undefined ? { primary: ts(p.primary) } : { primary: ts(p.primary), comparison: ts(p.comparison) });
  const map = (m: Record<string, Plan[]>) => Object.fromEntries(Object.entries(m).map(([k, l]) => [k, l.map(probe)]));
  return plans.map((p) => ({
    rewrite: p.rewrite.map(probe),
    rephrase: p.rephrase.map(probe),
    locality: map(p.locality),
    portability: map(p.portability),
  }));
}

/** Mean token NLL (ROME's score: lower is more likely). */
export function meanNll(s: TokenScore): number {
  return -s.logprobs.reduce((a, b) => a + b, 0) / s.logprobs.length;
}

/** Share of positions whose arg-max is the gold token (EasyEdit's teacher-forced accuracy). */
export function tokenAccuracy(s: TokenScore): number {
  return s.ids.reduce((a, id, j) => a + (s.argmax[j] === id ? 1 : 0), 0) / s.ids.length;
}

/** Share of positions whose arg-max prediction is the same in both (EasyEdit's locality). */
export function unchangedShare(before: TokenScore, after: TokenScore): number {
  if (before.argmax.length !== after.argmax.length) throw new Error('unchangedShare: the two scores are of different probes');
  return before.argmax.reduce((a, t, j) => a + (after.argmax[j] === t ? 1 : 0), 0) / before.argmax.length;
}

/** Mean of the defined numbers, or undefined when there are none. */
export function mean(xs: (number | undefined)[]): number | undefined {
  const v = xs.filter((x): x is number => x !== undefined && !Number.isNaN(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : undefined;
}
