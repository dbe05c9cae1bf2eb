// EasyEdit's token protocol (easyeditor/evaluate/evaluate_utils.py::test_prediction_acc and
// compute_locality_quality): teacher-forced on prompt + " " + answer, the share of answer tokens the model predicts
// (arg-max at the position before each):
//   reliability           on the edit prompt with the new target
//   generalization        on the rephrase prompts with the new target
//   portability.<key>     on each portability probe with its post-edit answer
//   locality.<key>        the share of arg-max predictions (teacher-forced with the probe's answer) unchanged from
//                         before the edit — not correctness
// Aggregation as EasyEdit's summary_metrics: per case the mean over its prompts of a key, then the mean over cases
// ×100; `locality` and `portability` are the mean over keys of the key means (the KnowEdit script's headline).
//
// ROME's own zsRE protocol (experiments/py/eval_utils_zsre.py) is the same teacher-forced accuracy on the edit and
// paraphrase prompts, and the *absolute* token accuracy of the neighbourhood answer (specificity); score =
// harmonic mean.
import { NEIGHBORHOOD } from './cases.js';
import { mean, tokenAccuracy, unchangedShare, type CaseScores, type ProbeScore } from './measure.js';
import { harmonicMean } from './rome-protocol.js';
import type { CaseMetrics, Protocol } from './protocol.js';

export const EASYEDIT_PROTOCOL = 'easyedit-token';
export const ROME_ZSRE_PROTOCOL = 'rome-zsre-token';

const acc = (probes: ProbeScore[] | undefined) => mean((probes ?? []).map((p) => tokenAccuracy(p.primary)));

export function easyEditCaseMetrics(pre: CaseScores, post: CaseScores): CaseMetrics {
  const m: CaseMetrics = { reliability: acc(post.rewrite), generalization: acc(post.rephrase) };
  for (const [k, l] of Object.entries(post.locality)) {
    const before = pre.locality[k];
    if (!before || before.length !== l.length) throw new Error(`locality '${k}': the pre-edit measurement has different probes`);
    m[`locality.${k}`] = mean(l.map((p, i) => unchangedShare(before[i].primary, p.primary)));
  }
  for (const [k, l] of Object.entries(post.portability)) m[`portability.${k}`] = acc(l);
  return m;
}

const keyMean = (s: Record<string, number | undefined>, prefix: string) =>
  mean(Object.entries(s).filter(([k]) => k.startsWith(prefix)).map(([, v]) => v));

export const easyEditProtocol: Protocol = {
  tag: EASYEDIT_PROTOCOL,
  description: 'EasyEdit: teacher-forced token accuracy (reliability, generalization, portability); locality = share of predictions unchanged',
  caseMetrics: easyEditCaseMetrics,
  derived: (s) => ({ locality: keyMean(s, 'locality.'), portability: keyMean(s, 'portability.') }),
};

export const romeZsreProtocol: Protocol = {
  tag: ROME_ZSRE_PROTOCOL,
  description: "ROME's zsRE: token accuracy on edit (efficacy) and paraphrase prompts, absolute neighbourhood answer accuracy (specificity)",
  caseMetrics: (_pre, post) => ({ efficacy: acc(post.rewrite), paraphrase: acc(post.rephrase), specificity: acc(post.locality[NEIGHBORHOOD]) }),
  derived: (s) => ({ score: harmonicMean([s.efficacy, s.paraphrase, s.specificity]) }),
};
