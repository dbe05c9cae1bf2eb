// Persistent module patches: modules a method installs into the forward pass (GRACE's codebook, T-Patcher's neurons,
// CaliNet's side memory, WISE's side weights). Unlike a trace, which lasts one `forward` call, an installed patch sees
// the module's input and output on every forward: scoring, generation with the KV cache, and tracing (a trace sees
// the patched output). `model.install(patch)` returns the uninstall function.
//
// A patch has its own trainable parameters and a serialisable state (tensors plus JSON), so an edited model saves and
// loads with identical outputs: `kind` names the loader (src/methods/components.ts) that rebuilds it from its state.
import type { Tensor } from '../tensor/index.js';

/** What a patch sees of the pass it runs in. */
export interface PatchContext {
  /** Hugging Face path of the module. */
  module: string;
  /** The module's input [B, T, d_in] (the same tensor the module computed its output from). */
  input: Tensor;
  /** Positions already in the KV cache (0 without one). */
  pastLength: number;
  /**
   * Per row, the index within this pass (0..T-1) of the last real token (right padding ends earlier; left padding
   * and unpadded rows end at T-1; -1 for a row with no real token in this pass).
   */
  lastPositions: number[];
  /** 1 for real tokens, 0 for padding, over past and new positions [B, past + T], when the caller gave one. */
  attentionMask?: Tensor;
}

/** A patch's state as saved: named tensors and JSON metadata. */
export interface PatchState {
  tensors: Record<string, Tensor>;
  meta: Record<string, unknown>;
}

export interface ModulePatch {
  /** Loader name for EditedModel.load (e.g. 'grace'). */
  readonly kind: string;
  /** Hugging Face module path the patch wraps; see `model.modulePaths()`. */
  readonly module: string;
  /**
   * The patch reads each pass's last token (GRACE's query): the model must then be scored as it generates, the prompt
   * in one pass and each continuation token in its own (ScoreOptions.incremental), not teacher-forced in one pass.
   */
  readonly incremental?: boolean;
  /** The module's output as the rest of the model should see it (return `output` itself to leave it alone). */
  forward(output: Tensor, ctx: PatchContext): Tensor;
  /** Trainable tensors of the patch (optimised while it is installed). */
  parameters(): Tensor[];
  /** Everything needed to rebuild the patch; tensors are read, not taken (the caller does not dispose them). */
  state(): PatchState;
  /**
   * For patches that hold items of several edits (a GRACE codebook): drops what edit `editId` added. A patch without
   * it belongs to one edit and is uninstalled when that edit is rolled back.
   */
  removeEdit?(editId: string): void;
  /** Ids of the edits whose items the patch holds (shared patches). */
  editIds?(): string[];
  /**
   * For edit-conflict warnings (src/editor/conflicts.ts): per row of `keys` [N, d_in] (inputs of this module at an
   * earlier edit's key position), the share of edit `editId`'s own change those inputs receive — 1 where the patch acts
   * on them as on the edit's own keys `own` [n, d_in], 0 where the edit leaves them alone.
   */
  reach?(editId: string, keys: Tensor, own: Tensor): number[];
  /** Numbers the patch adds to the model as parameters (default: its state's tensors, rollback history left out). */
  parameterCount?(): number;
  dispose(): void;
}

/** Runs the patches installed at one module over its output, in installation order. */
export function applyPatches(patches: readonly ModulePatch[], output: Tensor, ctx: PatchContext): Tensor {
  let y = output;
  for (const p of patches) y = p.forward(y, ctx);
  return y;
}

/** Per row, the last real token's index within the pass, from a [B, past + T] mask (see PatchContext). */
export function lastRealPositions(mask: number[][] | undefined, batch: number, queryLen: number, pastLen: number): number[] {
  if (mask === undefined) return Array.from({ length: batch }, () => queryLen - 1);
  return mask.map((row) => {
    for (let t = queryLen - 1; t >= 0; t--) if (row[pastLen + t] !== 0) return t;
    return -1;
  });
}
