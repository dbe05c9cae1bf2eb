// The rank-one update (kmeng01/rome rome_main.py + the end of compute_v.py):
//   right = (v* − W k) / (k · u),   ΔW = u ⊗ right
// where (k, W k) is the rewrite module's input/output at the subject of the bare prompt (the reference), or their
// means over the context templates (r-ROME, `enable_random_prefix_keys`). In GPT-2's Conv1D layout [in, out] ΔW is
// u rightᵀ as is; an nn.Linear weight [out, in] takes its transpose.
import { noGrad, type Tensor } from '../../tensor/index.js';
import type { WeightDelta } from '../types.js';

export interface RankOneInputs {
  /** Unit key direction u [in]. */
  u: Tensor;
  /** Key k used in the denominator [in]. */
  key: Tensor;
  /** Current output W k (+ bias) at that key [out]. */
  currentOutput: Tensor;
  /** Target value v* [out]. */
  target: Tensor;
}

export function rankOneDelta(param: string, layout: 'in_out' | 'out_in', x: RankOneInputs): { delta: WeightDelta; right: Tensor; divisor: number } {
  return noGrad(() => {
    const divisor = x.key.dot(x.u).item();
    const right = x.target.sub(x.currentOutput).div(divisor);
    const delta: WeightDelta = layout === 'in_out'
      ? { param, left: x.u.unsqueeze(1), right: right.unsqueeze(1) }
      : { param, left: right.unsqueeze(1), right: x.u.unsqueeze(1) };
    return { delta, right, divisor };
  });
}
