// The weight edit (EleutherAI knowledge_neurons.py modify_weights, mode 'edit', as EasyEdit's kn_main calls it):
// for every selected neuron i of layer l, the down-projection's output vector of neuron i (GPT-2 Conv1D: row i of
// c_proj.weight [I, d]; nn.Linear: column i of down_proj.weight [d, I]) becomes
//   W_i ← W_i − c · Σ_t E[o_t] + Σ_t E[y_t]
// where E is the word embedding matrix, y the target's tokens, o the model's greedy completion of the prompt with as
// many tokens as the target (`_generate`'s argmax tokens), and c = 2 when that completion is one token, 1 otherwise
// (EasyEdit subtracts `original_prediction_embedding * 2` for a 0-d index; the target is always indexed by a list,
// so it is added once per token). Every neuron gets the same vector, so a layer's ΔW is rank one:
//   ΔW = 1_S ⊗ v   (in_out)   or   v ⊗ 1_S   (out_in),   v = lr_scale · (Σ_t E[y_t] − c · Σ_t E[o_t])
import { noGrad, tensor, tidy, zeros, type Tensor } from '../../tensor/index.js';
import { prefixStates, type LanguageModel } from '../../models/index.js';
import { weightLayout } from '../delta.js';
import type { WeightDelta } from '../types.js';

/** The model's greedy continuation of `ids` by n tokens (no cache; n is the target's length). */
export function greedyTokens(model: LanguageModel, ids: number[], n: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    out.push(tidy(() => noGrad(() => {
      const { hidden, last: [last] } = prefixStates(model, [ids], [[...out]]);
      return model.logitsFrom(hidden.select(0, 0).select(0, last)).argmax(-1).item();
    })));
  }
  return out;
}

/** v = lr_scale · (Σ_t E[target_t] − c · Σ_t E[original_t]), c = 2 for a one-token original, else 1; float32 [d]. */
export function rowChange(embedding: Tensor, targetIds: number[], originalIds: number[], lrScale: number): Tensor {
  return tidy(() => noGrad(() => {
    const rows = (ids: number[]) => embedding.index([tensor(ids, { dtype: 'int64', device: embedding.device })]).float().sum(0);
    const c = originalIds.length === 1 ? 2 : 1;
    return rows(targetIds).sub(rows(originalIds).mul(c)).mul(lrScale);
  }));
}

/** One rank-one delta per layer with selected neurons: the indicator of the layer's neurons ⊗ v, in the weight's layout. */
export function neuronDeltas(model: LanguageModel, paramOf: (layer: number) => string, neurons: Map<number, number[]>, v: Tensor): WeightDelta[] {
  return noGrad(() => [...neurons.entries()].map(([layer, idx]) => {
    const param = paramOf(layer);
    const layout = weightLayout(model, param);
    const shape = model.parameter(param).shape;
    const width = layout === 'in_out' ? shape[0] : shape[1];
    const bad = idx.find((i) => i < 0 || i >= width);
    if (bad !== undefined) throw new Error(`KN: neuron ${bad} of layer ${layer} is outside ${param} (${width} neurons)`);
    const indicator = zeros([width], { dtype: 'float32', device: v.device })
      .indexPut([tensor(idx, { dtype: 'int64', device: v.device })], tensor(1, { dtype: 'float32', device: v.device }), false);
    const col = (t: Tensor) => t.unsqueeze(1);
    return layout === 'in_out'
      ? { param, left: col(indicator), right: col(v.clone()) }
      : { param, left: col(v.clone()), right: col(indicator) };
  }));
}
