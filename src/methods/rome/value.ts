// The value: a vector v* that, written at the subject's last token of the edit module's output, makes the model
// predict the new target (kmeng01/rome compute_v.py; MEMIT's compute_z.py is the same with the block output).
//   loss(δ) = mean_prompts NLL(target | prompt, h + δ)                      (rewriting prompts, one per template)
//           + kl_factor · KL(P_δ ‖ P_0) at the subject of "{subject} is a"    (essence drift)
//           + weight_decay · ‖δ‖ / ‖h₀‖²
// Adam on δ, projected to ‖δ‖ ≤ clamp_norm_factor · ‖h₀‖ after each step; stops at loss < 5e-2 or after
// num_steps forward passes (the last pass takes no step). v* = h₀ + δ, h₀ = the output at the first prompt.
//
// Several edit points (PMET's compute_zs: the attention and the MLP outputs of the z layer) are optimised together:
// one δ_j per module, all in one Adam, the weight decay summed over the points (Σ_j ‖δ_j‖ / ‖h₀_j‖²) and each δ_j
// clamped to clamp_norm_factor · ‖h₀_j‖ of its own module. PMET also weights the NLL by nll_loss_factor, drops that
// to a tenth while the target already is the argmax at every target position, and then stops once the KL term is
// ≤ 0.01 (`nllSchedule`). One module without a schedule is exactly ROME's / MEMIT's optimisation.
import { Adam, autograd, cat, klDiv, noGrad, tensor, tidy, keep, zeros, type Tensor } from '../../tensor/index.js';
import { addAt, padBatch, type CausalLM } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import type { NormalizedRequest } from '../request.js';
import type { LossStep } from '../types.js';
import { lookupIndex, type FactToken } from '../locate.js';
import type { CachedValue, ValueCache } from '../value-cache.js';

export interface ValueOptions {
  /** Module whose output receives δ (ROME: the MLP; MEMIT: the block). Give this or editModules. */
  editModule?: string;
  /**
   * Several modules, one δ each, optimised jointly (PMET: the z layer's attention and MLP outputs); each δ is clamped
   * relative to its own module's initial norm. ['m'] is the same optimisation as editModule 'm'.
   */
  editModules?: string[];
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
  /**
   * PMET's NLL schedule (compute_zs): the NLL is weighted by `factor`, by factor/10 on the step after one where the
   * target was the argmax at every target position (and the optimisation stops there if the KL term is ≤ 0.01).
   * Absent: the plain NLL (ROME, MEMIT).
   */
  nllSchedule?: { factor: number };
  /** Values already optimised against these weights (see value-cache.ts); only pass one for the unedited model. */
  cache?: ValueCache;
}

/** One edit point's value. */
export interface ValuePoint {
  module: string;
  /** h₀ + δ */
  target: Tensor;
  /** h₀: the module's output at the subject of the first prompt before optimisation. */
  initial: Tensor;
  delta: Tensor;
}

export interface ValueResult {
  /** h₀ + δ (of the first edit point) */
  target: Tensor;
  /** h₀: the edit module's output at the subject of the first prompt before optimisation. */
  initial: Tensor;
  delta: Tensor;
  /** Every edit point, in the order of editModules (one for editModule; its tensors are target/initial/delta). */
  points: ValuePoint[];
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

/** The modules receiving a δ; errors name the option at fault. */
function editPoints(o: ValueOptions): string[] {
  const modules = o.editModules ?? (o.editModule !== undefined ? [o.editModule] : []);
  if (o.editModules && o.editModule !== undefined) throw new Error('optimizeValue: give editModule or editModules, not both');
  if (modules.length === 0) throw new Error('optimizeValue: no edit module (editModule or a non-empty editModules)');
  if (new Set(modules).size !== modules.length) throw new Error(`optimizeValue: editModules lists a module twice: ${modules.join(', ')}`);
  return modules;
}

/** A cached value as tensors: the points' vectors are stored concatenated, in module order. */
function fromCache(hit: CachedValue, modules: string[], dtype: CausalLM['dtype']): ValueResult {
  const d = hit.target.length / modules.length;
  const t = (a: number[], j: number) => tensor(a.slice(j * d, (j + 1) * d), { dtype });
  const points = modules.map((module, j) => ({ module, target: t(hit.target, j), initial: t(hit.initial, j), delta: t(hit.delta, j) }));
  return { ...points[0], points, trace: hit.trace, lookupIndices: hit.lookupIndices, cached: true };
}

export function optimizeValue(model: CausalLM, tok: Tokenizer, request: NormalizedRequest, o: ValueOptions): ValueResult {
  const modules = editPoints(o);
  const b = buildBatch(tok, request, o);
  // everything the optimisation reads, apart from the weights (the cache is scoped to those by its owner); one module
  // without a schedule keeps the key ROME and MEMIT have always written
  const points = modules.length === 1 && !o.nllSchedule ? { module: modules[0] } : { modules, nllFactor: o.nllSchedule?.factor ?? null };
  const cacheKey = o.cache && JSON.stringify({
    v: 1, ...points, ids: b.inputIds, mask: b.mask, lookup: b.lookupIndices, rows: b.rows, cols: b.cols, labels: b.labels,
    steps: o.numSteps, lr: o.lr, wd: o.weightDecay, clamp: o.clampNormFactor, kl: o.klFactor, lossLayer: o.lossLayer, dtype: model.dtype,
  });
  const hit = cacheKey ? o.cache!.get(cacheKey) : undefined;
  if (hit) return fromCache(hit, modules, model.dtype);
  const lastLayer = model.dims.numLayers - 1;
  if (o.lossLayer >= 0 && o.lossLayer !== lastLayer) {
    throw new Error(`v_loss_layer ${o.lossLayer}: only the last layer (${lastLayer}) or -1 is supported (the loss is read from the model's logits)`);
  }
  const deltas = modules.map(() => keep(zeros([model.dims.hiddenSize], { dtype: 'float32' }).requiresGrad_()));
  const opt = new Adam(deltas, { lr: o.lr });
  const initial: (Tensor | undefined)[] = modules.map(() => undefined);
  const state: LoopState = { klInit: undefined, nllFactor: o.nllSchedule?.factor };
  const trace: LossStep[] = [];
  const idx = keep({
    rows: tensor(b.rows, { dtype: 'int64' }), cols: tensor(b.cols, { dtype: 'int64' }), labels: tensor(b.labels, { dtype: 'int64' }),
    klRows: tensor(b.lookupIndices.slice(b.nRewrite).map((_, i) => b.nRewrite + i), { dtype: 'int64' }),
    klCols: tensor(b.lookupIndices.slice(b.nRewrite), { dtype: 'int64' }),
  });
  try {
    for (let step = 0; step < o.numSteps; step++) {
      const done = tidy(() => {
        const loss = valueLoss(model, b, idx, modules, deltas, initial, state, o, step, trace);
        if (loss === undefined) return true;
        const grads = autograd.grad(loss, deltas);
        deltas.forEach((d, j) => { d.grad = grads[j]; });
        opt.step();
        noGrad(() => deltas.forEach((d, j) => {
          const maxNorm = initial[j]!.norm().item() * o.clampNormFactor;
          const norm = d.norm().item();
          if (norm > maxNorm) d.mul_(maxNorm / norm);
        }));
        return false;
      });
      if (done) break;
    }
    const result = noGrad(() => {
      const pts = modules.map((module, j) => ({ module, target: initial[j]!.add(deltas[j]), initial: initial[j]!.clone(), delta: deltas[j].detach().clone() }));
      return { ...pts[0], points: pts, trace, lookupIndices: b.lookupIndices };
    });
    if (cacheKey) {
      const flat = (k: 'target' | 'initial' | 'delta') => result.points.flatMap((p) => p[k].toFlatArray());
      o.cache!.set(cacheKey, { target: flat('target'), initial: flat('initial'), delta: flat('delta'), trace, lookupIndices: b.lookupIndices });
    }
    return result;
  } finally {
    initial.forEach((t) => t?.dispose());
    deltas.forEach((d) => d.dispose());
    opt.dispose();
    state.klInit?.dispose();
    for (const t of Object.values(idx)) t.dispose();
  }
}

interface LoopState {
  /** log P_0 at the KL prompt's subject (from the first pass). */
  klInit: Tensor | undefined;
  /** The NLL weight of this pass (PMET's schedule), undefined for the plain NLL. */
  nllFactor: number | undefined;
}

type Batch = ReturnType<typeof buildBatch>;
type Indices = { rows: Tensor; cols: Tensor; labels: Tensor; klRows: Tensor; klCols: Tensor };

/**
 * One forward pass with the deltas added: records the step and returns the loss to step on, or undefined when the
 * optimisation stops here (loss < 5e-2, the last pass, or PMET's schedule says the target is reached).
 */
function valueLoss(
  model: CausalLM, b: Batch, idx: Indices, modules: string[], deltas: Tensor[], initial: (Tensor | undefined)[],
  state: LoopState, o: ValueOptions, step: number, trace: LossStep[],
): Tensor | undefined {
  const n = b.inputIds.length;
  const at = { rows: Array.from({ length: n }, (_, i) => i), positions: b.lookupIndices };
  const out = model.forward({
    inputIds: b.inputIds,
    attentionMask: b.mask,
    logits: 'none',
    trace: modules.map((module, j) => ({
      module,
      retainOutput: false,
      editOutput: (h: Tensor) => {
        if (initial[j] === undefined) initial[j] = keep(h.select(0, 0).select(0, b.lookupIndices[0]).detach().clone());
        return addAt(at, deltas[j])(h);
      },
    })),
  });
  // the LM head only where the loss reads it: target positions, then the KL prompt's subject position
  const picked = cat([out.hidden.index([idx.rows, idx.cols]), out.hidden.index([idx.klRows, idx.klCols])], 0);
  const logp = model.logitsFrom(picked).logSoftmax(-1);
  const nTargets = b.rows.length;
  const klLogp = logp.narrow(0, nTargets, logp.shape[0] - nTargets);
  if (state.klInit === undefined) state.klInit = keep(klLogp.detach().clone());
  const targetLogp = logp.narrow(0, 0, nTargets);
  const tokenLogp = targetLogp.gather(1, idx.labels.unsqueeze(1)).squeeze(1);
  // per-prompt NLL: sum over the target tokens / len(target)
  const perPrompt = zeros([b.nRewrite]).indexAdd(0, idx.rows, tokenLogp).div(-b.targetIds.length);
  const nllFactor = state.nllFactor;
  const nll = nllFactor === undefined ? perPrompt.mean() : perPrompt.mean().mul(nllFactor);
  const kl = klDiv(state.klInit, klLogp, { reduction: 'batchmean', logTarget: true }).mul(o.klFactor);
  const decay = deltas.map((d, j) => d.norm().div(initial[j]!.norm().square())).reduce((a, t) => a.add(t));
  const wd = decay.mul(o.weightDecay);
  const loss = nll.add(kl).add(wd);
  const record: LossStep = {
    step, loss: loss.item(), nll: nll.item(), kl: kl.item(), weightDecay: wd.item(),
    avgProbTarget: perPrompt.neg().exp().mean().item(),
  };
  trace.push(record);
  if (record.loss < 5e-2) return undefined;
  if (o.nllSchedule) {
    // compute_zs: exp of the per-prompt mean of the max log-probabilities equals the target's probability exactly
    // when the target is the argmax at every target position
    const perPromptMax = zeros([b.nRewrite]).indexAdd(0, idx.rows, targetLogp.max(-1).values).div(b.targetIds.length);
    const maxProb = perPromptMax.exp().mean().item();
    if (maxProb === record.avgProbTarget) {
      state.nllFactor = 0.1 * o.nllSchedule.factor;
      if (record.kl <= 0.01) return undefined;
    } else {
      state.nllFactor = o.nllSchedule.factor;
    }
  }
  if (step === o.numSteps - 1) return undefined;
  return loss;
}
