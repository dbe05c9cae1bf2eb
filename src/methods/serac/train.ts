// SERAC's trainable editor: the scope classifier's projection and the counterfactual model, trained with the
// original's supervised losses (eric-mitchell/serac trainer.py SupervisedTrainer.edit_step; EasyEdit's trainer runs
// the same SERAC module):
//   l_cls  = balanced BCE (losses.py::balanced_bce) of the classifier's log-similarities: positives = (in-scope query,
//            its edit), negatives = (out-of-scope query, edit): each record's locality probes against its own edit
//            (every edit of the batch with use_all_negatives), the other records' rephrases against each edit, and
//            lmedit's `hard_negatives`: other subjects' prompts in the record's own template, from the pool;
//   l_cntr = NLL of target_new under the counterfactual model given `edit + sep + query`, on in-scope queries
//            (the edit prompt itself and its rephrases);
//   loss   = cedit · l_cntr + cloc · l_cls.
// The base model is frozen throughout; its pooled hidden states are the classifier's input (nets.ts).
import { cat, crossEntropy, tensor, type Tensor } from '../../tensor/index.js';
import { rowsAt, targetStates, textModelFor, type EditableModel } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import type { NormalizedRequest } from '../request.js';
import type { ParamGroup, StepContext, StepLoss, TrainableEditor, TrainRecord } from '../trained.js';
import type { SeracHparams } from './hparams.js';
import { counterfactualParams, counterfactualPrompt, loadCounterfactual, ScopeClassifier } from './nets.js';

const EPS = 1.1920928955078125e-7; // torch.finfo(float32).eps, as balanced_bce

/** The locality probes' prompts of a record (every list). */
export function localityPrompts(r: NormalizedRequest): string[] {
  return Object.values(r.locality ?? {}).flatMap((l) => l.map((p) => p.prompt));
}

/** The in-scope queries the counterfactual model is trained and validated on: the edit prompt and its rephrases. */
export function inScopeQueries(r: NormalizedRequest): string[] {
  return [r.text, ...(r.rephrasePrompts ?? [])];
}

interface Pair { query: number; edit: number }

/**
 * lmedit's hard negatives (`hard_negatives` per record): prompts of other subjects' pool records written with the
 * same template as the record ("{} was born in" of another person), drawn with the step's seeded stream.
 */
export function hardNegatives(batch: readonly NormalizedRequest[], pool: readonly NormalizedRequest[], k: number, rand: () => number): string[][] {
  if (k === 0) return [];
  return batch.map((r) => {
    const same = pool.filter((o) => o.template === r.template && o.subject !== r.subject);
    const out: string[] = [];
    for (let n = 0; n < k && same.length; n++) out.push(same[Math.floor(rand() * same.length)].text);
    return out;
  });
}

/** Classifier pairs of a batch: positives (rephrase, own edit), negatives (locality / other records' rephrases, edit). */
export function classifierPairs(batch: readonly NormalizedRequest[], allNegatives: boolean, hard: readonly string[][] = []): { queries: string[]; pos: Pair[]; neg: Pair[] } {
  const queries: string[] = [];
  const at = (q: string) => { let i = queries.indexOf(q); if (i < 0) i = queries.push(q) - 1; return i; };
  const pos: Pair[] = [];
  const neg: Pair[] = [];
  batch.forEach((r, i) => {
    for (const q of r.rephrasePrompts ?? []) {
      const qi = at(q);
      pos.push({ query: qi, edit: i });
      batch.forEach((o, j) => { if (j !== i && o.text !== r.text) neg.push({ query: qi, edit: j }); });
    }
    for (const q of localityPrompts(r)) {
      const qi = at(q);
      if (allNegatives) batch.forEach((_, j) => neg.push({ query: qi, edit: j }));
      else neg.push({ query: qi, edit: i });
    }
    for (const q of hard[i] ?? []) neg.push({ query: at(q), edit: i });
  });
  return { queries, pos, neg };
}

export class SeracEditor implements TrainableEditor {
  readonly classifier: ScopeClassifier;
  readonly cntr: EditableModel;
  private readonly ownsCntr: boolean;

  constructor(readonly base: EditableModel, readonly h: SeracHparams, readonly tokenizer: Tokenizer, seed: number) {
    this.classifier = new ScopeClassifier(base, tokenizer, h, seed);
    const c = loadCounterfactual(base, h, tokenizer);
    this.cntr = c.model;
    this.ownsCntr = c.owned;
  }

  groups(): ParamGroup[] {
    const out: ParamGroup[] = [{ name: 'classifier', params: this.classifier.params, lr: this.h.cls_lr || this.h.lr }];
    if (this.ownsCntr) out.push({ name: 'counterfactual', params: counterfactualParams(this.cntr, this.h), lr: this.h.lr });
    return out;
  }

  buffers(): Map<string, Tensor> {
    return new Map();
  }

  meta(): Record<string, unknown> {
    return { classifier: 'base-pooled', cls_layer: this.h.cls_layer, cls_pool: this.h.cls_pool, counterfactual: this.ownsCntr ? (this.h.small_name || 'copy of the base model') : 'base (frozen)' };
  }

  /** Balanced BCE of the classifier on a batch, with its accuracies. */
  classifierLoss(batch: readonly NormalizedRequest[], ctx?: StepContext): { loss: Tensor; posAcc: number; negAcc: number } {
    const hard = ctx ? hardNegatives(batch, ctx.pool, this.h.hard_negatives, ctx.rand) : [];
    const { queries, pos, neg } = classifierPairs(batch, this.h.use_all_negatives, hard);
    const keys = this.classifier.embed(batch.map((r) => r.text));
    const logSims = this.classifier.logSims(this.classifier.embed(queries), keys);
    const pick = (ps: Pair[]) => logSims.index([tensor(ps.map((p) => p.query), { dtype: 'int64' }), tensor(ps.map((p) => p.edit), { dtype: 'int64' })]);
    const parts: Tensor[] = [];
    let posAcc = NaN;
    let negAcc = NaN;
    if (pos.length) {
      const lp = pick(pos);
      parts.push(lp.mean().neg());
      posAcc = mean(lp.toFlatArray().map((x) => (Math.exp(x) > 0.5 ? 1 : 0)));
    }
    if (neg.length) {
      const ln = pick(neg);
      parts.push(ln.exp().rsub(1).clamp(EPS).log().mean().neg());
      negAcc = mean(ln.toFlatArray().map((x) => (Math.exp(x) < 0.5 ? 1 : 0)));
    }
    const loss = parts.length === 2 ? parts[0].add(parts[1]) : parts.length === 1 ? parts[0] : tensor(0);
    return { loss, posAcc, negAcc };
  }

  /** Mean NLL of target_new under the counterfactual model on in-scope queries, and the share of rows fully right. */
  counterfactualLoss(batch: readonly NormalizedRequest[]): { loss: Tensor; acc: number } {
    const prompts: number[][] = [];
    const targets: number[][] = [];
    for (const r of batch) {
      const target = this.tokenizer.encode(r.targetNew);
      for (const q of inScopeQueries(r)) {
        prompts.push(this.tokenizer.encode(counterfactualPrompt({ prompt: r.text, targetNew: r.targetNew }, q, this.h.cntr_sep)));
        targets.push(target);
      }
    }
    // the states that predict the target (causal: prompt ⧺ target; a T5 counterfactual model: its decoder)
    const pass = targetStates(this.cntr, prompts, targets, { withoutPatches: true });
    const owner = targets.flatMap((t, i) => t.map(() => i));
    const logits = this.cntr.logitsFrom(cat(rowsAt(pass.hidden, pass.positions), 0)).to('float32');
    const target = tensor(targets.flat(), { dtype: 'int64' });
    const loss = crossEntropy(logits, target);
    const right = logits.argmax(-1).eq(target).toFlatArray();
    const ok = prompts.map(() => true);
    owner.forEach((o, k) => { if (!right[k]) ok[o] = false; });
    return { loss, acc: mean(ok.map((x) => (x ? 1 : 0))) };
  }

  loss(batch: TrainRecord[], ctx?: StepContext): StepLoss {
    const cls = this.classifierLoss(batch, ctx);
    const cntr = this.counterfactualLoss(batch);
    const loss = cntr.loss.mul(this.h.cedit).add(cls.loss.mul(this.h.cloc));
    return {
      loss,
      metrics: {
        loss_cls: cls.loss.item(), loss_cntr: cntr.loss.item(), cls_pos_acc: cls.posAcc, cls_neg_acc: cls.negAcc,
        cls_acc: (cls.posAcc + cls.negAcc) / 2, cntr_acc: cntr.acc,
      },
    };
  }

  /**
   * Each record edited alone (a memory of one edit): an in-scope query succeeds when it is routed (score > 0.5) and
   * the counterfactual model's argmax is target_new at every token; an out-of-scope probe is kept when not routed.
   */
  validate(records: TrainRecord[]): Record<string, number> {
    const keys = this.classifier.embed(records.map((r) => r.text));
    const routedTo = (qs: string[], i: number) => {
      if (!qs.length) return [];
      const ls = this.classifier.logSims(this.classifier.embed(qs), keys.select(0, i).unsqueeze(0)).toFlatArray();
      return ls.map((x) => Math.exp(x) > 0.5);
    };
    const text = textModelFor(this.cntr, this.tokenizer);
    const success: number[] = [];
    const rewrite: number[] = [];
    const routedIn: number[] = [];
    const kept: number[] = [];
    records.forEach((r, i) => {
      const qs = inScopeQueries(r);
      const routed = routedTo(qs, i);
      const target = this.tokenizer.encode(r.targetNew);
      const scores = text.score(qs.map((q) => ({ prompt: counterfactualPrompt({ prompt: r.text, targetNew: r.targetNew }, q, this.h.cntr_sep), continuation: r.targetNew })));
      qs.forEach((_, k) => {
        const ok = routed[k] && scores[k].argmax.every((t, j) => t === target[j]) ? 1 : 0;
        success.push(ok);
        if (k === 0) rewrite.push(ok);
        routedIn.push(routed[k] ? 1 : 0);
      });
      for (const x of routedTo(localityPrompts(r), i)) kept.push(x ? 0 : 1);
    });
    const es = mean(success);
    const loc = kept.length ? mean(kept) : 1;
    return { edit_success: es, rewrite_success: mean(rewrite), in_scope_routed: mean(routedIn), loc_retain: loc, es_loc: (es + loc) / 2 };
  }

  dispose(): void {
    this.classifier.dispose();
    if (this.ownsCntr) this.cntr.dispose();
  }
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}
