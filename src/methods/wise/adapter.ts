// The WISE adapter: a module patch (kind 'WISE') on one FFN matrix that keeps a side memory — copies of the matrix
// trained by edits — and, per input row, replaces the module's output with a side copy's output when the router says
// the input belongs to an edit (EasyEdit easyeditor/models/wise/WISE.py, WISEAdapter.forward). The main weights never
// change; an adapter with no edit returns the output itself.
//
// Router (EasyEdit's euc with infer=True): the distance of a side copy W' on a row is the mean over the row's real
// tokens in this pass of ‖act(x·W' + b) − act(x·W + b)‖₂, act being the model's MLP activation (EasyEdit applies
// ACT2FN[hidden_act] to both outputs); the max over tokens instead when the row has more than 100 of them. One decision
// per row and pass: teacher-forced scoring decides on prompt + continuation together (as EasyEdit evaluates), and with
// the KV cache each generated token is a pass of its own (as Hugging Face generate calls EasyEdit's adapter).
//   WISE-Merge (retrieve false): candidates the merged memory (d1) and the current shard (d2); both below
//     act_ratio · minAct → the main output; else the farther one.
//   WISE-Retrieve (retrieve true): the current shard if d ≥ act_ratio · minAct, then every saved shard i whose distance
//     exceeds both the best so far and act_ratio · its own threshold.
// WISE-Merge's "final merge" (EasyEdit's WISE.__call__ merges the pending shards into the side memory on the first
// inference after save_freq edits) is computed here as a view of the state, not written into it: measuring never
// changes what later edits build on (docs/wise.md).
import { keep, noGrad, tensor, tidy, type Tensor } from '../../tensor/index.js';
import type { ModulePatch, PatchContext, PatchState } from '../../models/patch.js';
import { applyActivation, type Activation } from '../activation.js';
import { EMPTY_STATE, mergeIntoSide, tensorsOf, type ShardConfig, type SideState } from './memory.js';

export type { Activation } from '../activation.js';

/** What the adapter needs of the hparams and the model (saved with it). */
export interface AdapterConfig extends ShardConfig {
  act_ratio: number;
  activation: Activation;
  /** The weight's layout: GPT-2's Conv1D [in, out] or nn.Linear's [out, in]. */
  layout: 'in_out' | 'out_in';
}

/** The model's own parameters of the wrapped module (read, never written). */
export interface MainWeights {
  weight: Tensor;
  bias?: Tensor;
}

/** An edit in progress: the shard being trained, and what the last pass saw (for the losses). */
export interface Training {
  weight: Tensor;
  main?: Tensor;
  side?: Tensor;
}

/** A side copy the router weighs (null: the main weight, at distance 0) and its threshold before act_ratio. */
interface Candidate {
  weight: Tensor | null;
  minAct: number;
}

interface HistoryEntry {
  editId: string;
  before: SideState;
  removed: boolean;
}

export { applyActivation };

/** Per row, the mean (or, past 100 real tokens with `infer`, the max) of the per-token distances [B, T] over real tokens. */
export function rowDistances(perToken: Tensor, realMask: Tensor, infer: boolean): Tensor {
  const counts = realMask.sum(-1);
  const mean = perToken.mul(realMask).sum(-1).div(counts.clamp(1, null));
  if (!infer || counts.max().item() <= 100) return mean;
  const max = perToken.maskedFill(realMask.eq(0), -Infinity).max(-1, false).values;
  return mean.maskedFill(counts.gt(100), 0).add(max.maskedFill(counts.le(100), 0));
}

/** 1 for the real tokens of this pass [B, T] (from the mask over past + new positions). */
export function passMask(ctx: PatchContext, like: Tensor): Tensor {
  const [b, t] = like.shape;
  if (!ctx.attentionMask) return tensor(new Array(b * t).fill(1), { dtype: 'float32', device: like.device }).reshape(b, t);
  return ctx.attentionMask.narrow(1, ctx.pastLength, t).to({ dtype: 'float32', device: like.device });
}

export class WiseAdapter implements ModulePatch {
  readonly kind = 'WISE';
  side: SideState = EMPTY_STATE;
  readonly history: HistoryEntry[] = [];
  /** Set by the edit loop (edit.ts) while it trains a shard: every row gets that shard's output. */
  training?: Training;
  private view?: { of: SideState; merged: Tensor };

  constructor(readonly module: string, readonly config: AdapterConfig, readonly main: MainWeights) {}

  /** x·W' (+ b) in the module's layout. */
  project(x: Tensor, w: Tensor): Tensor {
    const y = this.config.layout === 'in_out' ? x.matmul(w.to(x.dtype)) : x.matmul(w.to(x.dtype).t());
    return this.main.bias ? y.add(this.main.bias.to(y.dtype)) : y;
  }

  forward(output: Tensor, ctx: PatchContext): Tensor {
    const t = this.training;
    if (t) {
      t.main = output.detach();
      t.side = this.project(ctx.input, t.weight);
      return t.side.to(output.dtype);
    }
    const choices = this.candidates();
    if (choices.length === 0) return output;
    return this.route(output, ctx, choices);
  }

  /** The side copies the router weighs, in EasyEdit's order, with their thresholds (before act_ratio); null = the main weight. */
  private candidates(): Candidate[] {
    const s = this.side;
    if (this.config.retrieve) {
      if (!s.current && s.memory.length === 0) return [];
      return [{ weight: s.current, minAct: s.current ? s.minAct : Infinity }, ...s.memory.map((m) => ({ weight: m.weight, minAct: m.minAct }))];
    }
    const { merged, current } = this.mergeView();
    if (!merged && !current) return [];
    return [{ weight: merged, minAct: s.minAct }, { weight: current, minAct: s.minAct }];
  }

  /** WISE-Merge's memory as inference sees it: with EasyEdit's final merge applied once save_freq edits are done. */
  mergeView(): { merged: Tensor | null; current: Tensor | null } {
    const s = this.side;
    const flush = s.count >= this.config.save_freq && (s.current !== null || s.memory.length > 0);
    if (!flush) return { merged: s.merged, current: s.current };
    if (this.view?.of !== s) {
      this.view?.merged.dispose();
      const shards = [...s.memory.map((m) => m.weight), ...(s.current ? [s.current] : [])];
      this.view = { of: s, merged: keep(mergeIntoSide(this.config, this.main.weight, s.merged, shards)) };
    }
    return { merged: this.view.merged, current: null };
  }

  private route(output: Tensor, ctx: PatchContext, choices: Candidate[]): Tensor {
    const real = passMask(ctx, output);
    const actMain = applyActivation(output, this.config.activation);
    const outs = choices.map((c) => (c.weight ? this.project(ctx.input, c.weight).to(output.dtype) : null));
    const zero = new Array<number>(output.shape[0]).fill(0);
    const dists = outs.map((o) => (o ? rowDistances(applyActivation(o, this.config.activation).sub(actMain).norm(2, -1), real, true).toFlatArray() : zero));
    const pick = (b: number) => (this.config.retrieve ? this.pickRetrieve(dists, choices, b) : this.pickMerge(dists, choices, b));
    const rows = Array.from({ length: output.shape[0] }, (_, b) => pick(b));
    let y = output;
    outs.forEach((o, k) => {
      const mine = rows.flatMap((c, b) => (c === k ? [b] : []));
      if (!o || mine.length === 0) return;
      const idx = tensor(mine, { dtype: 'int64', device: output.device });
      y = y.indexPut([idx], o.index([idx]));
    });
    return y;
  }

  /** -1 = the main output. */
  private pickMerge(d: number[][], c: { minAct: number }[], b: number): number {
    const threshold = c[0].minAct * this.config.act_ratio;
    const [d1, d2] = [d[0][b], d[1][b]];
    if (d1 < threshold && d2 < threshold) return -1;
    return d1 > d2 ? 0 : 1;
  }

  private pickRetrieve(d: number[][], c: { minAct: number }[], b: number): number {
    let best = d[0][b];
    let choice = best < c[0].minAct * this.config.act_ratio ? -1 : 0;
    for (let i = 1; i < c.length; i++) {
      if (d[i][b] > best && d[i][b] > c[i].minAct * this.config.act_ratio) { choice = i; best = d[i][b]; }
    }
    return choice;
  }

  // ---- edits and rollback ----------------------------------------------------------------------------------
  /** Records the state before edit `editId` and makes `next` current (its tensors are kept by the adapter). */
  commit(editId: string, next: SideState, created: Tensor[] = []): void {
    this.history.push({ editId, before: this.side, removed: false });
    this.side = keep(next);
    const held = new Set(tensorsOf(next));
    for (const t of created) if (!held.has(t) && !t.isDisposed) t.dispose();
  }

  parameters(): Tensor[] {
    return this.training ? [this.training.weight] : [];
  }

  /**
   * Undoes edit `editId`: exactly, by going back to the state before it, once it and every later edit are removed
   * (the usual order: the last edit first). An earlier edit removed while later ones stay keeps its share of the
   * shards they were trained on until those are removed too (WISE's shards mix edits; docs/wise.md, "Rollback").
   */
  removeEdit(editId: string): void {
    for (const h of this.history) if (h.editId === editId) h.removed = true;
    while (this.history.length && this.history[this.history.length - 1].removed) {
      const top = this.history.pop()!;
      const dropped = this.side;
      this.side = top.before;
      this.free(dropped);
    }
  }

  /** Ids of the edits in the side memory, oldest first. */
  editIds(): string[] {
    return this.history.map((h) => h.editId);
  }

  /** Frees the tensors of a state no longer reachable from the current one or the history. */
  private free(s: SideState): void {
    const live = new Set([...tensorsOf(this.side), ...this.history.flatMap((h) => tensorsOf(h.before))]);
    for (const t of tensorsOf(s)) if (!live.has(t) && !t.isDisposed) t.dispose();
    if (this.view && this.view.of !== this.side) { this.view.merged.dispose(); this.view = undefined; }
  }

  // ---- save and load -----------------------------------------------------------------------------------------
  /** Every distinct tensor of the current state and the history once, named t0, t1, …; meta refers to them by name. */
  /**
   * Conflict warnings: how much edit `editId` changed the side memory's (activated) output at each row of `keys`,
   * over the mean change at its own keys `own`. Compares the newest side copy after the edit with the one before it
   * (the main weight when there was none); the router's choice is not modelled.
   */
  reach(editId: string, keys: Tensor, own: Tensor): number[] {
    const i = this.history.findIndex((h) => h.editId === editId && !h.removed);
    const zeros = () => Array.from({ length: keys.shape[0] }, () => 0);
    if (i < 0) return zeros();
    const after = i + 1 < this.history.length ? this.history[i + 1].before : this.side;
    const newest = (st: SideState) => st.current ?? st.memory.at(-1)?.weight ?? st.merged;
    const wAfter = newest(after);
    if (!wAfter) return zeros();
    const wBefore = this.history[i].before.current ?? this.main.weight;
    return tidy(() => noGrad(() => {
      const change = (x: Tensor) => {
        const a = applyActivation(this.project(x.unsqueeze(0), wAfter), this.config.activation);
        const b = applyActivation(this.project(x.unsqueeze(0), wBefore), this.config.activation);
        return a.sub(b).norm(2, -1).select(0, 0);
      };
      const ref = change(own).mean().item();
      return ref > 0 ? change(keys).div(ref).toFlatArray() : zeros();
    }));
  }

  /** The side copies the router can choose (current shard, saved shards, merged memory); masks are bookkeeping. */
  parameterCount(): number {
    const s = this.side;
    return [s.current, s.merged, ...s.memory.map((m) => m.weight)].reduce((a, t) => a + (t ? t.numel() : 0), 0);
  }

  state(): PatchState {
    const names = new Map<Tensor, string>();
    const tensors: Record<string, Tensor> = {};
    const ref = (t: Tensor | null) => {
      if (!t) return null;
      if (!names.has(t)) { names.set(t, `t${names.size}`); tensors[names.get(t)!] = t; }
      return names.get(t)!;
    };
    const encode = (s: SideState) => ({
      current: ref(s.current), mask: ref(s.mask), merged: ref(s.merged), minAct: s.minAct, count: s.count, mergeCount: s.mergeCount,
      memory: s.memory.map((m) => ({ weight: ref(m.weight), minAct: m.minAct })),
    });
    const meta = {
      version: 1, module: this.module, config: this.config, side: encode(this.side),
      history: this.history.map((h) => ({ editId: h.editId, removed: h.removed, before: encode(h.before) })),
    };
    return { tensors, meta };
  }

  /** Rebuilds an adapter from state() (tensors are copied; the caller keeps its own). */
  static fromState(module: string, st: PatchState, main: MainWeights): WiseAdapter {
    const m = st.meta as any;
    if (m?.version !== 1 || !m.side || !Array.isArray(m.history)) throw new Error(`WISE state for '${module}': unknown format (expected meta.version 1 with side and history)`);
    const a = new WiseAdapter(m.module ?? module, m.config as AdapterConfig, main);
    const copies = new Map<string, Tensor>();
    const get = (name: string | null): Tensor | null => {
      if (name === null) return null;
      if (!st.tensors[name]) throw new Error(`WISE state for '${module}': tensor '${name}' is missing`);
      if (!copies.has(name)) copies.set(name, keep(tidy(() => noGrad(() => st.tensors[name].clone()))));
      return copies.get(name)!;
    };
    const decode = (e: any): SideState => ({
      current: get(e.current), mask: get(e.mask), merged: get(e.merged), minAct: e.minAct, count: e.count, mergeCount: e.mergeCount,
      memory: (e.memory as any[]).map((x) => ({ weight: get(x.weight)!, minAct: x.minAct })),
    });
    for (const h of m.history as any[]) a.history.push({ editId: h.editId, removed: h.removed, before: decode(h.before) });
    a.side = decode(m.side);
    return a;
  }

  dispose(): void {
    const all = new Set([...tensorsOf(this.side), ...this.history.flatMap((h) => tensorsOf(h.before))]);
    for (const t of all) if (!t.isDisposed) t.dispose();
    this.view?.merged.dispose();
    this.view = undefined;
    this.history.length = 0;
    this.side = EMPTY_STATE;
  }
}
