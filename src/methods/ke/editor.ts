// KE's trainable editor and the edit itself (nicola-decao/KnowledgeEditor src/models/bart_seq2seq_augmented_kilt.py):
//   ∇   = gradient of the edit's mean NLL (prompt → target_new) w.r.t. each edited weight, at the current weights
//   Δ   = max_scale · σ(c) · (∇ ⊙ A + B) per weight, A, B, c from the BiLSTM condition (learner.ts)
//   training: minimise  cr + α_kl·(KL − margin_kl)  [+ α_lp·(LP − margin_lp)]  over the learner, maximise it over the
//   multipliers α (ParamGroup.maximize; clamped at 0 as the original's on_before_zero_grad does); cr = label-smoothed
//   NLL of target_new on the edit prompt and its rephrases (the original's views), KL(p_orig ‖ p_edited) on inputs
//   that must not change (the record's locality probes, teacher-forced on their true answers), LP = mean over weights
//   of (mean |Δ|^p)^(1/p). Validation shrinks the margins by margin_decay (floored at the _min values) when the edit
//   success exceeds flip_threshold, as the original's on_validation_epoch_end does.
import { autograd, enableGrad, keep, noGrad, tensor, tidy, type Tensor } from '../../tensor/index.js';
import type { CausalLM } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import type { NormalizedRequest, PromptAnswer } from '../request.js';
import type { ParamGroup, StepContext, StepLoss, TrainableEditor, TrainRecord } from '../trained.js';
import { KeLearner } from './learner.js';
import type { KeHparams } from './hparams.js';
import { answerHits, answerLogProbs, answerRows, argmaxTokens, klFromOriginal, labelTensor, meanNll, smoothedNll, type AnswerRows } from './losses.js';

/** ∇ of the edit's mean target NLL w.r.t. the named weights, at the model's current weights (detached). */
export function editGradients(model: CausalLM, tok: Tokenizer, r: NormalizedRequest, names: string[]): Map<string, Tensor> {
  const params = names.map((n) => model.parameter(n));
  return enableGrad(() => {
    params.forEach((p) => p.requiresGrad_(true));
    try {
      const a = answerRows(tok, [{ prompt: r.text, answer: r.targetNew }]);
      const logp = answerLogProbs(model, a);
      const grads = autograd.grad(meanNll(logp, labelTensor(a, logp)), params);
      return new Map(names.map((n, i) => [n, grads[i]!.detach()]));
    } finally {
      params.forEach((p) => p.requiresGrad_(false));
    }
  });
}

/** Per-request Δ maps (differentiable w.r.t. the learner when grad is on). */
export function requestDeltas(model: CausalLM, tok: Tokenizer, learner: KeLearner, requests: NormalizedRequest[]): Map<string, Tensor>[] {
  const names = [...learner.conditioners.keys()];
  const grads = requests.map((r) => editGradients(model, tok, r, names));
  const cond = learner.conditions(tok, requests);
  return requests.map((_, i) => learner.deltas(cond.select(0, i), grads[i]));
}

/** W + Δ for every edited weight (fast weights for parameterOverrides). */
function fastWeights(model: CausalLM, deltas: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  return new Map([...deltas].map(([n, d]) => [n, model.parameter(n).add(d)]));
}

function lpNorm(deltas: ReadonlyMap<string, Tensor>, p: number): Tensor {
  const terms = [...deltas.values()].map((d) => d.abs().pow(p).mean().pow(1 / p));
  return terms.reduce((s, t) => s.add(t)).div(terms.length);
}

/** The rows a record is trained and validated on. */
interface RecordRows {
  /** the edit prompt first, then its views (rephrases) when use_views */
  views: AnswerRows;
  locality: AnswerRows | null;
  /** views then locality, for one forward with the edit's fast weights */
  all: AnswerRows;
}

/** The other records' edit prompts with their true answers: the original's locality inputs (the batch's other items). */
function othersAsLocality(records: TrainRecord[], i: number): PromptAnswer[] {
  return records.filter((o, j) => j !== i && o.groundTruth).map((o) => ({ prompt: o.text, groundTruth: o.groundTruth! }));
}

function recordRows(tok: Tokenizer, r: TrainRecord, useViews: boolean, extra: PromptAnswer[] = []): RecordRows {
  const prompts = [r.text, ...(useViews ? r.rephrasePrompts ?? [] : [])];
  const views = answerRows(tok, prompts.map((prompt) => ({ prompt, answer: r.targetNew })));
  const loc = [...Object.values(r.locality ?? {}).flat(), ...extra].map((q) => ({ prompt: q.prompt, answer: ` ${q.groundTruth.trim()}` }));
  const all = answerRows(tok, [...prompts.map((prompt) => ({ prompt, answer: r.targetNew })), ...loc]);
  return { views, locality: loc.length ? answerRows(tok, loc) : null, all };
}

export class KeEditor implements TrainableEditor {
  readonly learner: KeLearner;
  readonly alphaKl: Tensor;
  readonly alphaLp: Tensor;
  readonly marginKl: Tensor;
  readonly marginLp: Tensor;

  constructor(readonly model: CausalLM, readonly tok: Tokenizer, readonly h: KeHparams, seed: number) {
    this.learner = new KeLearner(model, h, seed);
    for (const t of this.learner.tensors().values()) t.requiresGrad_(true);
    this.alphaKl = keep(tensor(1)).requiresGrad_(true);
    this.alphaLp = keep(tensor(1)).requiresGrad_(true);
    this.marginKl = keep(tensor(h.margin_kl_max));
    this.marginLp = keep(tensor(h.margin_lp_max));
  }

  groups(): ParamGroup[] {
    return [
      { name: 'learner', params: this.learner.tensors(), lr: this.h.lr },
      { name: 'alpha', params: new Map([['alpha_kl', this.alphaKl], ['alpha_lp', this.alphaLp]]), lr: this.h.lr_alpha, maximize: true },
    ];
  }

  buffers(): Map<string, Tensor> {
    return new Map([['margin_kl', this.marginKl], ['margin_lp', this.marginLp]]);
  }

  meta(): Record<string, unknown> {
    return { params: [...this.learner.conditioners.keys()] };
  }

  loss(batch: TrainRecord[], _ctx: StepContext): StepLoss {
    // the original clamps the multipliers at 0 after every optimiser step; here before they are next used
    noGrad(() => [this.alphaKl, this.alphaLp].forEach((a) => a.clamp_(0, null)));
    const deltas = requestDeltas(this.model, this.tok, this.learner, batch);
    const m = { cr: 0, kl: 0, lp: 0, edit_acc: 0 };
    const losses = batch.map((r, i) => {
      const rows = recordRows(this.tok, r, this.h.use_views, this.h.batch_locality ? othersAsLocality(batch, i) : []);
      const logp = answerLogProbs(this.model, rows.all, fastWeights(this.model, deltas[i]));
      const nView = rows.views.label.length;
      const views = logp.narrow(0, 0, nView);
      const cr = smoothedNll(views, labelTensor(rows.views, logp), this.h.eps);
      m.edit_acc += answerHits(views, rows.views).tokenAcc[0] / batch.length;
      m.cr += cr.item() / batch.length;
      let loss = cr;
      if (this.h.divergences !== 'lp' && rows.locality) {
        const orig = noGrad(() => answerLogProbs(this.model, rows.locality!));
        const kl = klFromOriginal(orig, logp.narrow(0, nView, logp.shape[0] - nView));
        m.kl += kl.item() / batch.length;
        loss = loss.add(this.alphaKl.mul(kl.sub(this.marginKl)));
      }
      if (this.h.divergences !== 'kl') {
        const lp = lpNorm(deltas[i], this.h.p);
        m.lp += lp.item() / batch.length;
        loss = loss.add(this.alphaLp.mul(lp.sub(this.marginLp)));
      }
      return loss;
    });
    const loss = losses.reduce((s, l) => s.add(l)).div(batch.length);
    return { loss, metrics: { ...m, alpha_kl: this.alphaKl.item(), alpha_lp: this.alphaLp.item(), margin_kl: this.marginKl.item(), margin_lp: this.marginLp.item() } };
  }

  validate(records: TrainRecord[]): Record<string, number> {
    let edit = 0;
    let editTok = 0;
    let views = 0;
    let viewCount = 0;
    let kept = 0;
    let keptCount = 0;
    let kl = 0;
    const relation = (r: TrainRecord) => String(r.caseId ?? '').split(':').pop();
    records.forEach((r, i) => {
      tidy(() => noGrad(() => {
        const [d] = requestDeltas(this.model, this.tok, this.learner, [r]);
        // besides the record's own probes, the next record of the same relation (another person's fact), as
        // the batch's other items are in training
        const same = records.slice(i + 1).concat(records.slice(0, i)).find((o) => relation(o) === relation(r) && o.subject !== r.subject && o.groundTruth);
        const rows = recordRows(this.tok, r, true, same ? [{ prompt: same.text, groundTruth: same.groundTruth! }] : []);
        const logp = answerLogProbs(this.model, rows.all, fastWeights(this.model, d));
        const nView = rows.views.label.length;
        const hits = answerHits(logp.narrow(0, 0, nView), rows.views);
        edit += hits.exact[0] ? 1 : 0;
        editTok += hits.tokenAcc[0];
        hits.exact.slice(1).forEach((x) => { views += x ? 1 : 0; viewCount++; });
        if (rows.locality) {
          const orig = answerLogProbs(this.model, rows.locality);
          const now = logp.narrow(0, nView, logp.shape[0] - nView);
          const a = argmaxTokens(orig);
          const b = argmaxTokens(now);
          a.forEach((x, i) => { kept += x === b[i] ? 1 : 0; keptCount++; });
          kl += klFromOriginal(orig, now).item();
        }
      }));
    });
    const n = records.length;
    const out: Record<string, number> = {
      edit_success: edit / n,
      edit_token_acc: editTok / n,
      rephrase_success: viewCount ? views / viewCount : 0,
      locality_kept: keptCount ? kept / keptCount : 1,
      kl: kl / n,
    };
    out.valid_acc = (out.edit_success + out.rephrase_success + out.locality_kept) / 3;
    this.decayMargins(out.edit_success);
    return { ...out, margin_kl: this.marginKl.item(), margin_lp: this.marginLp.item() };
  }

  /** The original's on_validation_epoch_end: margins × margin_decay when edits flip often enough. */
  private decayMargins(flipped: number): void {
    if (flipped <= this.h.flip_threshold) return;
    noGrad(() => {
      this.marginKl.fill_(Math.max(this.marginKl.item() * this.h.margin_decay, this.h.margin_kl_min));
      this.marginLp.fill_(Math.max(this.marginLp.item() * this.h.margin_decay, this.h.margin_lp_min));
    });
  }

  dispose(): void {
    this.learner.dispose();
    [this.alphaKl, this.alphaLp, this.marginKl, this.marginLp].forEach((t) => t.dispose());
  }
}

