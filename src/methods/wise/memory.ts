// WISE's side memory as data (EasyEdit easyeditor/models/wise/WISE.py, WISEAdapter's fields), kept immutable: every
// change makes a new SideState and never writes into a tensor another state holds, so the state before an edit can be
// kept by reference for rollback (the adapter's history) at the cost of the tensors that edit replaced.
//
//   current    the shard being trained (new_weight); null while it equals the main weight (after a save or a merge)
//   mask       the shard's random gradient mask (weight_mask, uint8), drawn when editing_total_cnt % save_freq == 0
//   minAct     the routing threshold before act_ratio: the smallest in-scope activation distance recorded at the end
//              of an edit (editing_mean_act.min_a; 1e9 = none yet). WISE-Retrieve resets it with every saved shard.
//   memory     saved shards (memory_weight), each with its own threshold in WISE-Retrieve (memory_mean_act)
//   merged     WISE-Merge's merged side memory (the adapter's layer.weight); null while it equals the main weight
//   count      edits so far (editing_total_cnt); mergeCount: WISE-Retrieve's merges (merge_cnt)
import type { Tensor } from '../../tensor/index.js';
import { mergeShards } from './merge.js';
import type { MergeAlg } from './hparams.js';

/** EasyEdit's EditingMeanAct starts at min_a = 1e9. */
export const NO_ACT = 1e9;

export interface Shard {
  weight: Tensor;
  minAct: number;
}

export interface SideState {
  current: Tensor | null;
  mask: Tensor | null;
  minAct: number;
  memory: Shard[];
  merged: Tensor | null;
  count: number;
  mergeCount: number;
}

export const EMPTY_STATE: SideState = { current: null, mask: null, minAct: NO_ACT, memory: [], merged: null, count: 0, mergeCount: 0 };

/** What the bookkeeping after an edit needs of the hparams. */
export interface ShardConfig {
  retrieve: boolean;
  save_freq: number;
  merge_freq: number;
  merge_alg: MergeAlg;
  weights: number;
  densities: number;
}

/** The tensors a state holds (for saving and freeing). */
export function tensorsOf(s: SideState): Tensor[] {
  return [s.current, s.mask, s.merged, ...s.memory.map((m) => m.weight)].filter((t): t is Tensor => t !== null);
}

/**
 * WISE-Merge's merge_weight: the shards merged into the side memory. The first merge merges the shards alone with
 * weights `weights / n`; later ones merge them with the previous merged memory at 0.4 / n each and 0.6 for it.
 */
export function mergeIntoSide(c: ShardConfig, main: Tensor, merged: Tensor | null, shards: Tensor[]): Tensor {
  const n = shards.length;
  if (merged === null) return mergeShards(c.merge_alg, shards.map(() => c.weights / n), main, shards, c.densities);
  return mergeShards(c.merge_alg, [...shards.map(() => 0.4 / n), 0.6], main, [...shards, merged], c.densities);
}

/** The bookkeeping at the end of an edit (WISE.edit after training): count, save every save_freq, merge every merge_freq. */
export function afterEdit(c: ShardConfig, main: Tensor, s: SideState, trained: Tensor, minAct: number): SideState {
  let next: SideState = { ...s, current: trained, minAct, count: s.count + 1 };
  if (next.count % c.save_freq === 0) {
    next = {
      ...next, current: null, memory: [...next.memory, { weight: trained, minAct: next.minAct }],
      minAct: c.retrieve ? NO_ACT : next.minAct,
    };
  }
  if (next.count % c.merge_freq === 0) next = c.retrieve ? mergeRetrieve(c, main, next) : mergeSide(c, main, next);
  return next;
}

function mergeSide(c: ShardConfig, main: Tensor, s: SideState): SideState {
  if (s.memory.length === 0) return s;
  return { ...s, merged: mergeIntoSide(c, main, s.merged, s.memory.map((m) => m.weight)), memory: [], current: null };
}

/** WISE-Retrieve: the last merge_freq / save_freq shards become one, whose threshold is the smallest of theirs. */
function mergeRetrieve(c: ShardConfig, main: Tensor, s: SideState): SideState {
  const n = c.merge_freq / c.save_freq;
  if (s.memory.length < n) throw new Error(`WISE: ${s.memory.length} saved shards, fewer than merge_freq / save_freq = ${n}`);
  const last = s.memory.slice(-n);
  const weight = mergeShards(c.merge_alg, last.map(() => c.weights / n), main, last.map((m) => m.weight), c.densities);
  const minAct = Math.min(NO_ACT, ...last.map((m) => m.minAct));
  return { ...s, memory: [...s.memory.slice(0, -n), { weight, minAct }], current: null, mergeCount: s.mergeCount + 1 };
}
