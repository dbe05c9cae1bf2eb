// The ROME/MEMIT CounterFact protocol (kmeng01/rome experiments/py/eval_utils_counterfact.py): for a prompt p and
// candidates, score(p, c) = mean over the tokens of " c" of −log P(token | p, previous tokens). A case succeeds when
// the new target scores better than the true one:
//   efficacy (ES)      on the edit prompt:         score_new < score_true
//   paraphrase (PS)    on the rephrase prompt:     score_new < score_true
//   neighbourhood (NS) on the locality prompt:     its own answer still beats the new target
// magnitudes: EM/PM = P_new − P_true (P = exp(−score)), NM = P_true − P_new on the neighbour.
import { scoreContinuations, type CausalLM } from '../models/index.js';
import type { Tokenizer } from '../io/tokenizer.js';
import { withLeadingSpace } from '../methods/request.js';
import type { EditCase } from './cases.js';

export const ROME_PROTOCOL = 'rome-counterfact-prob';

export interface ProbeScores {
  /** mean NLL of the new target */
  newNll: number;
  /** mean NLL of the reference answer (the true answer, or the neighbour's own answer) */
  trueNll: number;
}

export interface RomeCaseScores {
  prompt: ProbeScores;
  rephrase?: ProbeScores;
  neighbour?: ProbeScores;
  portability: Record<string, ProbeScores>;
}

/** Scores all probes of the cases in one batched pass. */
export function scoreCases(model: CausalLM, tok: Tokenizer, cases: EditCase[]): RomeCaseScores[] {
  const reqs: { prompt: number[]; continuation: number[] }[] = [];
  const pair = (prompt: string, newAnswer: string, trueAnswer: string): [number, number] => {
    const p = tok.encode(prompt);
    reqs.push({ prompt: p, continuation: tok.encode(withLeadingSpace(newAnswer)) });
    reqs.push({ prompt: p, continuation: tok.encode(withLeadingSpace(trueAnswer)) });
    return [reqs.length - 2, reqs.length - 1];
  };
  const plan = cases.map((c) => {
    const r = c.request;
    const text = r.prompt.includes('{}') ? r.prompt.replace('{}', r.subject) : r.prompt;
    return {
      prompt: pair(text, r.targetNew, r.groundTruth!),
      rephrase: c.rephrase ? pair(c.rephrase, r.targetNew, r.groundTruth!) : undefined,
      neighbour: c.locality ? pair(c.locality.prompt, r.targetNew, c.locality.groundTruth) : undefined,
      portability: Object.fromEntries(Object.entries(c.portability).map(([k, p]) => [k, pair(p.prompt, p.groundTruth, p.groundTruthBefore ?? r.groundTruth!)])),
    };
  });
  const s = scoreContinuations(model, reqs);
  const get = (ix: [number, number] | undefined): ProbeScores | undefined =>
    ix ? { newNll: -s[ix[0]].mean, trueNll: -s[ix[1]].mean } : undefined;
  return plan.map((p) => ({
    prompt: get(p.prompt)!,
    rephrase: get(p.rephrase),
    neighbour: get(p.neighbour),
    portability: Object.fromEntries(Object.entries(p.portability).map(([k, ix]) => [k, get(ix)!])),
  }));
}

export interface RomeCaseMetrics {
  efficacy: boolean;
  efficacyMagnitude: number;
  paraphrase?: boolean;
  paraphraseMagnitude?: number;
  neighbourhood?: boolean;
  neighbourhoodMagnitude?: number;
}

export function caseMetrics(s: RomeCaseScores): RomeCaseMetrics {
  const mag = (p: ProbeScores) => Math.exp(-p.newNll) - Math.exp(-p.trueNll);
  return {
    efficacy: s.prompt.newNll < s.prompt.trueNll,
    efficacyMagnitude: mag(s.prompt),
    paraphrase: s.rephrase ? s.rephrase.newNll < s.rephrase.trueNll : undefined,
    paraphraseMagnitude: s.rephrase ? mag(s.rephrase) : undefined,
    neighbourhood: s.neighbour ? s.neighbour.trueNll < s.neighbour.newNll : undefined,
    neighbourhoodMagnitude: s.neighbour ? -mag(s.neighbour) : undefined,
  };
}

/** Means (×100) over cases of each metric that is defined; S = harmonic mean of ES, PS, NS. */
export function summarize(ms: RomeCaseMetrics[]): Record<string, number> {
  const mean = (xs: (number | boolean | undefined)[]) => {
    const v = xs.filter((x) => x !== undefined).map(Number);
    return v.length ? (100 * v.reduce((a, b) => a + b, 0)) / v.length : NaN;
  };
  const es = mean(ms.map((m) => m.efficacy));
  const ps = mean(ms.map((m) => m.paraphrase));
  const ns = mean(ms.map((m) => m.neighbourhood));
  const parts = [es, ps, ns].filter((x) => !Number.isNaN(x));
  const score = parts.length && parts.every((x) => x > 0) ? parts.length / parts.reduce((a, x) => a + 1 / x, 0) : 0;
  return {
    n: ms.length, ES: es, PS: ps, NS: ns, S: score,
    EM: mean(ms.map((m) => m.efficacyMagnitude)), PM: mean(ms.map((m) => m.paraphraseMagnitude)), NM: mean(ms.map((m) => m.neighbourhoodMagnitude)),
  };
}
