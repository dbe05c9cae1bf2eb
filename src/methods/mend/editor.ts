// The MEND editor (EasyEdit easyeditor/trainer/algs/MEND.py MEND.edit; eric-mitchell/mend algs/mend.py): for each
// inner weight W of a layer, the factors (x_t, δ_t) of the edit loss's gradient are transformed by the weight's
// gradient transform into (x̃_t, δ̃_t), and the edit is W' = W − α_W Σ_t x̃_t δ̃_tᵀ (in W's layout) with a learned
// per-weight rate α_W (initialised to edit_lr). A batch of edits is one edit loss, the sum of the requests' mean
// target NLLs, so its pseudo-gradients are summed over requests and tokens.
//
// Training (loss): the edited weights go into the base model as parameterOverrides (the base is frozen), and
//   L = cedit · NLL(target_new | edit prompt and rephrases; W') + cloc · KL(p_W ‖ p_W') on locality prompts,
// differentiated through the transform and the rates (the factors themselves carry no graph, as the original's hooks
// detach them). The running normalisation statistics are updated with every training batch's factor rows.
import { Generator, cat, keep, noGrad, tensor, tidy, type Tensor } from '../../tensor/index.js';
import { rowsAt, type EditableModel } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import { withLeadingSpace, type NormalizedRequest } from '../request.js';
import type { ParamGroup, StepContext, StepLoss, TrainableEditor, TrainRecord } from '../trained.js';
import { GradientTransform } from './nets.js';
import { factorDims, gradientFactors, pseudoGradient, targetNll, targetPass, targetRows, type TargetRows } from './factors.js';
import { moduleOf, type MendHparams } from './hparams.js';

interface Entry {
  param: string;
  module: string;
  transform: GradientTransform;
  /** Index of the weight in its shared transform (mode embeddings), undefined when not shared. */
  mode?: number;
  conv: boolean;
}

export class MendEditor implements TrainableEditor {
  readonly entries: Entry[];
  readonly transforms = new Map<string, GradientTransform>();
  /** One learned edit rate per inner weight, in the model's parameter order (EasyEdit's edit_lrs). */
  readonly editLrs: Tensor;
  private readonly modules: string[];

  constructor(readonly model: EditableModel, readonly h: MendHparams, readonly tok: Tokenizer, seed: number) {
    const gen = new Generator(seed);
    const order = model.parameterNames().filter((n) => h.inner_params.includes(n));
    const shapeKey = (s: number[]) => s.join('x');
    const byShape = new Map<string, string[]>();
    for (const p of order) {
      const k = shapeKey(model.parameter(p).shape);
      byShape.set(k, [...(byShape.get(k) ?? []), p]);
    }
    const cfg = { rank: h.rank, n_hidden: h.n_hidden, init: h.init, norm: h.norm, combine: h.combine, x_only: h.x_only, delta_only: h.delta_only, one_sided: h.one_sided };
    this.entries = order.map((p) => {
      const shape = model.parameter(p).shape;
      const { xDim, deltaDim, conv } = factorDims(model.modelType, shape);
      const key = h.shared ? shapeKey(shape) : p.replace(/\./g, '#');
      let t = this.transforms.get(key);
      if (!t) {
        t = new GradientTransform(key, xDim, deltaDim, cfg, gen, h.shared ? byShape.get(key)!.length : undefined);
        this.transforms.set(key, t);
      }
      return { param: p, module: moduleOf(p), transform: t, mode: h.shared ? byShape.get(key)!.indexOf(p) : undefined, conv };
    });
    this.modules = [...new Set(this.entries.map((e) => e.module))];
    this.editLrs = keep(tensor(this.entries.map(() => h.edit_lr))).requiresGrad_(true);
  }

  groups(): ParamGroup[] {
    const net = new Map<string, Tensor>();
    for (const t of this.transforms.values()) for (const [n, p] of t.params()) net.set(n, p);
    return [
      { name: 'mend', params: net, lr: this.h.lr },
      { name: 'edit_lrs', params: new Map([['edit_lrs', this.editLrs]]), lr: this.h.lr_lr },
    ];
  }

  buffers(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const t of this.transforms.values()) for (const [n, b] of t.buffers()) out.set(n, b);
    return out;
  }

  /** Whether every transform has the statistics it normalises with (false before the first training step). */
  ready(): boolean {
    return !this.h.norm || [...this.transforms.values()].every((t) => t.k.item() >= 2);
  }

  /**
   * The change to add to each inner weight for the requests (one batch edit), in the weight's layout: −α ΔW with
   * descent, +α ΔW without. `train` updates the normalisation statistics; the graph to the editor is kept either way
   * (callers that only edit run it under noGrad).
   */
  updates(requests: readonly NormalizedRequest[], train: boolean): Map<string, Tensor> {
    const rows = targetRows(this.tok, requests.map((r) => ({ prompt: r.text, target: r.targetNew })));
    const { factors } = gradientFactors(this.model, this.modules, rows, (pass) => targetNll(this.model, pass, rows).nll.sum());
    const sign = this.h.descent ? -1 : 1;
    const out = new Map<string, Tensor>();
    try {
      this.entries.forEach((e, i) => {
        const f = factors.get(e.module)!;
        if (train) e.transform.observe(f.x, f.delta);
        const { x, delta } = e.transform.forward(f.x, f.delta, e.mode);
        const g = pseudoGradient(x, delta, e.conv);
        out.set(e.param, g.mul(this.editLrs.select(0, i).mul(sign)).to(this.model.parameter(e.param).dtype));
      });
    } finally {
      for (const f of factors.values()) { f.x.dispose(); f.delta.dispose(); }
    }
    return out;
  }

  /** Edited weights W + update as parameterOverrides. */
  private overrides(updates: Map<string, Tensor>): Map<string, Tensor> {
    return new Map([...updates].map(([p, u]) => [p, this.model.parameter(p).add(u)]));
  }

  /** Rows of the edit loss: each record's edit prompt and its rephrases, with target_new. */
  private outerRows(batch: readonly NormalizedRequest[]) {
    return targetRows(this.tok, batch.flatMap((r) => [r.text, ...(r.rephrasePrompts ?? [])].map((p) => ({ prompt: p, target: r.targetNew }))));
  }

  /**
   * Locality probes as token rows prompt + true answer, with the positions that predict the answer's tokens (the KL is
   * taken there; the original takes it at every token of its locality inputs).
   */
  private localityRows(batch: readonly NormalizedRequest[], ctx?: StepContext): TargetRows {
    let probes = batch.flatMap((r) => Object.values(r.locality ?? {}).flat());
    if (probes.length === 0 && ctx && ctx.pool.length > 0) {
      const other = ctx.pool[Math.floor(ctx.rand() * ctx.pool.length)];
      probes = [{ prompt: other.text, groundTruth: other.groundTruth ?? other.targetNew }];
    }
    return targetRows(this.tok, probes.map((p) => ({ prompt: p.prompt, target: withLeadingSpace(p.groundTruth) })));
  }

  /** Mean over the answer positions of KL(base ‖ edited), and the fraction of them whose argmax did not move. */
  private localityKl(t: TargetRows, overrides: Map<string, Tensor>): { kl: Tensor; kept: number } {
    const logp = (o?: Map<string, Tensor>) => {
      const pass = targetPass(this.model, t, { parameterOverrides: o });
      return this.model.logitsFrom(cat(rowsAt(pass.hidden, pass.positions), 0)).to('float32').logSoftmax(-1);
    };
    const pre = noGrad(() => logp());
    const post = logp(overrides);
    const kl = pre.exp().mul(pre.sub(post)).sum(-1).mean();
    const kept = noGrad(() => pre.argmax(-1).eq(post.argmax(-1)).to('float32').mean().item());
    return { kl, kept };
  }

  loss(batch: TrainRecord[], ctx: StepContext): StepLoss {
    const upd = this.updates(batch, true);
    const o = this.overrides(upd);
    const outer = this.outerRows(batch);
    const { nll, correct } = targetNll(this.model, targetPass(this.model, outer, { parameterOverrides: o }), outer);
    const lEdit = nll.mean();
    const loc = this.localityRows(batch, ctx);
    const { kl, kept } = loc.prompts.length ? this.localityKl(loc, o) : { kl: lEdit.mul(0), kept: 1 };
    const total = lEdit.mul(this.h.cedit).add(kl.mul(this.h.cloc));
    const firsts = firstRowFlags(batch);
    const lrs = noGrad(() => this.editLrs.toFlatArray() as number[]);
    return {
      loss: total,
      metrics: {
        'loss/edit': lEdit.item(), 'loss/loc': kl.item(), 'loss/total_edit': total.item(),
        'edit/acc': mean(correct.filter((_, i) => firsts[i])), 'rephrase/acc': mean(correct.filter((_, i) => !firsts[i])),
        'loc/kept': kept, edit_lr: Array.from(lrs).reduce((s, x) => s + x, 0) / lrs.length,
      },
    };
  }

  /** One record edited alone against the unedited base: the validation numbers of that edit. */
  private validateOne(r: TrainRecord): Record<string, number> {
    return tidy(() => {
      const upd = this.updates([r], false);
      return noGrad(() => {
        const o = this.overrides(upd);
        const outer = this.outerRows([r]);
        const { nll, correct } = targetNll(this.model, targetPass(this.model, outer, { parameterOverrides: o }), outer);
        const loc = this.localityRows([r]);
        const { kl, kept } = loc.prompts.length ? this.localityKl(loc, o) : { kl: nll.mul(0).sum(), kept: 1 };
        const lEdit = nll.mean().item();
        const lLoc = kl.item();
        return {
          edit_success: correct[0] ? 1 : 0, rephrase_success: correct.length > 1 ? mean(correct.slice(1)) : correct[0] ? 1 : 0,
          locality: kept, 'loss/edit_val': lEdit, 'loss/loc_val': lLoc, 'loss/total_edit_val': this.h.cedit * lEdit + this.h.cloc * lLoc,
        };
      });
    });
  }

  validate(records: TrainRecord[]): Record<string, number> {
    if (!this.ready() || records.length === 0) {
      return { edit_success: 0, rephrase_success: 0, locality: 0, score: 0, n: records.length };
    }
    const sums: Record<string, number> = {};
    for (const r of records) for (const [k, v] of Object.entries(this.validateOne(r))) sums[k] = (sums[k] ?? 0) + v;
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(sums)) out[k] = v / records.length;
    out.score = (out.edit_success + out.rephrase_success + out.locality) / 3;
    out.n = records.length;
    return out;
  }

  meta(): Record<string, unknown> {
    return {
      inner_params: this.entries.map((e) => e.param),
      transforms: [...this.transforms.values()].map((t) => ({ name: t.name, x_dim: t.xDim, delta_dim: t.deltaDim })),
      edit_lrs: Array.from(noGrad(() => this.editLrs.toFlatArray() as number[])),
    };
  }

  dispose(): void {
    for (const g of this.groups()) for (const t of g.params.values()) t.dispose();
    for (const t of this.buffers().values()) t.dispose();
  }
}

/** For the outer rows of a batch (edit prompt, then its rephrases, per record): true at each record's edit prompt. */
function firstRowFlags(batch: readonly NormalizedRequest[]): boolean[] {
  return batch.flatMap((r) => [true, ...(r.rephrasePrompts ?? []).map(() => false)]);
}

function mean(xs: boolean[]): number {
  return xs.length ? xs.filter(Boolean).length / xs.length : 0;
}
