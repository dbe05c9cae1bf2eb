// The ROME/MEMIT CounterFact protocol (kmeng01/rome experiments/py/eval_utils_counterfact.py): for a prompt p and
// candidates, score(p, c) = mean over the tokens of " c" of −log P(token | p, previous tokens). A probe succeeds
// when its primary answer scores better than its comparison (measure.ts):
//   efficacy (ES)      edit prompt:          the new target beats the true answer
//   paraphrase (PS)    rephrase prompts:     the same
//   neighbourhood (NS) neighborhood prompts: their own answer still beats the new target
//   locality.<key>, portability.<key>: the same comparison on every other named probe list (portability only where
//   the data gives the answer before the edit)
// magnitudes EM/PM/NM = P_primary − P_comparison (P = exp(−score)). Per case: mean over its prompts; summary: mean
// over cases ×100; S = harmonic mean of ES, PS, NS.
import { NEIGHBORHOOD } from './cases.js';
import { mean, meanNll, type CaseScores, type ProbeScore } from './measure.js';
import type { CaseMetrics, Protocol } from './protocol.js';

export const ROME_PROTOCOL = 'rome-counterfact-prob';

function success(probes: ProbeScore[] | undefined): number | undefined {
  return mean((probes ?? []).map((p) => (p.comparison ? Number(meanNll(p.primary) < meanNll(p.comparison)) : undefined)));
}

function magnitude(probes: ProbeScore[] | undefined): number | undefined {
  return mean((probes ?? []).map((p) => (p.comparison ? Math.exp(-meanNll(p.primary)) - Math.exp(-meanNll(p.comparison)) : undefined)));
}

export function romeCaseMetrics(s: CaseScores): CaseMetrics {
  const m: CaseMetrics = {
    ES: success(s.rewrite), PS: success(s.rephrase), NS: success(s.locality[NEIGHBORHOOD]),
    EM: magnitude(s.rewrite), PM: magnitude(s.rephrase), NM: magnitude(s.locality[NEIGHBORHOOD]),
  };
  for (const [k, l] of Object.entries(s.locality)) if (k !== NEIGHBORHOOD) m[`locality.${k}`] = success(l);
  for (const [k, l] of Object.entries(s.portability)) m[`portability.${k}`] = success(l);
  return m;
}

/** Harmonic mean of the given percentages (0 when any is 0; undefined parts are left out). */
export function harmonicMean(xs: (number | undefined)[]): number | undefined {
  const v = xs.filter((x): x is number => x !== undefined && !Number.isNaN(x));
  if (v.length === 0) return undefined;
  return v.every((x) => x > 0) ? v.length / v.reduce((a, x) => a + 1 / x, 0) : 0;
}

export const romeProtocol: Protocol = {
  tag: ROME_PROTOCOL,
  description: 'ROME/MEMIT CounterFact: new target vs true answer by mean token NLL (ES/PS/NS), magnitudes EM/PM/NM, S',
  caseMetrics: (_pre, post) => romeCaseMetrics(post),
  derived: (s) => ({ S: harmonicMean([s.ES, s.PS, s.NS]) }),
};

export const FIRST_TOKEN_PROTOCOL = 'rome-first-token';

const firstToken = (probes: ProbeScore[] | undefined) =>
  mean((probes ?? []).map((p) => (p.comparison ? Number(p.primary.logprobs[0] > p.comparison.logprobs[0]) : undefined)));

/**
 * The success definitions of the reference ROME runs in ../shared/data/golden (rome-factgpt.json, rome-kbgpt.json):
 * the first token of the new target more likely than the first token of the true answer on the edit prompt
 * (success_prompt) and the rephrase prompts (success_rephrase); the arg-max next token after each locality prompt
 * unchanged from before the edit (locality_argmax_unchanged); portability: the first token of the post-edit answer
 * more likely than that of the pre-edit one.
 */
export const firstTokenProtocol: Protocol = {
  tag: FIRST_TOKEN_PROTOCOL,
  description: 'reference ROME golden runs: first-token probability comparison; arg-max next token after locality prompts unchanged',
  caseMetrics: (pre, post) => {
    const m: CaseMetrics = { success_prompt: firstToken(post.rewrite), success_rephrase: firstToken(post.rephrase) };
    for (const [k, l] of Object.entries(post.locality)) {
      m[k === NEIGHBORHOOD ? 'locality_argmax_unchanged' : `locality_argmax_unchanged.${k}`] =
        mean(l.map((p, i) => Number(p.primary.argmax[0] === pre.locality[k][i].primary.argmax[0])));
    }
    for (const [k, l] of Object.entries(post.portability)) m[`portability.${k}`] = firstToken(l);
    return m;
  },
  derived: () => ({}),
};
