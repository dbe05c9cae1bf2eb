// The T-Patcher patch (kind 'T-Patcher'): extra FFN neurons on one MLP module. Every neuron j has a key k_j, a bias
// b_j and a value v_j, and adds act(x·k_j + b_j)·v_j to the MLP's output at every position, x being the MLP's input
// there and act the MLP's own activation (GPT-2: gelu_new). That is exactly the original's extra fc1 row
// (ModifyLinearOutput's extra_output) and extra fc2 column (ModifyLinearInput's extra_input, times the amplify factor
// a when amplify_v): the MLP with the patch is the MLP with n more hidden units. Like an FFN neuron the patch is
// active at every position of every pass (not incremental), so teacher-forced scoring and the KV cache see it.
//
// One patch holds the neurons of every edit, tagged with the edit id (removeEdit drops them), and for each edit the
// MLP inputs it added to the memory set of later edits (the original's update_memory). While an edit trains, its
// neurons' parameters are `training`; the neurons of earlier edits are frozen, as the original's assign_layer.
import { cat, keep, noGrad, stack, tidy, type Tensor } from '../../tensor/index.js';
import type { ModulePatch, PatchContext, PatchState } from '../../models/patch.js';
import { applyActivation, type Activation } from '../activation.js';

export { applyActivation };

/** One committed neuron (float32): key [d_in], bias [], value [d_out] (the amplified value a ⊙ v). */
export interface Neuron {
  editId: string;
  key: Tensor;
  bias: Tensor;
  value: Tensor;
}

/** The trainable parameters of the neurons an edit is adding (m of them). */
export interface TrainingNeurons {
  key: Tensor; // [m, d_in]
  bias: Tensor; // [m]
  value: Tensor; // [m, d_out]
  /** The amplify factor a [m, d_out] (amplify_v); the neuron's value is a ⊙ value. */
  amp?: Tensor;
  /** Which of key, bias, value, amp the optimiser updates. */
  trained: Tensor[];
}


export class TPatch implements ModulePatch {
  readonly kind = 'T-Patcher';
  readonly neurons: Neuron[] = [];
  /** Per edit, the MLP inputs [r, d_in] (float32) it added to the memory set of later edits. */
  readonly memories = new Map<string, Tensor>();
  training?: TrainingNeurons;
  private committed?: { key: Tensor; bias: Tensor; value: Tensor };

  constructor(readonly module: string, readonly activation: Activation) {}

  get size(): number {
    return this.neurons.length;
  }

  forward(output: Tensor, ctx: PatchContext): Tensor {
    if (this.neurons.length === 0 && !this.training) return output;
    const { key, bias, value } = this.weights();
    const pre = ctx.input.to('float32').matmul(key.t()).add(bias);
    return output.add(applyActivation(pre, this.activation).matmul(value).to(output.dtype));
  }

  /** Keys [n, d_in], biases [n] and values [n, d_out] of every neuron, the training ones last (with their graph). */
  weights(): { key: Tensor; bias: Tensor; value: Tensor } {
    const t = this.training;
    const c = this.committedWeights();
    if (!t) return c!;
    const value = t.amp ? t.value.mul(t.amp) : t.value;
    if (!c) return { key: t.key, bias: t.bias, value };
    return { key: cat([c.key, t.key], 0), bias: cat([c.bias, t.bias], 0), value: cat([c.value, value], 0) };
  }

  private committedWeights(): { key: Tensor; bias: Tensor; value: Tensor } | undefined {
    if (this.neurons.length === 0) return undefined;
    this.committed ??= keep(tidy(() => noGrad(() => ({
      key: stack(this.neurons.map((n) => n.key)),
      bias: stack(this.neurons.map((n) => n.bias)),
      value: stack(this.neurons.map((n) => n.value)),
    }))));
    return this.committed;
  }

  private invalidate(): void {
    if (!this.committed) return;
    Object.values(this.committed).forEach((t) => t.dispose());
    this.committed = undefined;
  }

  /** Freezes the training neurons as edit `editId`'s (copies; the caller disposes the training tensors). */
  commit(editId: string): Neuron[] {
    const t = this.training;
    if (!t) throw new Error('T-Patcher: no neurons are training');
    const added = keep(tidy(() => noGrad(() => {
      const value = t.amp ? t.value.mul(t.amp) : t.value;
      return Array.from({ length: t.key.shape[0] }, (_, i) => ({
        editId, key: t.key.select(0, i).detach().clone(), bias: t.bias.select(0, i).detach().clone(), value: value.select(0, i).detach().clone(),
      }));
    })));
    this.neurons.push(...added);
    this.invalidate();
    return added;
  }

  /** Records the MLP inputs edit `editId` adds to the memory of later edits (taken: the patch disposes them). */
  addMemory(editId: string, rows: Tensor): void {
    this.memories.get(editId)?.dispose();
    this.memories.set(editId, rows);
  }

  /** The memory rows of every edit the patch holds, in edit order ([0, d_in] when none). */
  editMemory(): Tensor | undefined {
    const rows = [...this.memories.values()];
    return rows.length ? cat(rows, 0) : undefined;
  }

  parameters(): Tensor[] {
    return this.training ? this.training.trained : [];
  }

  removeEdit(editId: string): void {
    for (let i = this.neurons.length - 1; i >= 0; i--) {
      const n = this.neurons[i];
      if (n.editId !== editId) continue;
      [n.key, n.bias, n.value].forEach((t) => t.dispose());
      this.neurons.splice(i, 1);
    }
    this.memories.get(editId)?.dispose();
    this.memories.delete(editId);
    this.invalidate();
  }

  editIds(): string[] {
    return [...new Set([...this.neurons.map((n) => n.editId), ...this.memories.keys()])];
  }

  /**
   * ‖what edit `editId`'s neurons add at each row of `keys`‖ over its mean at the edit's own keys `own` (conflict
   * warnings): a neuron that fires on an earlier edit's input as on its own writes its value there too.
   */
  reach(editId: string, keys: Tensor, own: Tensor): number[] {
    const mine = this.neurons.filter((n) => n.editId === editId);
    if (mine.length === 0) return Array.from({ length: keys.shape[0] }, () => 0);
    return tidy(() => noGrad(() => {
      const key = stack(mine.map((n) => n.key));
      const bias = stack(mine.map((n) => n.bias));
      const value = stack(mine.map((n) => n.value));
      const added = (x: Tensor) => applyActivation(x.to('float32').matmul(key.t()).add(bias), this.activation).matmul(value).norm(2, -1);
      const ref = added(own).mean().item();
      if (!(ref > 0)) return Array.from({ length: keys.shape[0] }, () => 0);
      return added(keys).div(ref).toFlatArray();
    }));
  }

  /** keys [n, d_in], biases [n], values [n, d_out], memory [r, d_in]; meta: the neurons' edit ids, memory rows per edit. */
  /** The neurons' keys, biases and values (the memory rows kept for later edits' memory loss are data, not parameters). */
  parameterCount(): number {
    return this.neurons.reduce((a, n) => a + n.key.numel() + n.bias.numel() + n.value.numel(), 0);
  }

  state(): PatchState {
    this.stateTensors?.forEach((t) => t.dispose());
    const tensors: Record<string, Tensor> = {};
    this.stateTensors = tidy(() => noGrad(() => {
      const out: Tensor[] = [];
      const c = this.committedWeights();
      if (c) {
        out.push(tensors.keys = keep(c.key.clone()), tensors.biases = keep(c.bias.clone()), tensors.values = keep(c.value.clone()));
      }
      const m = this.editMemory();
      if (m) out.push(tensors.memory = keep(m.clone()));
      return out;
    }));
    const meta = {
      version: 1, module: this.module, activation: this.activation, editIds: this.neurons.map((n) => n.editId),
      memoryEdits: [...this.memories.entries()].map(([editId, rows]) => ({ editId, rows: rows.shape[0] })),
    };
    return { tensors, meta };
  }
  private stateTensors?: Tensor[];

  /** Rebuilds a patch from state() (tensors are copied; the caller keeps its own). */
  static fromState(module: string, st: PatchState): TPatch {
    const m = st.meta as any;
    if (m?.version !== 1 || !Array.isArray(m.editIds)) throw new Error(`T-Patcher state for '${module}': unknown format (expected meta.version 1 with editIds)`);
    const p = new TPatch(m.module ?? module, m.activation as Activation);
    const row = (name: string, i: number) => keep(tidy(() => st.tensors[name].select(0, i).to('float32').clone()));
    m.editIds.forEach((editId: string, i: number) => {
      p.neurons.push({ editId, key: row('keys', i), bias: row('biases', i), value: row('values', i) });
    });
    let at = 0;
    for (const { editId, rows } of m.memoryEdits as { editId: string; rows: number }[]) {
      p.memories.set(editId, keep(tidy(() => st.tensors.memory.narrow(0, at, rows).to('float32').clone())));
      at += rows;
    }
    return p;
  }

  dispose(): void {
    this.stateTensors?.forEach((t) => t.dispose());
    this.stateTensors = undefined;
    this.invalidate();
    for (const n of this.neurons) [n.key, n.bias, n.value].forEach((t) => t.dispose());
    this.neurons.length = 0;
    for (const t of this.memories.values()) t.dispose();
    this.memories.clear();
  }
}
