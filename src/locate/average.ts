// Causal traces averaged over many cases (the ROME paper's per-layer curves and its Figure-1 token categories): how
// users choose the layer to edit. Each case is traced with causal-trace.ts and its indirect effects are averaged.
import { Generator } from '../tensor/index.js';
import type { CausalLM } from '../models/index.js';
import type { Tokenizer } from '../io/tokenizer.js';
import { causalTrace, defaultWindow, indirectEffects, positiveInt, resolveNoiseStd, type CorruptionOptions, type TraceKind } from './causal-trace.js';

export interface TraceCase {
  prompt: string;
  subject: string;
  /** Expected answer (text or token id); default the model's arg-max. */
  answer?: string | number;
}

/** The paper's token categories (Figure 2 rows). */
export const TOKEN_CATEGORIES = [
  'first subject token', 'middle subject tokens', 'last subject token', 'first subsequent token', 'further tokens', 'last token',
] as const;

/** Category of position t (index into TOKEN_CATEGORIES), or -1 for tokens before the subject. */
export function tokenCategory(t: number, subjectRange: [number, number], length: number): number {
  const [b, e] = subjectRange;
  if (t < b) return -1;
  if (t === e - 1) return 2;
  if (t < e) return t === b ? 0 : 1;
  if (t === length - 1) return 5;
  return t === e ? 3 : 4;
}

export interface AverageTraceOptions extends CorruptionOptions {
  kind?: TraceKind;
  window?: number;
  /** Trace every token and average the categories heatmap too (default false: the subject's last token only). */
  allTokens?: boolean;
  /** Called after each case with (cases done, cases in all). */
  onProgress?: (done: number, total: number) => void;
}

export interface AverageTraceResult {
  n: number;
  kind: TraceKind;
  window: number;
  samples: number;
  noiseStd: number;
  /** Mean P(answer) clean / corrupted over cases. */
  high: number;
  low: number;
  /** Mean indirect effect at the subject's last token, per layer, and its standard error across cases. */
  lastSubjectEffect: number[];
  lastSubjectStderr: number[];
  /** With allTokens: mean indirect effect [layer][category] (NaN where no case has that category). */
  categoryEffect?: number[][];
  /** Per-case results (low, high, per-layer effect at the subject's last token). */
  cases: { prompt: string; subject: string; answer: string; low: number; high: number; lastSubjectEffect: number[] }[];
}

/** Mean causal-trace effects over many facts (the paper's averages over known facts). */
export function averageCausalTrace(model: CausalLM, tok: Tokenizer, cases: TraceCase[], opts: AverageTraceOptions = {}): AverageTraceResult {
  if (cases.length === 0) throw new Error('averageCausalTrace: no cases');
  const kind = opts.kind ?? 'hidden';
  const window = positiveInt(opts.window, 'window', defaultWindow(kind));
  const noiseStd = resolveNoiseStd(model, tok, opts, opts.stdSubjects ?? cases.map((c) => c.subject));
  const generator = opts.generator ?? new Generator(opts.seed ?? 0);
  const L = model.dims.numLayers;
  const C = TOKEN_CATEGORIES.length;
  const catSum = Array.from({ length: L }, () => new Array<number>(C).fill(0));
  const catN = new Array<number>(C).fill(0);
  const per: AverageTraceResult['cases'] = [];
  cases.forEach((c, i) => {
    const r = causalTrace(model, tok, {
      ...opts, prompt: c.prompt, subject: c.subject, answer: c.answer, kind, window, noiseStd, generator,
      tokens: opts.allTokens ? 'all' : 'subject_last', onProgress: undefined,
    });
    const ie = indirectEffects(r);
    const last = r.subjectRange[1] - 1;
    per.push({ prompt: c.prompt, subject: c.subject, answer: r.answer.text, low: r.low, high: r.high, lastSubjectEffect: ie.map((row) => row[last]) });
    if (opts.allTokens) {
      const sums = Array.from({ length: L }, () => new Array<number>(C).fill(0));
      const counts = new Array<number>(C).fill(0);
      for (let t = 0; t < r.tokenIds.length; t++) {
        const k = tokenCategory(t, r.subjectRange, r.tokenIds.length);
        if (k < 0) continue;
        counts[k]++;
        for (let l = 0; l < L; l++) sums[l][k] += ie[l][t];
      }
      for (let k = 0; k < C; k++) {
        if (counts[k] === 0) continue;
        catN[k]++;
        for (let l = 0; l < L; l++) catSum[l][k] += sums[l][k] / counts[k];
      }
    }
    opts.onProgress?.(i + 1, cases.length);
  });
  const n = per.length;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const lastSubjectEffect: number[] = [];
  const lastSubjectStderr: number[] = [];
  for (let l = 0; l < L; l++) {
    const xs = per.map((p) => p.lastSubjectEffect[l]);
    const m = mean(xs);
    lastSubjectEffect.push(m);
    const v = n > 1 ? xs.reduce((a, x) => a + (x - m) ** 2, 0) / (n - 1) : 0;
    lastSubjectStderr.push(Math.sqrt(v / n));
  }
  return {
    n, kind, window, samples: opts.samples ?? 10, noiseStd,
    high: mean(per.map((p) => p.high)), low: mean(per.map((p) => p.low)),
    lastSubjectEffect, lastSubjectStderr,
    categoryEffect: opts.allTokens ? catSum.map((row) => row.map((s, k) => (catN[k] === 0 ? NaN : s / catN[k]))) : undefined,
    cases: per,
  };
}
