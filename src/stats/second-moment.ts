// Streaming uncentered second moment C = E[k kᵀ] of modules' inputs (ROME's key statistics, rome/layer_stats.py with
// mom2): every token position of every chunk contributes its key k (a row of the module's input), so
//   sum = Σ_batches Kᵀ K,   count = number of keys,   C = sum / count.
// All requested modules are read in the same forward passes, and each pass stops once the last of them has been
// reached (baukit's Trace(stop=True)): the layers above it do not matter for the keys.
import { noGrad, tensor, tidy, keep, zeros, type Tensor } from '../tensor/index.js';
import type { CausalLM } from '../models/index.js';

/** Dtype the keys are multiplied in and C is stored in; the running sum is always float64. */
export type StatsDtype = 'float32' | 'float64';

/** The running state of an accumulation: everything a checkpoint needs to continue it. */
export interface MomentSums {
  /** float64 Σ kᵀk per module (created at the first batch). */
  sums: Map<string, Tensor>;
  /** Keys (token positions) summed so far. */
  count: number;
  /** Chunks consumed, in `batchOrder` order. */
  chunksDone: number;
}

export interface AccumulateOptions {
  /** float64: keys cast to float64 before Kᵀ K (the golden protocol); float32: Kᵀ K in float32, summed in float64. */
  dtype: StatsDtype;
  /** Tokens per forward pass (rows × longest chunk), default 2048. */
  batchTokens?: number;
  /** Called after every batch with the updated state; it may throw to stop (the state stays consistent). */
  onBatch?: (state: MomentSums) => void;
}

export const DEFAULT_BATCH_TOKENS = 2048;

/** Thrown by the trace hook once every requested module has given up its input: the rest of the pass is skipped. */
class StopForward extends Error {}

export function emptySums(): MomentSums {
  return { sums: new Map(), count: 0, chunksDone: 0 };
}

/**
 * The order chunks are consumed in: longest first, ties in corpus order, so that chunks of equal length share a batch
 * and padding is rare. `chunksDone` counts in this order; a resumed run continues from the same place.
 */
export function batchOrder(chunks: readonly Int32Array[]): number[] {
  return chunks.map((_, i) => i).sort((a, b) => chunks[b].length - chunks[a].length || a - b);
}

/**
 * The inputs of `modules` for a batch of chunks, each chunk from position 0, right-padded with a mask where lengths
 * differ: [n, d] per module, padded positions excluded.
 */
export function keysOf(model: CausalLM, modules: readonly string[], rows: readonly Int32Array[]): Map<string, Tensor> {
  const longest = rows[0].length;
  const padded = rows.some((r) => r.length !== longest);
  const flatIds = new Int32Array(rows.length * longest); // pads are id 0, hidden by the mask
  const flatMask = new Int32Array(rows.length * longest);
  rows.forEach((r, i) => {
    flatIds.set(r, i * longest);
    flatMask.fill(1, i * longest, i * longest + r.length);
  });
  const shape = [rows.length, longest];
  const ids = tensor(flatIds, { shape, dtype: 'int64' });
  const mask = padded ? tensor(flatMask, { shape, dtype: 'int64' }) : undefined;
  const inputs = new Map<string, Tensor>();
  try {
    model.forward({
      inputIds: ids,
      attentionMask: mask,
      logits: 'none',
      trace: modules.map((module) => ({
        module,
        retainOutput: false,
        editInput: (x: Tensor) => {
          inputs.set(module, x);
          if (inputs.size === modules.length) throw new StopForward();
          return x;
        },
      })),
    });
  } catch (e) {
    if (!(e instanceof StopForward)) throw e;
  }
  const real = padded ? realPositions(rows, longest) : undefined;
  const keys = new Map<string, Tensor>();
  for (const [module, x] of inputs) {
    const flat = x.reshape(-1, x.shape[x.ndim - 1]);
    keys.set(module, real ? flat.indexSelect(0, real.to(x.device)) : flat);
  }
  return keys;
}

/** Flat indices (row · T + t) of the unpadded positions. */
function realPositions(rows: readonly Int32Array[], longest: number): Tensor {
  const idx: number[] = [];
  rows.forEach((r, i) => { for (let t = 0; t < r.length; t++) idx.push(i * longest + t); });
  return tensor(idx, { dtype: 'int64' });
}

/**
 * Adds Kᵀ K of every remaining chunk to `state` (in place), batch by batch, each batch in its own memory scope.
 * Gradient-free; the model is not changed.
 */
export function accumulateSecondMoments(
  model: CausalLM, modules: readonly string[], chunks: readonly Int32Array[], state: MomentSums, opts: AccumulateOptions,
): MomentSums {
  if (modules.length === 0) return state;
  const order = batchOrder(chunks);
  const budget = opts.batchTokens ?? DEFAULT_BATCH_TOKENS;
  while (state.chunksDone < order.length) {
    const first = state.chunksDone;
    const longest = chunks[order[first]].length;
    let end = first + 1;
    while (end < order.length && (end - first + 1) * longest <= budget) end++;
    const rows = order.slice(first, end).map((i) => chunks[i]);
    const n = noGrad(() => tidy(() => {
      const products = [...keysOf(model, modules, rows)].map(([module, k]) => {
        const keys = k.to(opts.dtype);
        return [module, keys.t().matmul(keys), keys.shape[0]] as const;
      });
      for (const [module, product] of products) {
        let sum = state.sums.get(module);
        if (sum === undefined || sum.device !== product.device) { // first batch, or a checkpoint read to the CPU
          const moved = keep(sum ? sum.to(product.device) : zeros(product.shape, { dtype: 'float64', device: product.device }));
          sum?.dispose();
          sum = moved;
          state.sums.set(module, sum);
        }
        sum.add_(product);
      }
      return products[0][2];
    }));
    state.count += n;
    state.chunksDone = end;
    opts.onBatch?.(state);
  }
  return state;
}

/** C = sum / count in the stored dtype. */
export function secondMomentFromSum(sum: Tensor, count: number, dtype: StatsDtype): Tensor {
  return noGrad(() => tidy(() => sum.div(count).to(dtype)));
}
