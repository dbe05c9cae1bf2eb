// GRACE's codebook (Hartvigsen et al. 2023, §3; Thartvigsen/GRACE grace/editors/grace.py, GRACEAdapter): keys (the
// layer's input at an edit's key position), one value per key (the layer output that replaces the original), a
// deferral radius ε per key, the key's label (the edit's label vector) and, here, the id of the edit that made it.
//
// Placing a new edit's key follows the original's rules exactly (GRACEAdapter.forward, iteration 0):
//   - empty codebook → the first key, radius ε_init;
//   - nearest key farther than ε_init + ε_nearest → a new key, radius ε_init;
//   - otherwise, labels differ → a new key and both radii split: ε_nearest = d/2 - 1e-5, ε_new = d/2;
//   - otherwise (same label) and d > ε_nearest → expand: ε_nearest = d (eps_expand coverage), or move the nearest key
//     halfway to the query and set ε_nearest = d (moving_average); the nearest key's value is then trained again.
// Radii and distances are float32, as the original's tensors (Math.fround where it does arithmetic).
//
// Rollback (not in the original): an edit that changes another edit's entry (a split radius, an expanded radius, a
// moved key, a retrained value) records that entry's state before its first change. removeEdit(id) drops the entries
// the edit created and restores the entries whose last change it made; see docs/grace.md ("Rollback").
import { keep, noGrad, stack, tensor, tidy, type Tensor } from '../../tensor/index.js';
import type { EpsExpand } from './hparams.js';

const f32 = Math.fround;

/** An entry's state before an edit first changed it (key/value only when that edit replaced them). */
interface Change {
  editId: string;
  epsilon: number;
  key?: Tensor;
  value?: Tensor;
}

export interface Entry {
  /** Layer input at the key position [d_in] (the layer's dtype). */
  key: Tensor;
  /** The layer output that replaces the original [d_out]. */
  value: Tensor;
  epsilon: number;
  /** The edit's label vector: -100 over the prompt, then the target ids (the original's `tokens["labels"]`). */
  label: number[];
  /** float32 mean of `label`: the original's label_match compares these. */
  labelMean: number;
  /** The edit that created the entry. */
  editId: string;
  /** Later edits' changes, oldest first. */
  history: Change[];
}

export type PlacementAction = 'first' | 'add' | 'split' | 'expand' | 'reuse';

export interface Placement {
  action: PlacementAction;
  /** The entry whose value the edit trains (the key nearest to the query after placing). */
  entry: number;
  /** Distance from the query to the nearest key before placing (undefined for the first key). */
  distance?: number;
  /** The key that was nearest before placing. */
  nearest?: number;
}

/** The original's label_match: `edit_label.float().mean() == key_label.float().mean()`. */
export function labelMean(label: number[]): number {
  return tidy(() => tensor(label, { dtype: 'float32' }).mean().item());
}

export class Codebook {
  readonly entries: Entry[] = [];
  private keyMatrix?: Tensor;
  private valueMatrix?: Tensor;

  get size(): number {
    return this.entries.length;
  }
  epsilons(): number[] {
    return this.entries.map((e) => e.epsilon);
  }
  /** Edits with an entry here (in creation order), then edits that only changed other edits' entries. */
  editIds(): string[] {
    return [...new Set([...this.entries.map((e) => e.editId), ...this.entries.flatMap((e) => e.history.map((c) => c.editId))])];
  }

  /** Keys as one float32 matrix [N, d_in] (cached; the original computes distances in float32). */
  keys(): Tensor {
    this.keyMatrix ??= keep(tidy(() => noGrad(() => stack(this.entries.map((e) => e.key)).to('float32'))));
    return this.keyMatrix;
  }
  /** Values as one matrix [N, d_out] (cached). */
  values(): Tensor {
    this.valueMatrix ??= keep(tidy(() => noGrad(() => stack(this.entries.map((e) => e.value)))));
    return this.valueMatrix;
  }

  /** Euclidean distance from each query row [n, d_in] to its nearest key: float32 distances and key indices. */
  nearest(queries: Tensor): { distance: number[]; index: number[] } {
    return tidy(() => noGrad(() => {
      const keys = this.keys();
      const q = queries.to('float32');
      const distance: number[] = [];
      const index: number[] = [];
      for (let i = 0; i < q.shape[0]; i++) {
        const { values, indices } = keys.sub(q.select(0, i)).norm(2, -1).min(0);
        distance.push(values.item());
        index.push(indices.item());
      }
      return { distance, index };
    }));
  }

  /**
   * Places an edit's key (the rules at the top of this file); `newValue` gives the initial value of a new key.
   * Returns the entry to train.
   */
  place(query: Tensor, label: number[], editId: string, init: { eps: number; expand: EpsExpand }, newValue: () => Tensor): Placement {
    const mean = labelMean(label);
    const add = (epsilon: number) => this.push({ key: keep(query.detach().clone()), value: keep(newValue()), epsilon, label, labelMean: mean, editId, history: [] });
    if (this.size === 0) {
      add(f32(init.eps));
      return { action: 'first', entry: 0 };
    }
    const q = query.unsqueeze(0);
    const { distance: [d], index: [k] } = this.nearest(q);
    const near = this.entries[k];
    let action: PlacementAction;
    if (d > f32(f32(init.eps) + near.epsilon)) {
      add(f32(init.eps));
      action = 'add';
    } else if (mean !== near.labelMean) {
      add(f32(d / 2));
      this.change(k, editId, { epsilon: f32(f32(d / 2) - f32(1e-5)) });
      action = 'split';
    } else if (d > near.epsilon) {
      const key = init.expand === 'moving_average' ? tidy(() => noGrad(() => near.key.mul(0.5).add(query.to(near.key.dtype).mul(0.5)))) : undefined;
      this.change(k, editId, { epsilon: d, key });
      action = 'expand';
    } else {
      action = 'reuse';
    }
    return { action, entry: this.nearest(q).index[0], distance: d, nearest: k };
  }

  /** Sets an entry's fields on behalf of `editId`, recording the entry's state first when another edit owns it. */
  change(i: number, editId: string, to: { epsilon?: number; key?: Tensor; value?: Tensor }): void {
    const e = this.entries[i];
    let record: Change | undefined;
    if (e.editId !== editId) {
      record = e.history.find((c) => c.editId === editId);
      if (!record) e.history.push(record = { editId, epsilon: e.epsilon });
    }
    if (to.epsilon !== undefined) e.epsilon = to.epsilon;
    for (const field of ['key', 'value'] as const) {
      const t = to[field];
      if (t === undefined) continue;
      const old = e[field];
      e[field] = keep(t);
      if (record && record[field] === undefined) record[field] = old;
      else old.dispose();
    }
    this.invalidate();
  }

  /**
   * Drops the entries `editId` created and undoes its changes to other entries: restored when it made the entry's
   * last change; otherwise its record is folded into the next one (so removing the later edits too restores the state
   * before all of them).
   */
  removeEdit(editId: string): void {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      if (e.editId === editId) {
        disposeEntry(e);
        this.entries.splice(i, 1);
        continue;
      }
      const at = e.history.findIndex((c) => c.editId === editId);
      if (at < 0) continue;
      const [c] = e.history.splice(at, 1);
      if (at === e.history.length) {
        e.epsilon = c.epsilon;
        if (c.key) { e.key.dispose(); e.key = c.key; }
        if (c.value) { e.value.dispose(); e.value = c.value; }
      } else {
        const next = e.history[at];
        next.epsilon = c.epsilon;
        if (c.key) { next.key?.dispose(); next.key = c.key; }
        if (c.value) { next.value?.dispose(); next.value = c.value; }
      }
    }
    this.invalidate();
  }

  /** Appends an entry (its tensors kept by the caller). */
  push(e: Entry): void {
    this.entries.push(e);
    this.invalidate();
  }

  invalidate(): void {
    this.keyMatrix?.dispose();
    this.valueMatrix?.dispose();
    this.keyMatrix = undefined;
    this.valueMatrix = undefined;
  }

  dispose(): void {
    this.invalidate();
    for (const e of this.entries) disposeEntry(e);
    this.entries.length = 0;
  }
}

function disposeEntry(e: Entry): void {
  e.key.dispose();
  e.value.dispose();
  for (const c of e.history) {
    c.key?.dispose();
    c.value?.dispose();
  }
}
