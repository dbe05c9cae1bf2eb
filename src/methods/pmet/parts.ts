// PMET's own building blocks (EasyEdit easyeditor/models/pmet): compute_zs — the attention and FFN hidden states of
// the z layer optimised together — and the per-layer update that spreads the FFN residual with 1/√(L−i).
import { eye, linalg, stack, tidy, keep, type Tensor } from '../../tensor/index.js';
import type { CausalLM } from '../../models/index.js';
import type { NormalizedRequest } from '../request.js';
import type { EditContext, LossStep, WeightDelta } from '../types.js';
import { optimizeValue } from '../rome/value.js';
import { weightLayout } from '../delta.js';
import type { PmetHparams } from './hparams.js';

export interface PmetTargets {
  /** The FFN targets z_i^mlp = h_i^mlp + δ_i^mlp at the z layer, stacked: [n, d] (kept; the caller disposes it). */
  zs: Tensor;
  perRequest: { trace: LossStep[]; norms: Record<string, number>; cached: boolean }[];
}

/**
 * compute_zs for every request: δ_attn at `attnModule`'s output and δ_mlp at `mlpModule`'s output (both at the
 * subject of every prompt, one Adam, each clamped to clamp_norm_factor × its own initial norm). Only the FFN target
 * is written into weights; the attention delta shapes it (the attention target is reported, not used).
 */
export function computeJointTargets(
  model: CausalLM, requests: NormalizedRequest[], h: PmetHparams, ctx: EditContext, groups: string[][], attnModule: string, mlpModule: string,
): PmetTargets {
  const values = requests.map((r) => tidy(() => {
    const v = optimizeValue(model, ctx.tokenizer, r, {
      editModules: [attnModule, mlpModule], templates: groups.flat(), factToken: h.fact_token, numSteps: h.v_num_grad_steps, lr: h.v_lr,
      weightDecay: h.v_weight_decay, clampNormFactor: h.clamp_norm_factor, klFactor: h.kl_factor, lossLayer: h.v_loss_layer,
      nllSchedule: { factor: h.nll_loss_factor }, cache: ctx.valueCache,
    });
    ctx.log?.(`PMET z ${r.index + 1}/${requests.length}: loss ${v.trace[0].loss.toFixed(3)} → ${v.trace[v.trace.length - 1].loss.toFixed(3)}${v.cached ? ' (cached)' : ''}`);
    const [attn, mlp] = v.points;
    const norms = {
      attnInit: attn.initial.norm().item(), attnDelta: attn.delta.norm().item(),
      mlpInit: mlp.initial.norm().item(), mlpDelta: mlp.delta.norm().item(),
    };
    return { z: keep(mlp.target), trace: v.trace, norms, cached: v.cached === true };
  }));
  const zs = keep(stack(values.map((v) => v.z), 0));
  values.forEach((v) => v.z.dispose());
  return { zs, perRequest: values.map(({ trace, norms, cached }) => ({ trace, norms, cached })) };
}

/** Layer i of L writes R/√(L−i) of the residual (pmet_main.py; MEMIT writes R/(L−i)). */
export function residualDivisor(i: number, numLayers: number): number {
  if (!(Number.isInteger(i) && i >= 0 && i < numLayers)) throw new Error(`residualDivisor: layer index ${i} is not in 0..${numLayers - 1}`);
  return Math.sqrt(numLayers - i);
}

/**
 * ΔW = (R/divisor) Kᵀ (K Kᵀ + λ C)⁻¹ as exact rank-≤n factors in the parameter's layout, solved in float64.
 * K: [n, in] keys; R: [n, d] residuals; C: [in, in] second moment, or null for the identity (mom2_adjustment false).
 */
export function layerUpdate(model: CausalLM, param: string, keys: Tensor, residual: Tensor, mom2: Tensor | null, lambda: number, divisor: number): WeightDelta {
  return tidy(() => {
    const K = keys.to('float64').t(); // [in, n]
    const R = residual.to('float64').t(); // [d, n]
    const C = mom2 ? mom2.to('float64') : eye(K.shape[0], K.shape[0], { dtype: 'float64' });
    const adjK = linalg.solve(K.matmul(K.t()).add(C.mul(lambda)), K); // (KKᵀ + λC)⁻¹ K: [in, n]
    const resid = R.div(divisor); // [d, n]
    const d: WeightDelta = weightLayout(model, param) === 'out_in'
      ? { param, left: resid.to(model.dtype), right: adjK.to(model.dtype) }
      : { param, left: adjK.to(model.dtype), right: resid.to(model.dtype) };
    return keep(d);
  });
}
