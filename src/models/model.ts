// A loaded causal language model: parameters by Hugging Face name, a batched forward pass with padding, KV cache
// and tracing, and cheap parameter snapshots for editing.
import {
  noGrad, tensor, tidy, keep, type Device, type DType, type Tensor,
} from '../tensor/index.js';
import type { Architecture, ModelDims, ModuleTemplates } from './architecture.js';
import { blockedMask, positionIdsFor, type LayerCache } from './layers.js';
import { Hooks, type Retained, type TraceSpec } from './trace.js';
import { lastRealPositions, type ModulePatch } from './patch.js';

/** Past keys/values of a batch and the attention mask they were computed under. */
export interface KVCache {
  layers: LayerCache[];
  /** Number of positions already in the cache. */
  length: number;
}

export interface ForwardInput {
  /** Token ids [B, T] (int64 tensor or nested arrays). */
  inputIds: Tensor | number[][];
  /** 1 for real tokens, 0 for padding, covering past and new tokens [B, past + T]. */
  attentionMask?: Tensor | number[][];
  /** Explicit position ids [B, T]; default derived from the mask (see layers.positionIdsFor). */
  positionIds?: Tensor;
  past?: KVCache;
  useCache?: boolean;
  /** Which logits to compute: every position (default), only the last, or none (hidden states only). */
  logits?: 'all' | 'last' | 'none';
  /** Modules to read or edit during this pass. */
  trace?: TraceSpec[];
  /** Also return the residual stream after the embeddings and after each block (before the final norm). */
  residuals?: boolean;
  /**
   * Parameters to use instead of the model's own for this call only (by Hugging Face name, same shapes): a
   * meta-learned editor's fast weights, trained through without touching the model.
   */
  parameterOverrides?: ReadonlyMap<string, Tensor>;
  /** Run without the installed patches (their effect on the model's own computation, for a method's reference). */
  withoutPatches?: boolean;
}

export interface ForwardOutput {
  /** [B, T, V] for 'all', [B, V] for 'last'. */
  logits?: Tensor;
  /** Final hidden states after the last norm [B, T, d]. */
  hidden: Tensor;
  past?: KVCache;
  traces: Map<string, Retained>;
  residuals?: Tensor[];
}

/** Copies of chosen parameters, restorable in place. */
export type ParameterSnapshot = Map<string, Tensor>;

export interface ModelSource {
  /** Directory the model was loaded from (config, tokenizer files). */
  dir: string;
  /** config.json as read. */
  rawConfig: Record<string, any>;
}

/**
 * What every language model offers editing methods and the EditedModel: forward (with traces, patches and per-call
 * parameter overrides), module paths, parameters. The causal LMs (CausalLM) and T5 (T5Model) implement it; src/models/editable.ts dispatches between them.
 */
export interface LanguageModel {
  readonly dims: ModelDims;
  readonly modelType: string;
  readonly source: ModelSource;
  readonly dtype: DType;
  readonly device: Device;
  forward(input: ForwardInput): ForwardOutput;
  logitsFrom(hidden: Tensor): Tensor;
  modulePaths(): string[];
  parameter(name: string): Tensor;
  parameterNames(): string[];
  numParameters(): number;
  setParameter(name: string, value: Tensor): void;
  addToParameter(name: string, delta: Tensor): void;
  snapshot(names: string[]): ParameterSnapshot;
  restore(snapshot: ParameterSnapshot, opts?: { dispose?: boolean }): void;
  install(patch: ModulePatch): () => void;
  installedPatches(): ModulePatch[];
  isInstalled(patch: ModulePatch): boolean;
  dispose(): void;
}

export class CausalLM<C = any> implements LanguageModel {
  readonly dims: ModelDims;
  private readonly knownModules: ReadonlySet<string>;
  private readonly patchesByModule = new Map<string, ModulePatch[]>();

  constructor(
    readonly arch: Architecture<C>,
    readonly config: C,
    readonly params: Map<string, Tensor>,
    readonly dtype: DType,
    readonly device: Device,
    readonly source: ModelSource,
  ) {
    this.dims = arch.dims(config);
    this.knownModules = new Set(arch.modulePaths(config));
  }

  get modelType(): string {
    return this.arch.modelType;
  }
  get templates(): ModuleTemplates {
    return this.arch.templates;
  }
  /** Every module path the trace API accepts, in forward order. */
  modulePaths(): string[] {
    return [...this.knownModules];
  }
  numParameters(): number {
    let n = 0;
    for (const t of this.params.values()) n += t.numel();
    return n;
  }

  // ---- parameters ------------------------------------------------------------------------------------------
  parameter(name: string): Tensor {
    const t = this.params.get(name);
    if (t === undefined) {
      const near = [...this.params.keys()].filter((k) => k.endsWith(name.split('.').slice(-2).join('.'))).slice(0, 4);
      throw new Error(`no parameter '${name}'` + (near.length ? `; did you mean ${near.join(', ')}?` : ''));
    }
    return t;
  }
  parameterNames(): string[] {
    return [...this.params.keys()];
  }
  /** Overwrites a parameter's values in place (shape must match; value is cast to the model's dtype). */
  setParameter(name: string, value: Tensor): void {
    const p = this.parameter(name);
    assertSameShape(name, p, value);
    noGrad(() => tidy(() => { p.copy_(value.to({ dtype: p.dtype, device: p.device })); }));
  }
  /** Adds `delta` to a parameter in place (an edit's ΔW). */
  addToParameter(name: string, delta: Tensor): void {
    const p = this.parameter(name);
    assertSameShape(name, p, delta);
    noGrad(() => tidy(() => { p.add_(delta.to({ dtype: p.dtype, device: p.device })); }));
  }
  /** Copies of the named parameters (only those: cheap for the few matrices an edit touches). */
  snapshot(names: string[]): ParameterSnapshot {
    return new Map(names.map((n) => [n, keep(noGrad(() => this.parameter(n).clone()))]));
  }
  /** Writes a snapshot back in place; `dispose` frees the snapshot afterwards. */
  restore(snapshot: ParameterSnapshot, opts: { dispose?: boolean } = {}): void {
    for (const [name, value] of snapshot) this.setParameter(name, value);
    if (opts.dispose) for (const t of snapshot.values()) t.dispose();
  }

  // ---- patches ---------------------------------------------------------------------------------------------
  /**
   * Installs a persistent patch (patch.ts): it runs on every forward until the returned function uninstalls it.
   * Installing the same patch twice is an error.
   */
  install(patch: ModulePatch): () => void {
    if (!this.knownModules.has(patch.module)) {
      throw new Error(`cannot install a ${patch.kind} patch at '${patch.module}': the model has no such module (list them with \`lmedit inspect\`)`);
    }
    const list = this.patchesByModule.get(patch.module) ?? [];
    if (list.includes(patch)) throw new Error(`the ${patch.kind} patch at '${patch.module}' is already installed`);
    list.push(patch);
    this.patchesByModule.set(patch.module, list);
    return () => {
      const l = this.patchesByModule.get(patch.module);
      const i = l ? l.indexOf(patch) : -1;
      if (i < 0) return;
      l!.splice(i, 1);
      if (l!.length === 0) this.patchesByModule.delete(patch.module);
    };
  }
  /** The installed patches, in forward order of their modules and installation order within one. */
  installedPatches(): ModulePatch[] {
    return [...this.knownModules].flatMap((m) => this.patchesByModule.get(m) ?? []);
  }
  isInstalled(patch: ModulePatch): boolean {
    return this.patchesByModule.get(patch.module)?.includes(patch) ?? false;
  }

  // ---- forward ---------------------------------------------------------------------------------------------
  /** One batched forward pass. Run it inside tidy(); returned tensors belong to the caller's scope. */
  forward(input: ForwardInput): ForwardOutput {
    const ids = asIds(input.inputIds, 'inputIds');
    const [batch, queryLen] = ids.shape;
    const pastLen = input.past?.length ?? 0;
    const mask = input.attentionMask === undefined ? undefined : asIds(input.attentionMask, 'attentionMask');
    if (mask !== undefined && (mask.shape[0] !== batch || mask.shape[1] !== pastLen + queryLen)) {
      throw new Error(`attentionMask has shape [${mask.shape}], expected [${batch}, ${pastLen + queryLen}] (past ${pastLen} + new ${queryLen})`);
    }
    if (this.arch.learnedPositions && pastLen + queryLen > this.dims.maxPositions) {
      throw new Error(`sequence of ${pastLen + queryLen} tokens exceeds the model's ${this.dims.maxPositions} positions`);
    }
    const positionIds = input.positionIds ?? positionIdsFor(mask, batch, queryLen, pastLen);
    const patched = !input.withoutPatches && this.patchesByModule.size > 0;
    const hooks = new Hooks(input.trace, this.knownModules, patched ? {
      byModule: this.patchesByModule,
      context: {
        pastLength: pastLen, attentionMask: mask,
        lastPositions: lastRealPositions(mask === undefined ? undefined : (mask.toArray() as number[][]), batch, queryLen, pastLen),
      },
    } : undefined);
    const overrides = input.parameterOverrides;
    const param = overrides ? (n: string) => overrides.get(n) ?? this.parameter(n) : (n: string) => this.parameter(n);
    const residuals: Tensor[] = [];
    const out = this.arch.forward(this.config, {
      inputIds: ids,
      positionIds,
      blocked: blockedMask(mask, batch, queryLen, pastLen),
      past: input.past?.layers,
      useCache: input.useCache ?? false,
      hooks,
      p: param,
      onResidual: input.residuals ? (h) => residuals.push(h) : undefined,
    });
    const which = input.logits ?? 'all';
    let logits: Tensor | undefined;
    if (which !== 'none') {
      const h = which === 'last' ? out.hidden.select(1, -1) : out.hidden;
      logits = hooks.module(this.arch.templates.logits, h, (x) => this.arch.lmHead(this.config, param, x));
    }
    return {
      logits,
      hidden: out.hidden,
      past: out.cache ? { layers: out.cache, length: pastLen + queryLen } : undefined,
      traces: hooks.retained,
      residuals: input.residuals ? residuals : undefined,
    };
  }

  /** Logits from final hidden states [.., d] → [.., V] (the LM head alone, no hooks). */
  logitsFrom(hidden: Tensor): Tensor {
    return this.arch.lmHead(this.config, (n) => this.parameter(n), hidden);
  }

  /** Runs a forward pass and returns what the trace specs retained (no gradient unless asked for by the caller). */
  trace(input: Omit<ForwardInput, 'trace'>, specs: TraceSpec[]): ForwardOutput {
    return this.forward({ ...input, trace: specs });
  }

  /** Frees every parameter. */
  dispose(): void {
    for (const t of this.params.values()) t.dispose();
  }
}

export function assertSameShape(name: string, p: Tensor, v: Tensor): void {
  const a = p.shape;
  const b = v.shape;
  if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
    throw new Error(`parameter '${name}' has shape [${a}], the new value has shape [${b}]`);
  }
}

function asIds(x: Tensor | number[][], what: string): Tensor {
  if (Array.isArray(x)) {
    if (x.length === 0 || !Array.isArray(x[0])) throw new Error(`${what}: expected a [batch, length] array of token ids`);
    return tensor(x, { dtype: 'int64' });
  }
  if (x.ndim !== 2) throw new Error(`${what}: expected shape [batch, length], got [${x.shape}]`);
  return x.dtype === 'int64' ? x : x.to('int64');
}
