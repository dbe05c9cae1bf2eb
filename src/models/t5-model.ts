// The T5 encoder-decoder as a LanguageModel: parameters by HF name, one forward that runs the encoder (unless its
// output or a cache is given) and the decoder with a KV cache (self-attention keys/values grow per step; the
// cross-attention keys/values are computed once per prompt and kept in the cache with the encoder output), traces
// and installed patches at every module path of both stacks, per-call parameter overrides, snapshots; and its
// loader and saver. Not a CausalLM (two stacks, two inputs), so it has its own loader (loadT5Model) instead of a
// registry architecture: the registry's 't5' entry only refuses, pointing here (t5-refusal.ts).
import { join } from 'node:path';
import {
  arange, keep, noGrad, tensor, tidy, type Device, type DType, type Tensor,
} from '../tensor/index.js';
import {
  openCheckpointWeights, readSafetensorsHeader, type TensorEntry,
} from '../io/safetensors.js';
import { readModelConfig, resolveModelDir } from '../io/checkpoint.js';
import { readParameter } from './load.js';
import type { ModelDims } from './architecture.js';
import type { LayerCache } from './layers.js';
import { assertSameShape, type ForwardInput, type ForwardOutput, type KVCache, type LanguageModel, type ModelSource, type ParameterSnapshot, type CausalLM } from './model.js';
import { lastRealPositions, type ModulePatch } from './patch.js';
import { Hooks, type Retained, type TraceSpec } from './trace.js';
import { saveModel, type SaveOptions } from './save.js';
import {
  parseT5Config, runStack, t5CanonicalName, t5LmHead, t5ModulePaths, t5ParameterShapes, type T5Config,
} from './t5.js';

/** The decoder's cache: self-attention K/V per layer (`layers`), cross-attention K/V, and the encoder side. */
export interface T5Cache extends KVCache {
  cross: LayerCache[];
  encoderHidden: Tensor;
  /** Encoder attention mask [B, S_enc] (absent: no padding). */
  encoderMask?: Tensor;
}

export interface T5ForwardInput extends ForwardInput {
  /**
   * `inputIds` / `attentionMask` are the encoder's (ignored when `past` or `encoderHidden` is given). Decoder token ids
   * [B, T]; default one `decoder_start_token_id` per row.
   */
  decoderInputIds?: Tensor | number[][];
  /** 1 for real decoder tokens, 0 for padding, over past and new decoder positions [B, past + T]. */
  decoderAttentionMask?: Tensor | number[][];
  /** The encoder's output [B, S, d] from an earlier call: skips the encoder. */
  encoderHidden?: Tensor;
  past?: T5Cache;
}

export interface T5ForwardOutput extends ForwardOutput {
  /** Encoder output after its final norm [B, S, d] (the cache's when `past` was given). */
  encoderHidden: Tensor;
  /** Encoder residual stream after the embeddings and each block (when `residuals`; `residuals` are the decoder's). */
  encoderResiduals?: Tensor[];
  past?: T5Cache;
}

export interface T5LoadOptions {
  dtype?: DType;
  device?: Device;
  revision?: string;
  /** Read this safetensors file of the directory instead of model.safetensors / the sharded index. */
  weightsFile?: string;
  /** Where warnings go (long prompts); default process.emitWarning. */
  onWarning?: (message: string) => void;
}

export class T5Model implements LanguageModel {
  readonly dims: ModelDims;
  readonly modelType = 't5';
  private readonly known: ReadonlySet<string>;
  private readonly patchesByModule = new Map<string, ModulePatch[]>();
  private warnedLength = 0;
  onWarning: (message: string) => void;

  constructor(
    readonly config: T5Config,
    readonly params: Map<string, Tensor>,
    readonly dtype: DType,
    readonly device: Device,
    readonly source: ModelSource,
    onWarning?: (message: string) => void,
  ) {
    const c = config;
    // dims describe the decoder, the stack that produces the logits
    this.dims = {
      numLayers: c.decoderLayers, hiddenSize: c.d, intermediateSize: c.dFf, vocabSize: c.vocabSize,
      numHeads: c.numHeads, numKeyValueHeads: c.numHeads, headDim: c.dKv, maxPositions: c.positionLimit,
    };
    this.known = new Set(t5ModulePaths(c));
    this.onWarning = onWarning ?? ((m) => process.emitWarning(m, { code: 'LMEDIT_T5_POSITIONS' }));
  }

  modulePaths(): string[] {
    return [...this.known];
  }
  numParameters(): number {
    let n = 0;
    for (const t of this.params.values()) n += t.numel();
    return n;
  }
  parameter(name: string): Tensor {
    const t = this.params.get(name);
    if (t === undefined) {
      const near = [...this.params.keys()].filter((k) => k.endsWith(name.split('.').slice(-2).join('.'))).slice(0, 4);
      throw new Error(`no parameter '${name}' in the T5 model of ${this.source.dir}` + (near.length ? `; did you mean ${near.join(', ')}?` : ''));
    }
    return t;
  }
  parameterNames(): string[] {
    return [...this.params.keys()];
  }
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
  snapshot(names: string[]): ParameterSnapshot {
    return new Map(names.map((n) => [n, keep(noGrad(() => this.parameter(n).clone()))]));
  }
  restore(snapshot: ParameterSnapshot, opts: { dispose?: boolean } = {}): void {
    for (const [name, value] of snapshot) this.setParameter(name, value);
    if (opts.dispose) for (const t of snapshot.values()) t.dispose();
  }

  install(patch: ModulePatch): () => void {
    if (!this.known.has(patch.module)) {
      throw new Error(`cannot install a ${patch.kind} patch at '${patch.module}': the T5 model has no such module (list them with \`lmedit inspect\`)`);
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
  installedPatches(): ModulePatch[] {
    return [...this.known].flatMap((m) => this.patchesByModule.get(m) ?? []);
  }
  isInstalled(patch: ModulePatch): boolean {
    return this.patchesByModule.get(patch.module)?.includes(patch) ?? false;
  }

  /** Warns (once per new maximum) when a sequence is longer than the positions T5's buckets tell apart sensibly. */
  private checkLength(n: number, what: string): void {
    const limit = this.config.positionLimit;
    if (n <= limit || n <= this.warnedLength) return;
    this.warnedLength = n;
    const basis = this.source.rawConfig.n_positions != null
      ? `n_positions ${limit} in ${join(this.source.dir, 'config.json')}`
      : `relative_attention_max_distance ${limit}: beyond it all distances share one position bucket`;
    this.onWarning(`T5 ${what} of ${n} tokens is longer than the model buckets positions sensibly (${basis}); outputs may degrade`);
  }

  private hooksFor(trace: TraceSpec[] | undefined, patched: boolean, mask: Tensor | undefined, batch: number, len: number, past: number): Hooks {
    return new Hooks(trace, this.known, patched ? {
      byModule: this.patchesByModule,
      context: {
        pastLength: past, attentionMask: mask,
        lastPositions: lastRealPositions(mask === undefined ? undefined : (mask.toArray() as number[][]), batch, len, past),
      },
    } : undefined);
  }

  /** Runs the encoder alone: its output after the final norm [B, S, d]. */
  encode(input: Pick<T5ForwardInput, 'inputIds' | 'attentionMask' | 'trace' | 'parameterOverrides' | 'withoutPatches' | 'residuals'>):
    { hidden: Tensor; traces: Map<string, Retained>; residuals?: Tensor[] } {
    const ids = asIds(input.inputIds, 'inputIds', this.device);
    const [batch, len] = ids.shape;
    const mask = input.attentionMask === undefined ? undefined : asIds(input.attentionMask, 'attentionMask', this.device, [batch, len]);
    this.checkLength(len, 'encoder input');
    const patched = !input.withoutPatches && this.patchesByModule.size > 0;
    const hooks = this.hooksFor(input.trace, patched, mask, batch, len, 0);
    const residuals: Tensor[] = [];
    const { hidden } = runStack('encoder', ids, {
      c: this.config, hooks, p: this.paramFn(input.parameterOverrides), pastLength: 0, useCache: false,
      selfBlocked: padBlocked(mask, batch, len),
      onResidual: input.residuals ? (h) => residuals.push(h) : undefined,
    });
    return { hidden, traces: hooks.retained, residuals: input.residuals ? residuals : undefined };
  }

  /** Encoder (unless given or cached) then decoder. Run inside tidy(); returned tensors belong to the caller's scope. */
  forward(input: T5ForwardInput): T5ForwardOutput {
    const c = this.config;
    const past = input.past;
    let encoderHidden = past?.encoderHidden ?? input.encoderHidden;
    let encoderMask = past ? past.encoderMask : undefined;
    let traces = new Map<string, Retained>();
    let encoderResiduals: Tensor[] | undefined;
    if (encoderHidden === undefined) {
      const enc = this.encode(input);
      encoderHidden = enc.hidden;
      traces = enc.traces;
      encoderResiduals = enc.residuals;
    }
    if (!past && input.attentionMask !== undefined) encoderMask = asIds(input.attentionMask, 'attentionMask', this.device, encoderHidden.shape.slice(0, 2));
    const batch = encoderHidden.shape[0];
    const dec = input.decoderInputIds === undefined
      ? tensor(Array.from({ length: batch }, () => [c.decoderStartTokenId]), { dtype: 'int64', device: this.device })
      : asIds(input.decoderInputIds, 'decoderInputIds', this.device);
    if (dec.shape[0] !== batch) throw new Error(`decoderInputIds has ${dec.shape[0]} rows, the encoder input ${batch}`);
    const queryLen = dec.shape[1];
    const pastLen = past?.length ?? 0;
    const decMask = input.decoderAttentionMask === undefined ? undefined
      : asIds(input.decoderAttentionMask, 'decoderAttentionMask', this.device, [batch, pastLen + queryLen]);
    this.checkLength(pastLen + queryLen, 'decoder sequence');
    const patched = !input.withoutPatches && this.patchesByModule.size > 0;
    const hooks = this.hooksFor(input.trace, patched, decMask, batch, queryLen, pastLen);
    const p = this.paramFn(input.parameterOverrides);
    const residuals: Tensor[] = [];
    const useCache = input.useCache ?? false;
    const out = runStack('decoder', dec, {
      c, hooks, p, pastLength: pastLen, useCache,
      selfBlocked: causalBlocked(decMask, batch, queryLen, pastLen, this.device),
      past: past?.layers, crossPast: past?.cross,
      encoderHidden, crossBlocked: padBlocked(encoderMask, batch, encoderHidden.shape[1], 1),
      onResidual: input.residuals ? (h) => residuals.push(h) : undefined,
    });
    const which = input.logits ?? 'all';
    let logits: Tensor | undefined;
    if (which !== 'none') {
      const h = which === 'last' ? out.hidden.select(1, -1) : out.hidden;
      logits = t5LmHead(c, p, h, (x, fn) => hooks.module('lm_head', x, fn));
    }
    for (const [k, v] of hooks.retained) traces.set(k, v);
    return {
      logits,
      hidden: out.hidden,
      encoderHidden,
      past: useCache ? { layers: out.cache!, cross: out.cross!, length: pastLen + queryLen, encoderHidden, encoderMask } : undefined,
      traces,
      residuals: input.residuals ? residuals : undefined,
      encoderResiduals,
    };
  }

  /** Logits from decoder final-norm outputs [.., d] → [.., V] (the head alone, with the tied d^-0.5 rescale). */
  logitsFrom(hidden: Tensor): Tensor {
    return t5LmHead(this.config, (n) => this.parameter(n), hidden);
  }

  trace(input: Omit<T5ForwardInput, 'trace'>, specs: TraceSpec[]): T5ForwardOutput {
    return this.forward({ ...input, trace: specs });
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
  }

  private paramFn(overrides: ReadonlyMap<string, Tensor> | undefined): (n: string) => Tensor {
    return overrides ? (n) => overrides.get(n) ?? this.parameter(n) : (n) => this.parameter(n);
  }
}

/** Frees a T5 cache's tensors (self and cross K/V, the encoder output and mask). */
export function disposeT5Cache(c: T5Cache): void {
  for (const l of [...c.layers, ...c.cross]) {
    l.k.dispose();
    l.v.dispose();
  }
  c.encoderHidden.dispose();
  c.encoderMask?.dispose();
}

/** bool [B, 1, T, past + T]: key j blocked for query i unless j <= past + i and the key is not padding. */
function causalBlocked(mask: Tensor | undefined, batch: number, queryLen: number, pastLen: number, device: Device): Tensor {
  return noGrad(() => {
    const keyLen = pastLen + queryLen;
    const q = arange(pastLen, keyLen, 1, { device }).unsqueeze(1);
    const future = arange(0, keyLen, 1, { device }).unsqueeze(0).gt(q).view(1, 1, queryLen, keyLen);
    return mask === undefined ? future.expand(batch, 1, queryLen, keyLen) : future.logicalOr(mask.eq(0).view(batch, 1, 1, keyLen));
  });
}

/** bool [B, 1, Q, S] (Q = queries, or 1 to broadcast): true for padded keys. Undefined mask: nothing blocked. */
function padBlocked(mask: Tensor | undefined, batch: number, keys: number, queries = keys): Tensor | undefined {
  if (mask === undefined) return undefined;
  return noGrad(() => mask.eq(0).view(batch, 1, 1, keys).expand(batch, 1, queries, keys));
}

function asIds(x: Tensor | number[][], what: string, device: Device, shape?: number[]): Tensor {
  let t: Tensor;
  if (Array.isArray(x)) {
    if (x.length === 0 || !Array.isArray(x[0])) throw new Error(`${what}: expected a [batch, length] array of token ids`);
    t = tensor(x, { dtype: 'int64', device });
  } else {
    if (x.ndim !== 2) throw new Error(`${what}: expected shape [batch, length], got [${x.shape}]`);
    t = x.dtype === 'int64' && x.device === device ? x : x.to({ dtype: 'int64', device });
  }
  if (shape && (t.shape[0] !== shape[0] || t.shape[1] !== shape[1])) throw new Error(`${what} has shape [${t.shape}], expected [${shape}]`);
  return t;
}

/** What loadModel says about a T5 checkpoint, after naming the file. */
export function t5NotCausalMessage(): string {
  return 'it is a T5 encoder-decoder (T5ForConditionalGeneration), not a causal LM: load it with loadT5Model(dir) ' +
    '(src/models/t5-model.ts) and score or generate through T5TextLM (src/models/t5-text.ts)';
}

/** True when the directory (or cached repo id) holds a T5 checkpoint (config.json model_type 't5'). */
export function isT5Checkpoint(nameOrPath: string, revision?: string): boolean {
  try {
    const { config } = readModelConfig(resolveModelDir(nameOrPath, { revision }));
    return config.model_type === 't5';
  } catch {
    return false;
  }
}

/** Loads T5ForConditionalGeneration weights (tied or untied head) from a directory or a cached repo id. */
export function loadT5Model(nameOrPath: string, opts: T5LoadOptions = {}): T5Model {
  const dir = resolveModelDir(nameOrPath, { revision: opts.revision });
  const { config: raw, file: configFile } = readModelConfig(dir);
  const config = parseT5Config(raw, configFile);
  const weights = opts.weightsFile
    ? { tensors: readSafetensorsHeader(join(dir, opts.weightsFile)).tensors }
    : openCheckpointWeights(dir);
  const files = [...new Set([...weights.tensors.values()].map((e) => e.file))];
  const fileNames = files.length === 1 ? files[0] : `${dir} (${files.length} files)`;
  const hasShared = weights.tensors.has('shared.weight');
  const expected = t5ParameterShapes(config);
  const byCanonical = new Map<string, TensorEntry>();
  for (const [name, entry] of weights.tensors) {
    const canonical = t5CanonicalName(name, config, hasShared);
    if (canonical === null) continue;
    if (!expected.has(canonical)) {
      throw new Error(`${entry.file}: tensor '${name}' is not a parameter of a T5 model with this ${configFile} (config/weights mismatch?)`);
    }
    byCanonical.set(canonical, entry);
  }
  const missing = [...expected.keys()].filter((n) => !byCanonical.has(n));
  if (missing.length > 0) {
    const decoder = missing.filter((n) => n.startsWith('decoder.'));
    const what = decoder.length === missing.length ? ' (decoder weights: an encoder-only file for an encoder-decoder config?)' : '';
    const shown = missing.slice(0, 5).map((n) => `'${n}'`).join(', ');
    throw new Error(`${fileNames}: missing ${missing.length} tensor(s) required by ${configFile}${what}: ${shown}${missing.length > 5 ? ', …' : ''}`);
  }
  const dtype = opts.dtype ?? 'float32';
  const device = opts.device ?? 'cpu';
  const params = new Map<string, Tensor>();
  try {
    for (const [name, shape] of expected) params.set(name, readParameter(byCanonical.get(name)!, shape, dtype, device, configFile));
  } catch (e) {
    for (const t of params.values()) t.dispose();
    throw e;
  }
  return new T5Model(config, params, dtype, device, { dir, rawConfig: raw }, opts.onWarning);
}


/**
 * Writes the model as a directory transformers loads with T5ForConditionalGeneration: HF names, `shared.weight`
 * once (HF re-ties encoder/decoder embed_tokens and a tied lm_head to it), `lm_head.weight` only when untied.
 * saveModel reads only `params`, `dtype` and `source` of the model it is given.
 */
export function saveT5Model(model: T5Model, outDir: string, opts: SaveOptions = {}): void {
  const view = { params: model.params, dtype: model.dtype, source: model.source } as unknown as CausalLM;
  saveModel(view, outDir, opts);
}
