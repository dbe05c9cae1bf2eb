// Weight deltas: applying, reverting and measuring them (the Editor and edit packs use these).
import { noGrad, tidy, type Tensor } from '../tensor/index.js';
import type { CausalLM, LanguageModel } from '../models/index.js';
import type { WeightDelta } from './types.js';

/** ΔW as a dense tensor in the parameter's layout. */
export function denseDelta(d: WeightDelta): Tensor {
  if (d.dense) return d.dense;
  if (!d.left || !d.right) throw new Error(`delta for ${d.param}: needs either dense or left and right factors`);
  return d.left.matmul(d.right.t());
}

/** W += sign · ΔW, in place. */
export function applyDelta(model: LanguageModel, d: WeightDelta, sign: 1 | -1 = 1): void {
  tidy(() => noGrad(() => {
    const dense = denseDelta(d);
    model.addToParameter(d.param, sign === 1 ? dense : dense.neg());
  }));
}

/** ‖ΔW‖_F without forming ΔW when it is low rank: ‖L Rᵀ‖_F² = trace((LᵀL)(RᵀR)). */
export function deltaNorm(d: WeightDelta): number {
  return tidy(() => noGrad(() => {
    if (d.dense) return d.dense.norm().item();
    const gram = d.left!.t().matmul(d.left!).mul(d.right!.t().matmul(d.right!));
    return Math.sqrt(Math.max(0, gram.sum().item()));
  }));
}

export function disposeDelta(d: WeightDelta): void {
  d.left?.dispose();
  d.right?.dispose();
  d.dense?.dispose();
}

/**
 * How a down-projection weight is stored: 'in_out' (GPT-2 Conv1D [intermediate, hidden]) or 'out_in' (nn.Linear
 * [hidden, intermediate]), read from its shape; square weights fall back to the architecture's declared layout.
 */
export function weightLayout(model: LanguageModel, param: string): 'in_out' | 'out_in' {
  const [rows, cols] = model.parameter(param).shape;
  // a T5 (no templates) has nn.Linear weights only
  if (rows === cols) return 'templates' in model ? (model as CausalLM).templates.rewriteWeightLayout : 'out_in';
  return rows === model.dims.hiddenSize ? 'out_in' : 'in_out';
}
