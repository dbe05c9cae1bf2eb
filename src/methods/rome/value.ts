// The value: a vector v* that, written at the subject's last token of the edit module's output, makes the model
// predict the new target (kmeng01/rome compute_v.py; MEMIT's compute_z.py is the same with the block output).
//   loss(δ) = mean_prompts NLL(target | prompt, h + δ)                      (rewriting prompts, one per template)
//           + kl_factor · KL(P_δ ‖ P_0) at the subject of "{subject} is a"    (essence drift)
//           + weight_decay · ‖δ‖ / ‖h₀‖²
// Adam on δ, projected to ‖δ‖ ≤ clamp_norm_factor · ‖h₀‖ after each step; stops at loss < 5e-2 or after
// num_steps forward passes (the last pass takes no step). v* = h₀ + δ, h₀ = the output at the first prompt.
import { Adam, autograd, cat, klDiv, noGrad, tensor, tidy, keep, zeros, type Tensor } from '../../tensor/index.js';
import { addAt, padBatch, type CausalLM } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import type { NormalizedRequest } from '../request.js';
import type { LossStep } from '../types.js';
import { lookupIndex, type FactToken } from '../locate.js';
import type { ValueCache } from '../value-cache.js';

export interface ValueOptions {
  /** Module whose output receives δ (ROME: the MLP; MEMIT: the block). */
  editModule: string;
  templates: string[];
  factToken: FactToken;
  numSteps: number;
  lr: number;
  weightDecay: number;
  clampNormFactor: number;
  klFactor: number;
  /**
   * Layer whose output the loss reads. Only the last layer (the model's logits; -1 means it) is supported, which is
   * what every published ROME/MEMIT config uses (gpt2-xl 47, gpt-j 27).
   */
  lossLayer: number;
  /** Values already optimised against these weights (see value-cache.ts); only pass one for the unedited model. */
  cache?: ValueCache;
}

export interface ValueResult {
  /** h₀ + δ */
  target: Tensor;
  /** h₀: the edit module's output at the subject of the first prompt before optimisation. */
  initial: Tensor;
  delta: Tensor;
  trace: LossStep[];
  /** Subject positions of every prompt (rewriting prompts, then the KL prompt). */
  lookupIndices: number[];
  /** The value came from the cache (no optimisation ran). */
  cached?: boolean;
}

const KL_PROMPTS = ['{} is a'];

/** Builds the batch: rewriting prompts (template ∘ prompt + target[:-1]) and the KL prompt, right-padded. */
function buildBatch(tok: Tokenizer, request: NormalizedRequest, o: ValueOptions) {
  const targetIds = tok.encode(request.targetNew);
  if (targetIds.length === 0) throw new Error(`edit request ${request.index}: target '${request.targetNew}' encodes to no tokens`);
  const targetPrefix = tok.decode(targetIds.slice(0, -1), { cleanUpTokenizationSpaces: true });
  const prompts = [...o.templates.map((t) => t.replace('{}', request.template) + targetPrefix), ...KL_PROMPTS];
  const ids = prompts.map((p) => tok.encode(p.replace('{}', request.subject)));
  const lookupIndices = prompts.map((p) => lookupIndex(tok, p, request.subject, o.factToken));
  const nRewrite = o.templates.length;
  // targets sit on the last len(target) positions of each rewriting prompt; logits there predict them
  const rows: number[] = [];
  const cols: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < nRewrite; i++) {
    const len = ids[i].length;
    targetIds.forEach((t, j) => {
      rows.push(i);
      cols.push(len - targetIds.length + j);
      labels.push(t);
    });
  }
  const padded = padBatch(ids);
  return {
    targetIds,
    lookupIndices,
    inputIds: padded.ids,
    mask: padded.mask,
    rows, cols, labels, nRewrite,
  };
}

export function optimizeValue(model: CausalLM, tok: Tokenizer, request: NormalizedRequest, o: ValueOptions): ValueResult {
  const b = buildBatch(tok, request, o);
  // everything the optimisation reads, apart from the weights (the cache is scoped to those by its owner)
  const cacheKey = o.cache && JSON.stringify({
    v: 1, module: o.editModule, ids: b.inputIds, mask: b.mask, lookup: b.lookupIndices, rows: b.rows, cols: b.cols, labels: b.labels,
    steps: o.numSteps, lr: o.lr, wd: o.weightDecay, clamp: o.clampNormFactor, kl: o.klFactor, lossLayer: o.lossLayer, dtype: model.dtype,
  });
  const hit = cacheKey ? o.cache!.get(cacheKey) : undefined;
  if (hit) {
    const t = (a: number[]) => tensor(a, { dtype: model.dtype });
    return { target: t(hit.target), initial: t(hit.initial), delta: t(hit.delta), trace: hit.trace, lookupIndices: hit.lookupIndices, cached: true };
  }
  const n = b.inputIds.length;
  const at = { rows: Array.from({ length: n }, (_, i) => i), positions: b.lookupIndices };
  const lastLayer = model.dims.numLayers - 1;
  if (o.lossLayer >= 0 && o.lossLayer !== lastLayer) {
    throw new Error(`v_loss_layer ${o.lossLayer}: only the last layer (${lastLayer}) or -1 is supported (the loss is read from the model's logits)`);
  }
  const delta = keep(zeros([model.dims.hiddenSize], { dtype: 'float32' }).requiresGrad_());
  const opt = new Adam([delta], { lr: o.lr });
  let initial: Tensor | undefined;
  let klInit: Tensor | undefined;
  const trace: LossStep[] = [];
  const idx = {
    rows: tensor(b.rows, { dtype: 'int64' }), cols: tensor(b.cols, { dtype: 'int64' }), labels: tensor(b.labels, { dtype: 'int64' }),
    klRows: tensor(b.lookupIndices.slice(b.nRewrite).map((_, i) => b.nRewrite + i), { dtype: 'int64' }),
    klCols: tensor(b.lookupIndices.slice(b.nRewrite), { dtype: 'int64' }),
  };
  keep(idx);
  try {
    for (let step = 0; step < o.numSteps; step++) {
      const done = tidy(() => {
        const out = model.forward({
          inputIds: b.inputIds,
          attentionMask: b.mask,
          logits: 'none',
          trace: [{
            module: o.editModule,
            retainOutput: false,
            editOutput: (h) => {
              if (initial === undefined) initial = keep(h.select(0, 0).select(0, b.lookupIndices[0]).detach().clone());
              return addAt(at, delta)(h);
            },
          }],
        });
        // the LM head only where the loss reads it: target positions, then the KL prompt's subject position
        const picked = cat([out.hidden.index([idx.rows, idx.cols]), out.hidden.index([idx.klRows, idx.klCols])], 0);
        const logp = model.logitsFrom(picked).logSoftmax(-1);
        const nTargets = b.rows.length;
        const klLogp = logp.narrow(0, nTargets, logp.shape[0] - nTargets);
        if (klInit === undefined) klInit = keep(klLogp.detach().clone());
        const tokenLogp = logp.narrow(0, 0, nTargets).gather(1, idx.labels.unsqueeze(1)).squeeze(1);
        // per-prompt NLL: sum over the target tokens / len(target)
        const perPrompt = zeros([b.nRewrite]).indexAdd(0, idx.rows, tokenLogp).div(-b.targetIds.length);
        const nll = perPrompt.mean();
        const kl = klDiv(klInit, klLogp, { reduction: 'batchmean', logTarget: true }).mul(o.klFactor);
        const wd = delta.norm().div(initial!.norm().square()).mul(o.weightDecay);
        const loss = nll.add(kl).add(wd);
        const record: LossStep = {
          step, loss: loss.item(), nll: nll.item(), kl: kl.item(), weightDecay: wd.item(),
          avgProbTarget: perPrompt.neg().exp().mean().item(),
        };
        trace.push(record);
        if (record.loss < 5e-2 || step === o.numSteps - 1) return true;
        const [g] = autograd.grad(loss, delta);
        delta.grad = g;
        opt.step();
        noGrad(() => {
          const maxNorm = initial!.norm().item() * o.clampNormFactor;
          const norm = delta.norm().item();
          if (norm > maxNorm) delta.mul_(maxNorm / norm);
        });
        return false;
      });
      if (done) break;
    }
    const result: ValueResult = noGrad(() => ({
      target: initial!.add(delta),
      initial: initial!.clone(),
      delta: delta.detach().clone(),
      trace,
      lookupIndices: b.lookupIndices,
    }));
    if (cacheKey) {
      o.cache!.set(cacheKey, {
        target: result.target.toFlatArray(), initial: result.initial.toFlatArray(), delta: result.delta.toFlatArray(),
        trace, lookupIndices: b.lookupIndices,
      });
    }
    return result;
  } finally {
    initial?.dispose();
    delta.dispose();
    opt.dispose();
    klInit?.dispose();
    for (const t of Object.values(idx)) t.dispose();
  }
}

