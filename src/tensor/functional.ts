// Free functions over tensors: joining, selection, neural-network functions and losses (torch / torch.nn.functional).
import { native } from './native.js';
import { REDUCTION, Tensor, wrapHandle, type Reduction } from './tensor.js';
import type { DType } from './dtype.js';

export const cat = (tensors: Tensor[], dim = 0): Tensor => wrapHandle(native.cat(tensors.map((t) => t.handle), dim));
export const stack = (tensors: Tensor[], dim = 0): Tensor => wrapHandle(native.stack(tensors.map((t) => t.handle), dim));
export const where = (condition: Tensor, x: Tensor, y: Tensor): Tensor =>
  wrapHandle(native.where(condition.handle, x.handle, y.handle));
export const matmul = (a: Tensor, b: Tensor): Tensor => a.matmul(b);
export const bmm = (a: Tensor, b: Tensor): Tensor => a.bmm(b);
export const outer = (a: Tensor, b: Tensor): Tensor => a.outer(b);
/** beta * input + alpha * (m1 @ m2) */
export const addmm = (input: Tensor, m1: Tensor, m2: Tensor, beta = 1, alpha = 1): Tensor =>
  wrapHandle(native.addmm(input.handle, m1.handle, m2.handle, beta, alpha));

/** y = x W^T + b with W stored [out, in] (nn.Linear). */
export const linear = (x: Tensor, weight: Tensor, bias?: Tensor): Tensor =>
  wrapHandle(native.linear(x.handle, weight.handle, bias?.handle));
export const softmax = (x: Tensor, dim: number, dtype?: DType): Tensor => x.softmax(dim, dtype);
export const logSoftmax = (x: Tensor, dim: number, dtype?: DType): Tensor => x.logSoftmax(dim, dtype);
export const layerNorm = (x: Tensor, normalizedShape: number[], weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor =>
  wrapHandle(native.layerNorm(x.handle, normalizedShape, weight?.handle, bias?.handle, eps));
/** Rows of `weight` [V, d] at integer `indices`. */
export const embedding = (indices: Tensor, weight: Tensor): Tensor => wrapHandle(native.embedding(weight.handle, indices.handle));
export const gelu = (x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor => x.gelu(approximate);
export const silu = (x: Tensor): Tensor => x.silu();
export const relu = (x: Tensor): Tensor => x.relu();
export const dropout = (x: Tensor, p = 0.5, training = true): Tensor => wrapHandle(native.dropout(x.handle, p, training));
export const oneHot = (indices: Tensor, numClasses = -1): Tensor => wrapHandle(native.oneHot(indices.handle, numClasses));
/** Samples `numSamples` indices per row from (unnormalized) probabilities. */
export const multinomial = (probs: Tensor, numSamples: number, replacement = false, generator?: { external: unknown }): Tensor =>
  wrapHandle(native.multinomial(probs.handle, numSamples, replacement, generator?.external));

export interface LossOptions {
  reduction?: Reduction;
  ignoreIndex?: number;
  weight?: Tensor;
}

/** Cross-entropy of logits [N, C] (or [N, C, ...]) against class indices; ignoreIndex (-100) rows are skipped. */
export function crossEntropy(logits: Tensor, target: Tensor, opts: LossOptions & { labelSmoothing?: number } = {}): Tensor {
  return wrapHandle(native.crossEntropy(logits.handle, target.handle, REDUCTION[opts.reduction ?? 'mean'],
    opts.ignoreIndex ?? -100, opts.weight?.handle, opts.labelSmoothing ?? 0));
}
export function nllLoss(logProbs: Tensor, target: Tensor, opts: LossOptions = {}): Tensor {
  return wrapHandle(native.nllLoss(logProbs.handle, target.handle, REDUCTION[opts.reduction ?? 'mean'],
    opts.ignoreIndex ?? -100, opts.weight?.handle));
}
/**
 * KL divergence as torch.nn.functional.kl_div: `input` holds log-probabilities; `target` probabilities, or
 * log-probabilities with logTarget. Reduction 'batchmean' divides the sum by the batch size (dim 0).
 */
export function klDiv(input: Tensor, target: Tensor, opts: { reduction?: Reduction | 'batchmean'; logTarget?: boolean } = {}): Tensor {
  const r = opts.reduction ?? 'mean';
  if (r === 'batchmean') {
    const total = wrapHandle(native.klDiv(input.handle, target.handle, REDUCTION.sum, opts.logTarget ?? false));
    const out = total.div(input.shape[0] ?? 1);
    total.dispose();
    return out;
  }
  return wrapHandle(native.klDiv(input.handle, target.handle, REDUCTION[r], opts.logTarget ?? false));
}
export const mseLoss = (input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor =>
  wrapHandle(native.mseLoss(input.handle, target.handle, REDUCTION[reduction]));
