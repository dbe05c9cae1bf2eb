// KE: KnowledgeEditor (De Cao, Aziz & Titov, EMNLP 2021, "Editing Factual Knowledge in Language Models";
// nicola-decao/KnowledgeEditor). A hypernetwork trained beforehand (`lmedit train --method KE`) turns an edit's
// fine-tuning gradient ∇ into a weight update Δ = max_scale · σ(c) · (∇ ⊙ A + B), A, B and c conditioned on a BiLSTM
// encoding of "{old} >> {new} || {prompt}" (learner.ts, conditioned.ts, lstm.ts; training in editor.ts;
// docs/ke.md). An edit is weight deltas; several requests at once: each request's Δ is computed against the same
// weights and the deltas are summed (the original edits one fact per call).
import { keep, noGrad, tidy, type Tensor } from '../../tensor/index.js';
import type { EditMethod, MethodSession, WeightDelta } from '../types.js';
import { loadTrainedEditor } from '../trained.js';
import { checkKeHparams, KE_SCHEMA, type KeHparams } from './hparams.js';
import { KeEditor, requestDeltas } from './editor.js';
import { requireCausal } from '../architecture.js';

export { KeEditor, editGradients, requestDeltas } from './editor.js';
export { KeLearner, conditionText } from './learner.js';
export { keUpdate, conditionerFactors, conditionedDelta } from './conditioned.js';
export { biLstm, lstmCell } from './lstm.js';
export { KE_SCHEMA, keParamName, type KeHparams } from './hparams.js';

export const ke: EditMethod<KeHparams> = {
  name: 'KE',
  schema: KE_SCHEMA,
  batching: 'batch',

  check(anyModel, h, source) {
    const model = requireCausal(anyModel, 'KE');
    checkKeHparams(model, h, source);
  },

  open(anyModel, h, ctx): MethodSession {
    const model = requireCausal(anyModel, 'KE');
    const editor = new KeEditor(model, ctx.tokenizer, h, h.seed);
    try {
      loadTrainedEditor(h.archive, 'KE', model, editor);
    } catch (e) {
      editor.dispose();
      throw e;
    }
    return {
      compute(requests) {
        const started = performance.now();
        const norms: number[] = [];
        const sums = tidy(() => noGrad(() => {
          const per = requestDeltas(model, ctx.tokenizer, editor.learner, requests);
          per.forEach((d) => norms.push(Math.sqrt([...d.values()].reduce((s, t) => s + t.square().sum().item(), 0))));
          const total = new Map<string, Tensor>();
          for (const d of per) for (const [n, t] of d) total.set(n, total.has(n) ? total.get(n)!.add(t) : t);
          return keep(total);
        }));
        const deltas: WeightDelta[] = [...sums].map(([param, dense]) => ({ param, dense }));
        const seconds = (performance.now() - started) / 1000;
        return {
          deltas,
          statsKeys: [],
          diagnostics: requests.map((r, i) => ({ caseId: r.caseId, prompt: r.text, targetNew: r.targetNew, seconds: seconds / requests.length, norms: { delta: norms[i] } })),
        };
      },
      dispose: () => editor.dispose(),
    };
  },

  trained: {
    name: 'KE',
    create: (model, h, { tokenizer, seed }) => new KeEditor(requireCausal(model, 'KE'), tokenizer, h, seed),
  },
};
