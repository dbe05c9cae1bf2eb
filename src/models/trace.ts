// Reading and intervening at named modules during a forward pass (in the spirit of baukit's Trace/TraceDict).
//
// Every architecture wraps each Hugging Face module in `hooks.module(path, input, fn)`; with no trace registered
// that costs one Map lookup. A trace can keep a module's input and/or output, and edit either with a function whose
// result replaces it (gradients flow through the edit). This is the one primitive every editing method uses:
// ROME adds a vector to an MLP output at the subject's last token, MEMIT to a block output, KN scales neurons,
// GRACE swaps a layer's output. No method reaches into a model any other way.
import { Tensor, tensor, type IndexList } from '../tensor/index.js';
import { applyPatches, type ModulePatch, type PatchContext } from './patch.js';

export interface TraceContext {
  /** Hugging Face path of the module, e.g. `transformer.h.2.mlp.c_proj`. */
  module: string;
  /** The module's input (after any editInput); set for editOutput. */
  input?: Tensor;
}

export interface TraceSpec {
  /** Hugging Face module path; see `model.modulePaths()`. */
  module: string;
  /** Keep the module's input (after any editInput). Default false. */
  retainInput?: boolean;
  /** Keep the module's output (after any editOutput). Default true. */
  retainOutput?: boolean;
  /** Replace the input the module sees. */
  editInput?: (input: Tensor, ctx: TraceContext) => Tensor;
  /** Replace the module's output. */
  editOutput?: (output: Tensor, ctx: TraceContext) => Tensor;
  /** Keep retained tensors attached to the autograd graph (default: detached unless they require grad). */
  keepGraph?: boolean;
}

export interface Retained {
  input?: Tensor;
  output?: Tensor;
}

/** The installed patches of a model and what they need to know about the pass (see patch.ts). */
export interface PatchSet {
  byModule: ReadonlyMap<string, readonly ModulePatch[]>;
  context: Omit<PatchContext, 'module' | 'input'>;
}

/** The hook points of one forward pass; created by the model from the caller's trace specs and installed patches. */
export class Hooks {
  readonly retained = new Map<string, Retained>();
  private readonly specs = new Map<string, TraceSpec[]>();

  constructor(specs: TraceSpec[] = [], known?: ReadonlySet<string>, private readonly patches?: PatchSet) {
    for (const s of specs) {
      if (known && !known.has(s.module)) throw new Error(unknownModuleMessage(s.module, known));
      const list = this.specs.get(s.module) ?? [];
      list.push(s);
      this.specs.set(s.module, list);
    }
  }

  get active(): boolean {
    return this.specs.size > 0 || (this.patches?.byModule.size ?? 0) > 0;
  }

  /**
   * Runs `fn` as the module `path`: the trace's input edits, the module, its installed patches, then the trace's
   * output edits (a trace sees the patched output); keeps what was asked for.
   */
  module(path: string, input: Tensor, fn: (input: Tensor) => Tensor): Tensor {
    const specs = this.specs.get(path);
    const patches = this.patches?.byModule.get(path);
    if (specs === undefined && patches === undefined) return fn(input);
    let x = input;
    if (specs) for (const s of specs) if (s.editInput) x = s.editInput(x, { module: path });
    let y = fn(x);
    if (patches) y = applyPatches(patches, y, { ...this.patches!.context, module: path, input: x });
    if (specs === undefined) return y;
    for (const s of specs) if (s.editOutput) y = s.editOutput(y, { module: path, input: x });
    const keepGraph = specs.some((s) => s.keepGraph);
    const r: Retained = this.retained.get(path) ?? {};
    if (specs.some((s) => s.retainInput)) r.input = keepGraph ? x : x.detach();
    if (specs.some((s) => s.retainOutput ?? true)) r.output = keepGraph ? y : y.detach();
    this.retained.set(path, r);
    return y;
  }
}

function unknownModuleMessage(path: string, known: ReadonlySet<string>): string {
  const parts = path.split('.');
  const near = [...known].filter((k) => k.split('.').slice(-1)[0] === parts[parts.length - 1]).slice(0, 5);
  return `unknown module '${path}'` + (near.length ? `; modules with that name: ${near.join(', ')}` : '') +
    ' (list them with model.modulePaths() or `lmedit inspect`)';
}

/** Row and position lists for the helpers below: one (row, position) pair per entry. */
export interface Positions {
  rows: number[];
  positions: number[];
}

function indexOf(at: Positions, device: string): IndexList {
  if (at.rows.length !== at.positions.length) {
    throw new Error(`positions: ${at.rows.length} rows but ${at.positions.length} positions`);
  }
  const opts = { dtype: 'int64' as const, device: device as 'cpu' };
  return [tensor(at.rows, opts), tensor(at.positions, opts)];
}

/**
 * An editOutput/editInput function that adds `delta` ([d] or [n, d]) to the hidden states [B, T, d] at the given
 * (row, position) pairs. Gradients flow to `delta` (ROME/MEMIT optimise it this way).
 */
export function addAt(at: Positions, delta: Tensor): (h: Tensor) => Tensor {
  return (h) => {
    const idx = indexOf(at, h.device);
    const d = delta.ndim === 1 ? delta.unsqueeze(0).expand(at.rows.length, delta.shape[0]) : delta;
    return h.indexPut(idx, d.to(h.dtype), true);
  };
}

/** Replaces the hidden states at the given (row, position) pairs with `value` ([d] or [n, d]). */
export function replaceAt(at: Positions, value: Tensor): (h: Tensor) => Tensor {
  return (h) => {
    const idx = indexOf(at, h.device);
    const v = value.ndim === 1 ? value.unsqueeze(0).expand(at.rows.length, value.shape[0]) : value;
    return h.indexPut(idx, v.to(h.dtype), false);
  };
}

/** Gathers hidden states [B, T, d] at (row, position) pairs into [n, d]. */
export function gatherAt(h: Tensor, at: Positions): Tensor {
  return h.index(indexOf(at, h.device));
}
