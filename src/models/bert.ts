// BERT encoder (BertModel): token + absolute position + token-type embeddings and a LayerNorm, post-LN encoder
// layers (bidirectional self-attention, GELU MLP), optional tanh pooler over the first token. Gives HF's
// `last_hidden_state` and `pooler_output`, and the sentence-transformers embedding (mean over real tokens, then L2
// normalised: all-MiniLM-L6-v2 and the like). Not a causal LM: it has no LM head and no KV cache, so it is its own
// class rather than a registry architecture (loadModel refuses it, naming loadBertModel).
// Conventions: ../shared/data/golden/ARCHITECTURES.md (section bert). Module paths are HF's (without `bert.`).
import { join } from 'node:path';
import {
  arange, layerNorm, linear, noGrad, tensor, type Device, type DType, type Tensor,
} from '../tensor/index.js';
import {
  openCheckpointWeights, readSafetensorsHeader, type TensorEntry,
} from '../io/safetensors.js';
import { readModelConfig, resolveModelDir } from '../io/checkpoint.js';
import { readParameter } from './load.js';
import { configInt, configNumber, perLayer } from './architecture.js';
import { attend, splitHeads } from './layers.js';
import { Hooks, type Retained, type TraceSpec } from './trace.js';

type Activation = 'gelu' | 'gelu_tanh' | 'relu' | 'silu';

const ACTIVATIONS: Record<string, Activation> = {
  gelu: 'gelu', gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', gelu_fast: 'gelu_tanh', relu: 'relu', silu: 'silu', swish: 'silu',
};

/** model_type values this encoder reads (same layout and computation as BERT). */
export const BERT_MODEL_TYPES = ['bert'];

export interface BertConfig {
  vocabSize: number;
  d: number;
  nLayer: number;
  nHead: number;
  intermediate: number;
  maxPositions: number;
  typeVocabSize: number;
  eps: number;
  activation: Activation;
  padTokenId: number;
}

export function parseBertConfig(raw: Record<string, any>, file: string): BertConfig {
  if (!BERT_MODEL_TYPES.includes(raw.model_type)) {
    throw new Error(`${file}: model_type ${JSON.stringify(raw.model_type)} is not a BERT encoder (expected ${BERT_MODEL_TYPES.join(', ')})`);
  }
  const d = configInt(raw, 'hidden_size', file);
  const nHead = configInt(raw, 'num_attention_heads', file);
  if (d % nHead !== 0) throw new Error(`${file}: hidden_size ${d} is not divisible by num_attention_heads ${nHead}`);
  const act = raw.hidden_act ?? 'gelu';
  if (typeof act !== 'string' || !(act in ACTIVATIONS)) {
    throw new Error(`${file}: hidden_act ${JSON.stringify(act)} is not supported for bert (${Object.keys(ACTIVATIONS).join(', ')})`);
  }
  const posType = raw.position_embedding_type ?? 'absolute';
  if (posType !== 'absolute') throw new Error(`${file}: position_embedding_type '${posType}' is not supported (only 'absolute')`);
  if (raw.is_decoder === true || raw.add_cross_attention === true) {
    throw new Error(`${file}: is_decoder / add_cross_attention are not supported: lmedit reads BERT as an encoder only`);
  }
  return {
    vocabSize: configInt(raw, 'vocab_size', file),
    d,
    nLayer: configInt(raw, 'num_hidden_layers', file),
    nHead,
    intermediate: configInt(raw, 'intermediate_size', file),
    maxPositions: configInt(raw, 'max_position_embeddings', file),
    typeVocabSize: configInt(raw, 'type_vocab_size', file, 2),
    eps: configNumber(raw, 'layer_norm_eps', file, 1e-12),
    activation: ACTIVATIONS[act],
    padTokenId: Number.isInteger(raw.pad_token_id) ? raw.pad_token_id : 0,
  };
}

/** Every encoder parameter with its shape (the pooler's are optional: see bertPoolerShapes). */
export function bertParameterShapes(c: BertConfig): Map<string, number[]> {
  const m = new Map<string, number[]>([
    ['embeddings.word_embeddings.weight', [c.vocabSize, c.d]],
    ['embeddings.position_embeddings.weight', [c.maxPositions, c.d]],
    ['embeddings.token_type_embeddings.weight', [c.typeVocabSize, c.d]],
    ['embeddings.LayerNorm.weight', [c.d]],
    ['embeddings.LayerNorm.bias', [c.d]],
  ]);
  const lin = (name: string, out: number, inp: number) => m.set(`${name}.weight`, [out, inp]).set(`${name}.bias`, [out]);
  for (let i = 0; i < c.nLayer; i++) {
    const l = `encoder.layer.${i}`;
    for (const x of ['query', 'key', 'value']) lin(`${l}.attention.self.${x}`, c.d, c.d);
    lin(`${l}.attention.output.dense`, c.d, c.d);
    m.set(`${l}.attention.output.LayerNorm.weight`, [c.d]).set(`${l}.attention.output.LayerNorm.bias`, [c.d]);
    lin(`${l}.intermediate.dense`, c.intermediate, c.d);
    lin(`${l}.output.dense`, c.d, c.intermediate);
    m.set(`${l}.output.LayerNorm.weight`, [c.d]).set(`${l}.output.LayerNorm.bias`, [c.d]);
  }
  return m;
}

export function bertPoolerShapes(c: BertConfig): Map<string, number[]> {
  return new Map([['pooler.dense.weight', [c.d, c.d]], ['pooler.dense.bias', [c.d]]]);
}

/** Tensors of task heads and buffers that BertModel does not use (BertForMaskedLM's `cls.*`, classifiers). */
const IGNORED = /^(cls|classifier|qa_outputs|lm_head|discriminator_predictions)\.|^embeddings\.position_ids$/;

/**
 * Canonical (unprefixed BertModel) name of a checkpoint tensor, or null for one to ignore. `prefixed`: the file uses
 * the `bert.` layout (BertFor* checkpoints), in which the encoder's tensors start with `bert.`.
 */
export function bertCanonicalName(name: string, prefixed: boolean): string | null {
  let n = name;
  if (prefixed) {
    if (!n.startsWith('bert.')) return IGNORED.test(n) ? null : n;
    n = n.slice('bert.'.length);
  }
  if (IGNORED.test(n)) return null;
  // TF-era checkpoints name LayerNorm parameters gamma/beta (transformers renames them on load)
  return n.replace(/\.LayerNorm\.gamma$/, '.LayerNorm.weight').replace(/\.LayerNorm\.beta$/, '.LayerNorm.bias');
}

export interface BertInput {
  /** Token ids [B, T] (int64 tensor or nested arrays). */
  inputIds: Tensor | number[][];
  /** 1 for real tokens, 0 for padding [B, T]; default all ones. */
  attentionMask?: Tensor | number[][];
  /** Segment ids [B, T]; default zeros. */
  tokenTypeIds?: Tensor | number[][];
  /** Modules to read or edit during this pass (paths as `modulePaths()`). */
  trace?: TraceSpec[];
  /** Also return the hidden states after the embeddings and after every layer (HF's `hidden_states`). */
  hiddenStates?: boolean;
}

export interface BertOutput {
  /** [B, T, d] */
  lastHiddenState: Tensor;
  /** tanh(pooler.dense(h[:, 0])) [B, d]; absent when the checkpoint has no pooler. */
  poolerOutput?: Tensor;
  /** L + 1 tensors [B, T, d] when asked for. */
  hiddenStates?: Tensor[];
  traces: Map<string, Retained>;
}

export interface BertLoadOptions {
  dtype?: DType;
  device?: Device;
  revision?: string;
  /** Read this safetensors file of the directory instead of model.safetensors / the sharded index. */
  weightsFile?: string;
}

function activate(x: Tensor, a: Activation): Tensor {
  switch (a) {
    case 'gelu': return x.gelu('none');
    case 'gelu_tanh': return x.gelu('tanh');
    case 'relu': return x.relu();
    case 'silu': return x.silu();
  }
}

export class BertModel {
  readonly modelType = 'bert';
  readonly hasPooler: boolean;
  private readonly known: ReadonlySet<string>;

  constructor(
    readonly config: BertConfig,
    readonly params: Map<string, Tensor>,
    readonly dtype: DType,
    readonly device: Device,
    readonly source: { dir: string; rawConfig: Record<string, any> },
  ) {
    this.hasPooler = params.has('pooler.dense.weight');
    this.known = new Set(this.modulePaths());
  }

  get hiddenSize(): number {
    return this.config.d;
  }

  /** Every module path the trace API accepts, in forward order (HF's BertModel names). */
  modulePaths(): string[] {
    const subs = ['', '.attention', '.attention.self', '.attention.self.query', '.attention.self.key', '.attention.self.value',
      '.attention.output', '.attention.output.dense', '.attention.output.LayerNorm', '.intermediate', '.intermediate.dense',
      '.intermediate.intermediate_act_fn', '.output', '.output.dense', '.output.LayerNorm'];
    const layers = perLayer('encoder.layer.{}', this.config.nLayer).flatMap((l) => subs.map((s) => l + s));
    return [
      'embeddings', 'embeddings.word_embeddings', 'embeddings.position_embeddings', 'embeddings.token_type_embeddings',
      'embeddings.LayerNorm', 'encoder', ...layers, ...(this.hasPooler ? ['pooler', 'pooler.dense', 'pooler.activation'] : []),
    ];
  }

  parameter(name: string): Tensor {
    const t = this.params.get(name);
    if (t === undefined) throw new Error(`no parameter '${name}' in the BERT model of ${this.source.dir}`);
    return t;
  }

  numParameters(): number {
    let n = 0;
    for (const t of this.params.values()) n += t.numel();
    return n;
  }

  /** One forward pass. Run it inside tidy(); returned tensors belong to the caller's scope. */
  forward(input: BertInput): BertOutput {
    const c = this.config;
    const ids = this.ids(input.inputIds, 'inputIds');
    const [batch, len] = ids.shape;
    if (len > c.maxPositions) throw new Error(`sequence of ${len} tokens exceeds the model's ${c.maxPositions} positions`);
    const mask = input.attentionMask === undefined ? undefined : this.ids(input.attentionMask, 'attentionMask', ids.shape);
    const types = input.tokenTypeIds === undefined ? undefined : this.ids(input.tokenTypeIds, 'tokenTypeIds', ids.shape);
    const hooks = new Hooks(input.trace, this.known);
    const p = (n: string) => this.parameter(n);
    const lin = (path: string, x: Tensor): Tensor => hooks.module(path, x, (u) => linear(u, p(`${path}.weight`), p(`${path}.bias`)));
    const norm = (path: string, x: Tensor): Tensor => hooks.module(path, x, (u) => layerNorm(u, [c.d], p(`${path}.weight`), p(`${path}.bias`), c.eps));
    // Padded keys are never attended (bidirectional: no causal part); [B, 1, 1, T] broadcast over queries.
    const blocked = noGrad(() => (mask === undefined
      ? tensor([false], { dtype: 'bool', device: this.device }).view(1, 1, 1, 1).expand(batch, 1, len, len)
      : mask.eq(0).view(batch, 1, 1, len).expand(batch, 1, len, len)));
    const hidden: Tensor[] = [];

    let h = hooks.module('embeddings', ids, (t) => {
      const words = hooks.module('embeddings.word_embeddings', t, (u) => p('embeddings.word_embeddings.weight').index([u]));
      const posIds = arange(0, len, 1, { dtype: 'int64', device: this.device }).unsqueeze(0).expand(batch, len);
      const pos = hooks.module('embeddings.position_embeddings', posIds, (u) => p('embeddings.position_embeddings.weight').index([u]));
      const tt = types ?? noGrad(() => tensor(0, { dtype: 'int64', device: this.device }).expand(batch, len));
      const typ = hooks.module('embeddings.token_type_embeddings', tt, (u) => p('embeddings.token_type_embeddings.weight').index([u]));
      return norm('embeddings.LayerNorm', words.add(pos).add(typ));
    });
    if (input.hiddenStates) hidden.push(h);
    const hd = c.d / c.nHead;
    h = hooks.module('encoder', h, (x0) => {
      let x = x0;
      for (let i = 0; i < c.nLayer; i++) {
        const n = `encoder.layer.${i}`;
        x = hooks.module(n, x, (t) => {
          const attn = hooks.module(`${n}.attention`, t, (u) => {
            const ctx = hooks.module(`${n}.attention.self`, u, (v) => {
              const q = splitHeads(lin(`${n}.attention.self.query`, v), c.nHead);
              const k = splitHeads(lin(`${n}.attention.self.key`, v), c.nHead);
              const val = splitHeads(lin(`${n}.attention.self.value`, v), c.nHead);
              return attend(q, k, val, blocked, 1 / Math.sqrt(hd));
            });
            // BertSelfOutput: LN(dense(ctx) + input); its hook input is the attention context
            return hooks.module(`${n}.attention.output`, ctx, (v) => norm(`${n}.attention.output.LayerNorm`, lin(`${n}.attention.output.dense`, v).add(u)));
          });
          const inter = hooks.module(`${n}.intermediate`, attn, (u) =>
            hooks.module(`${n}.intermediate.intermediate_act_fn`, lin(`${n}.intermediate.dense`, u), (v) => activate(v, c.activation)));
          return hooks.module(`${n}.output`, inter, (u) => norm(`${n}.output.LayerNorm`, lin(`${n}.output.dense`, u).add(attn)));
        });
        if (input.hiddenStates) hidden.push(x);
      }
      return x;
    });
    let pooled: Tensor | undefined;
    if (this.hasPooler) {
      pooled = hooks.module('pooler', h, (t) =>
        hooks.module('pooler.activation', lin('pooler.dense', t.select(1, 0)), (u) => u.tanh()));
    }
    return { lastHiddenState: h, poolerOutput: pooled, hiddenStates: input.hiddenStates ? hidden : undefined, traces: hooks.retained };
  }

  /**
   * sentence-transformers' embedding: mean of the last hidden states over real tokens (Pooling with
   * pooling_mode_mean_tokens), then L2-normalised (Normalize) unless `normalize` is false. [B, d], float32.
   */
  sentenceEmbeddings(input: Omit<BertInput, 'hiddenStates' | 'trace'>, opts: { normalize?: boolean; pooling?: 'mean' | 'cls' } = {}): Tensor {
    const out = this.forward(input);
    const h = out.lastHiddenState.to('float32');
    let pooled: Tensor;
    if (opts.pooling === 'cls') {
      pooled = h.select(1, 0);
    } else {
      const [batch, len] = h.shape;
      const mask = input.attentionMask === undefined
        ? tensor(1, { dtype: 'float32', device: this.device }).expand(batch, len)
        : this.ids(input.attentionMask, 'attentionMask').to('float32');
      const m = mask.unsqueeze(-1);
      // sentence-transformers clamps the token count at 1e-9 (a row with no real token pools to zeros)
      pooled = h.mul(m).sum(1).div(m.sum(1).clamp(1e-9, null));
    }
    if (opts.normalize === false) return pooled;
    // torch.nn.functional.normalize: x / max(||x||, 1e-12)
    return pooled.div(pooled.norm(2, -1, true).clamp(1e-12, null));
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
  }

  private ids(x: Tensor | number[][], what: string, shape?: number[]): Tensor {
    let t: Tensor;
    if (Array.isArray(x)) {
      if (x.length === 0 || !Array.isArray(x[0])) throw new Error(`${what}: expected a [batch, length] array of token ids`);
      t = tensor(x, { dtype: 'int64', device: this.device });
    } else {
      if (x.ndim !== 2) throw new Error(`${what}: expected shape [batch, length], got [${x.shape}]`);
      t = x.dtype === 'int64' && x.device === this.device ? x : x.to({ dtype: 'int64', device: this.device });
    }
    if (shape && (t.shape[0] !== shape[0] || t.shape[1] !== shape[1])) {
      throw new Error(`${what} has shape [${t.shape}], expected [${shape}] (as inputIds)`);
    }
    return t;
  }
}

/** What loadModel says about a BERT checkpoint (an encoder, not a causal language model), after naming the file. */
export function bertNotCausalMessage(): string {
  return 'it is a BERT encoder (BertModel), not a causal language model, so it cannot be edited or generate text. ' +
    'Load it with loadBertModel(dir) (src/models/bert.ts), or use it as a sentence embedder for retrieval ' +
    '(BertEmbedder.load(dir), src/models/bert-embedder.ts: IKE with retriever: embedding)';
}

/** Loads a BERT encoder (BertModel layout, with or without the `bert.` prefix) from a directory or cached repo id. */
export function loadBertModel(nameOrPath: string, opts: BertLoadOptions = {}): BertModel {
  const dir = resolveModelDir(nameOrPath, { revision: opts.revision });
  const { config: raw, file: configFile } = readModelConfig(dir);
  const config = parseBertConfig(raw, configFile);
  const weights = opts.weightsFile
    ? { tensors: readSafetensorsHeader(join(dir, opts.weightsFile)).tensors }
    : openCheckpointWeights(dir);
  const names = [...weights.tensors.keys()];
  const prefixed = names.some((n) => n.startsWith('bert.'));
  const files = [...new Set([...weights.tensors.values()].map((e) => e.file))];
  const fileNames = files.length === 1 ? files[0] : `${dir} (${files.length} files)`;

  const expected = bertParameterShapes(config);
  const pooler = bertPoolerShapes(config);
  const byCanonical = new Map<string, TensorEntry>();
  for (const [name, entry] of weights.tensors) {
    const canonical = bertCanonicalName(name, prefixed);
    if (canonical === null) continue;
    if (!expected.has(canonical) && !pooler.has(canonical)) {
      throw new Error(`${entry.file}: tensor '${name}' is not a parameter of a BertModel with this config.json (config/weights mismatch?)`);
    }
    byCanonical.set(canonical, entry);
  }
  const hasPooler = [...pooler.keys()].some((n) => byCanonical.has(n));
  if (hasPooler) for (const [n, s] of pooler) expected.set(n, s);
  const missing = [...expected.keys()].filter((n) => !byCanonical.has(n));
  if (missing.length > 0) {
    const shown = missing.slice(0, 5).map((n) => `'${prefixed ? `bert.${n}` : n}'`).join(', ');
    throw new Error(`${fileNames}: missing ${missing.length} tensor(s) required by ${configFile}: ${shown}${missing.length > 5 ? ', …' : ''}`);
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
  return new BertModel(config, params, dtype, device, { dir, rawConfig: raw });
}

