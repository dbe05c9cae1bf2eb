// T-Patcher's two patch losses, as the original computes them (src/models/patch.py: loss_func, top_k_loss_func,
// calculate_act_loss, calculate_memory_loss). Activations are the neurons' pre-activations x·k + b.
//   loss type  margin:    mean of the positive entries (0 when none)
//              exp:       mean of exp(entries)
//              expmargin: mean of exp(positive entries) (0 when none)
//   top<k>_T:  the type T over the k largest of its terms (all of them when fewer).
//   activation loss: terms act_margin_val - a over the edit's neurons at their own positions (each neuron fires);
//   memory loss l1 + l2: l1 terms h - a + margin_val1 (every memory activation h stays margin_val1 below the edit's
//   a), l2 terms h - margin_val2 (every memory activation stays below margin_val2, a non-positive number).
// The terms are taken over a batch of example_repeat identical copies of the edit example, as the original's batch
// repeats it: with several neurons that changes which terms a top-k keeps.
import { tensor, type Tensor } from '../../tensor/index.js';

interface LossType {
  top?: number;
  kind: 'margin' | 'exp' | 'expmargin';
}

export function parseLossType(spec: string): LossType {
  const m = /^(?:top(\d+)_)?(margin|exp|expmargin)$/.exec(spec);
  if (!m) throw new Error(`T-Patcher: loss type must be [top<k>_]margin|exp|expmargin, got '${spec}'`);
  return { top: m[1] === undefined ? undefined : Number(m[1]), kind: m[2] as LossType['kind'] };
}

/**
 * The original's loss_func / top_k_loss_func over `terms` (any shape) as a scalar tensor, each term counted `repeat`
 * times (the original's batch of identical copies, without building it: the top k of R copies of every term are the
 * top ⌈k/R⌉ distinct terms, each R times, the last one fewer when R does not divide k).
 */
export function marginLoss(terms: Tensor, spec: string, repeat = 1): Tensor {
  const { top, kind } = parseLossType(spec);
  let v = terms.flatten();
  if (kind !== 'exp') {
    const positive = v.gt(0);
    if (positive.sum().item() === 0) return tensor(0, { dtype: terms.dtype, device: terms.device });
    v = v.index([positive]);
  }
  if (kind !== 'margin') v = v.exp();
  const n = v.shape[0];
  if (top === undefined || top >= n * repeat) return v.mean();
  const q = Math.ceil(top / repeat);
  const best = v.topk(q).values;
  const last = top - repeat * (q - 1);
  const weights = tensor(Array.from({ length: q }, (_, i) => (i === q - 1 ? last : repeat)), { dtype: v.dtype, device: v.device });
  return best.mul(weights).sum().div(top);
}

/** calculate_act_loss: act [n] (each neuron's pre-activation at its own position), the batch `repeat` copies. */
export function activationLoss(act: Tensor, spec: string, actMarginVal: number, repeat = 1): Tensor {
  return marginLoss(act.neg().add(actMarginVal), spec, repeat);
}

/**
 * calculate_memory_loss: memoryAct [M, n] (the neurons on every memory input), act [n] (at their own positions), over
 * a batch of `repeat` copies of the edit example: l1's terms are h - a + margin_val1 per memory row, neuron and copy,
 * l2's h - margin_val2 per memory row, neuron and copy (the original stacks the memory activations over the batch).
 */
export function memoryLoss(memoryAct: Tensor, act: Tensor, spec: string, marginVal1: number, marginVal2: number, repeat = 1): Tensor {
  const [l1Type, l2Type] = spec.split('+');
  const l1 = marginLoss(memoryAct.sub(act.unsqueeze(0)).add(marginVal1), l1Type, repeat);
  const l2 = marginLoss(memoryAct.sub(marginVal2), l2Type, repeat);
  return l1.add(l2);
}
