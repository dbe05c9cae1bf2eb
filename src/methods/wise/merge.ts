// Merging knowledge shards into one side memory, as EasyEdit's merge/gta.py (GTA: General Task Arithmetic) does with
// the settings of WISE's merge_dict:
//   ties            trim by magnitude, elect the sign by the sum, disjoint mean   GTA('magnitude', 'sum', normalize)
//   magnitude_norm  trim by magnitude, weighted mean                            GTA('magnitude', None, normalize)
//   magnitude       trim by magnitude, weighted sum                             GTA('magnitude', None)
//   sign            no trim, elect the sign, disjoint mean                      GTA(None, 'sum', normalize)
// Each shard's task vector is τ_i = W_i − W_base; trim keeps the int(density · numel) entries of largest |τ_i| (all when
// density >= 1); the elected sign of an entry is the sign of Σ_i w_i τ_i (+ when 0); an entry of shard i counts when
// sign(w_i τ_i) is the elected one; the result is W_base + Σ_i w_i τ_i m_i / Σ_i w_i m_i (divisor 1 where no shard
// counts) — Yadav et al., "TIES-Merging", NeurIPS 2023.
import { noGrad, stack, tensor, tidy, zerosLike, type Tensor } from '../../tensor/index.js';
import type { MergeAlg } from './hparams.js';

/** Zeroes all but the int(density · numel) entries of largest magnitude (EasyEdit merge/utils.py magnitude). */
export function trimByMagnitude(t: Tensor, density: number): Tensor {
  if (density >= 1) return t;
  const flat = t.reshape(-1);
  const k = Math.floor(density * flat.shape[0]);
  if (k <= 0) throw new Error(`WISE merge: densities ${density} keeps no entry of a ${flat.shape[0]}-entry matrix`);
  const { indices } = flat.abs().to('float32').topk(k, -1, true, false);
  const keep = zerosLike(flat).scatter(0, indices, 1);
  return flat.mul(keep).reshape(...t.shape);
}

const SETTINGS: Record<MergeAlg, { trim: boolean; elect: boolean; normalize: boolean }> = {
  ties: { trim: true, elect: true, normalize: true },
  magnitude_norm: { trim: true, elect: false, normalize: true },
  magnitude: { trim: true, elect: false, normalize: false },
  sign: { trim: false, elect: true, normalize: true },
};

/** Merges `tensors` onto `base` with one weight per tensor (EasyEdit GTA.execute). A new tensor in base's dtype. */
export function mergeShards(alg: MergeAlg, weights: number[], base: Tensor, tensors: Tensor[], density: number): Tensor {
  if (weights.length !== tensors.length) throw new Error(`WISE merge: ${weights.length} weights for ${tensors.length} shards`);
  const s = SETTINGS[alg];
  return tidy(() => noGrad(() => {
    if (tensors.length === 0) return base.clone();
    const b = base.to('float32');
    const deltas = stack(tensors.map((t) => {
      const d = t.to('float32').sub(b);
      return s.trim ? trimByMagnitude(d, density) : d;
    }));
    const w = stackWeights(weights, deltas);
    const weighted = deltas.mul(w);
    let mixed: Tensor;
    let divisor: Tensor;
    if (s.elect) {
      const elected = weighted.sum(0).ge(0).to('float32').mul(2).sub(1);
      const agree = weighted.sign().eq(elected.unsqueeze(0)).to('float32');
      mixed = weighted.mul(agree).sum(0);
      divisor = w.mul(agree).sum(0);
      divisor = divisor.add(divisor.eq(0).to('float32'));
    } else {
      mixed = weighted.sum(0);
      divisor = w.sum(0).expandAs(mixed);
      divisor = divisor.maskedFill(divisor.abs().lt(1e-8), 1);
    }
    if (s.normalize) mixed = mixed.div(divisor);
    return b.add(mixed).to(base.dtype);
  }));
}

/** Weights [n, 1, 1] (one per stacked shard), broadcastable against the deltas [n, rows, cols]. */
function stackWeights(weights: number[], deltas: Tensor): Tensor {
  const shape = [weights.length, ...deltas.shape.slice(1).map(() => 1)];
  return tensor(weights, { dtype: 'float32', device: deltas.device }).reshape(...shape);
}
