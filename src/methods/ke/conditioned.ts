// KE's hypernetwork pieces (nicola-decao/KnowledgeEditor src/models/one_shot_learner.py), from tensor ops:
//   - a weight-normalised Linear (torch.nn.utils.weight_norm, dim 0: w = g ⊙ v / ‖v‖ per output row);
//   - ConditionedParameter: for a 2-D parameter of shape [r, s] (taken in the parameter's own layout), the condition
//     goes through Linear(condition_dim → hidden) → tanh → Linear(hidden → 2(r + s) + 1), split into
//     [col_a (s), row_a (r), col_b (s), row_b (r), c (1)];  A = softmax(row_a)ᵀ col_a,  B = softmax(row_b)ᵀ col_b
//     (rank-1 [r, s]; softmax over the r entries), and the update is  Δ = max_scale · σ(c) · (∇ ⊙ A + B);
//     a 1-D parameter of size r: [a (r), b (r), c (1)] used directly.
import { keep, type Generator, type Tensor } from '../../tensor/index.js';
import { uniform } from './lstm.js';

export interface WeightNormLinear {
  /** direction [out, in] */
  v: Tensor;
  /** magnitude [out, 1] */
  g: Tensor;
  /** [out] */
  b: Tensor;
}

/** torch.nn.Linear's initialisation (uniform ±1/√in for weight and bias), then weight_norm's g = ‖v‖ per row. */
export function initWeightNormLinear(inDim: number, outDim: number, generator: Generator): WeightNormLinear {
  const k = 1 / Math.sqrt(inDim);
  const v = uniform([outDim, inDim], k, generator);
  const b = uniform([outDim], k, generator);
  const g = keep(v.norm(2, [1], true));
  return { v, g, b };
}

/** x [B, in] → [B, out] with w = g · v / ‖v‖ (rows). */
export function weightNormLinear(l: WeightNormLinear, x: Tensor): Tensor {
  const w = l.v.mul(l.g.div(l.v.norm(2, [1], true)));
  return x.matmul(w.t()).add(l.b);
}

/** The update formula: max_scale · σ(c) · (∇ ⊙ A + B), c a scalar tensor. */
export function keUpdate(grad: Tensor, a: Tensor, b: Tensor, c: Tensor, maxScale: number): Tensor {
  return grad.mul(a).add(b).mul(c.sigmoid().mul(maxScale));
}

export interface ConditionedParameter {
  shape: number[];
  l1: WeightNormLinear;
  l2: WeightNormLinear;
}

/** The conditioner of one parameter of `shape` (2-D or 1-D). */
export function initConditionedParameter(shape: number[], conditionDim: number, hidden: number, generator: Generator): ConditionedParameter {
  if (shape.length !== 2 && shape.length !== 1) throw new Error(`KE: a conditioned parameter must be 1-D or 2-D, got shape [${shape}]`);
  const out = shape.length === 2 ? 2 * (shape[0] + shape[1]) + 1 : 2 * shape[0] + 1;
  return { shape, l1: initWeightNormLinear(conditionDim, hidden, generator), l2: initWeightNormLinear(hidden, out, generator) };
}

/** A, B (in the parameter's shape) and c (scalar) from one condition vector [conditionDim]. */
export function conditionerFactors(p: ConditionedParameter, condition: Tensor): { a: Tensor; b: Tensor; c: Tensor } {
  const z = weightNormLinear(p.l2, weightNormLinear(p.l1, condition.unsqueeze(0)).tanh()).select(0, 0);
  if (p.shape.length === 1) {
    const [a, b, c] = z.split([p.shape[0], p.shape[0], 1], 0);
    return { a, b, c: c.squeeze() };
  }
  const [r, s] = p.shape;
  const [colA, rowA, colB, rowB, c] = z.split([s, r, s, r, 1], 0);
  return { a: rowA.softmax(0).outer(colA), b: rowB.softmax(0).outer(colB), c: c.squeeze() };
}

/** Δ for one parameter: the update formula on the conditioner's factors. */
export function conditionedDelta(p: ConditionedParameter, condition: Tensor, grad: Tensor, maxScale: number): Tensor {
  const { a, b, c } = conditionerFactors(p, condition);
  return keUpdate(grad, a, b, c, maxScale);
}

export function conditionedTensors(p: ConditionedParameter): Tensor[] {
  return [p.l1.v, p.l1.g, p.l1.b, p.l2.v, p.l2.g, p.l2.b];
}
