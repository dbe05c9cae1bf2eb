// T5 (T5ForConditionalGeneration): the architecture itself — config, parameter names and shapes, module paths,
// relative position buckets, and the encoder and decoder stacks with every Hugging Face module wrapped in
// `hooks.module(path, input, fn)`. The model class (parameters, patches, loading, saving) is t5-model.ts; the
// text-level score/generate is t5-text.ts. Conventions: ../shared/data/golden/ARCHITECTURES.md (section t5).
//
// Pre-norm blocks with T5's RMS LayerNorm (no mean subtraction, no bias) and no biases anywhere; attention scores
// q·kᵀ + position bias with no 1/sqrt(d_kv) scale; the position bias comes from block 0's relative_attention_bias
// table of each stack and is shared by every layer (bidirectional buckets in the encoder, causal in the decoder);
// cross-attention has no position bias and masks encoder padding. FF: relu `wo(relu(wi x))` (original T5) or gated
// `wo(act(wi_0 x) * wi_1 x)` (v1.1 / flan: 'gated-gelu' = tanh GELU). Tied head: logits = (h · d^-0.5) sharedᵀ;
// untied (v1.1): lm_head without the rescale.
import { linear, noGrad, arange, where, type Tensor } from '../tensor/index.js';
import { configInt, configNumber, perLayer } from './architecture.js';
import { extendCache, minValue, rmsNorm, splitHeads, type LayerCache } from './layers.js';
import type { Hooks } from './trace.js';

export type T5Activation = 'relu' | 'gelu' | 'gelu_tanh' | 'silu';

export interface T5Config {
  vocabSize: number;
  d: number;
  dKv: number;
  dFf: number;
  encoderLayers: number;
  decoderLayers: number;
  numHeads: number;
  numBuckets: number;
  maxDistance: number;
  eps: number;
  activation: T5Activation;
  gated: boolean;
  tied: boolean;
  padTokenId: number;
  eosTokenId: number | null;
  decoderStartTokenId: number;
  /** Longest encoder input / decoder sequence that is bucketed sensibly (`n_positions` when given, else max distance). */
  positionLimit: number;
}

/** The activation names of `feed_forward_proj` (after an optional `gated-` prefix) and what they compute. */
const ACTIVATIONS: Record<string, T5Activation> = {
  relu: 'relu', gelu: 'gelu', gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', gelu_fast: 'gelu_tanh', silu: 'silu', swish: 'silu',
};

export const T5_MODEL_TYPES = ['t5'];

/** Parses `feed_forward_proj`: 'relu', 'gelu', 'gated-gelu' (= gated gelu_new, as HF maps it), 'gated-silu', …. */
export function parseFeedForwardProj(value: unknown, file: string): { activation: T5Activation; gated: boolean } {
  const known = `'relu', 'gated-gelu' and the other ${Object.keys(ACTIVATIONS).join('/')} names, optionally 'gated-'`;
  if (typeof value !== 'string') throw new Error(`${file}: feed_forward_proj ${JSON.stringify(value)} is not supported for t5 (${known})`);
  const parts = value.split('-');
  const gated = parts.length === 2 && parts[0] === 'gated';
  const name = gated ? parts[1] : parts.length === 1 ? parts[0] : undefined;
  if (name === undefined || !(name in ACTIVATIONS)) {
    throw new Error(`${file}: feed_forward_proj ${JSON.stringify(value)} is not supported for t5 (${known})`);
  }
  // HF: 'gated-gelu' means the tanh approximation (gelu_new), kept for backwards compatibility
  const activation = value === 'gated-gelu' ? 'gelu_tanh' : ACTIVATIONS[name];
  return { activation, gated };
}

export function parseT5Config(raw: Record<string, any>, file: string): T5Config {
  if (!T5_MODEL_TYPES.includes(raw.model_type)) {
    throw new Error(`${file}: model_type ${JSON.stringify(raw.model_type)} is not T5 (expected ${T5_MODEL_TYPES.join(', ')})`);
  }
  if (raw.is_encoder_decoder === false) throw new Error(`${file}: is_encoder_decoder false (an encoder-only T5) is not supported`);
  const { activation, gated } = parseFeedForwardProj(raw.feed_forward_proj ?? 'relu', file);
  const encoderLayers = configInt(raw, 'num_layers', file);
  const maxDistance = configInt(raw, 'relative_attention_max_distance', file, 128);
  const numBuckets = configInt(raw, 'relative_attention_num_buckets', file, 32);
  if (numBuckets < 4) throw new Error(`${file}: relative_attention_num_buckets ${numBuckets} is too small (at least 4)`);
  for (const key of ['tie_word_embeddings']) {
    if (raw[key] != null && typeof raw[key] !== 'boolean') throw new Error(`${file}: field '${key}' must be true or false, got ${JSON.stringify(raw[key])}`);
  }
  const id = (key: string, fallback: number | null): number | null => {
    const v = Array.isArray(raw[key]) ? raw[key][0] : raw[key];
    if (v == null) return fallback;
    if (!Number.isInteger(v) || v < 0) throw new Error(`${file}: field '${key}' must be a token id, got ${JSON.stringify(raw[key])}`);
    return v;
  };
  const padTokenId = id('pad_token_id', 0)!;
  return {
    vocabSize: configInt(raw, 'vocab_size', file),
    d: configInt(raw, 'd_model', file),
    dKv: configInt(raw, 'd_kv', file),
    dFf: configInt(raw, 'd_ff', file),
    encoderLayers,
    decoderLayers: raw.num_decoder_layers == null ? encoderLayers : configInt(raw, 'num_decoder_layers', file),
    numHeads: configInt(raw, 'num_heads', file),
    numBuckets,
    maxDistance,
    eps: configNumber(raw, 'layer_norm_epsilon', file, 1e-6),
    activation,
    gated,
    tied: raw.tie_word_embeddings ?? true,
    padTokenId,
    eosTokenId: id('eos_token_id', null),
    decoderStartTokenId: id('decoder_start_token_id', padTokenId)!,
    positionLimit: Number.isInteger(raw.n_positions) && raw.n_positions > 0 ? raw.n_positions : maxDistance,
  };
}

export type Stack = 'encoder' | 'decoder';

/** The FF sublayer's index in a block: 1 in the encoder, 2 in the decoder (1 is cross-attention). */
export const ffLayer = (stack: Stack): number => (stack === 'encoder' ? 1 : 2);

function ffLinears(c: T5Config): string[] {
  return c.gated ? ['wi_0', 'wi_1', 'wo'] : ['wi', 'wo'];
}

/** Every parameter the checkpoint must hold, with its shape (`shared.weight` once; `lm_head.weight` only untied). */
export function t5ParameterShapes(c: T5Config): Map<string, number[]> {
  const inner = c.numHeads * c.dKv;
  const m = new Map<string, number[]>([['shared.weight', [c.vocabSize, c.d]]]);
  const attention = (prefix: string) => {
    for (const x of ['q', 'k', 'v']) m.set(`${prefix}.${x}.weight`, [inner, c.d]);
    m.set(`${prefix}.o.weight`, [c.d, inner]);
  };
  for (const stack of ['encoder', 'decoder'] as const) {
    const layers = stack === 'encoder' ? c.encoderLayers : c.decoderLayers;
    for (let i = 0; i < layers; i++) {
      const b = `${stack}.block.${i}`;
      attention(`${b}.layer.0.SelfAttention`);
      if (i === 0) m.set(`${b}.layer.0.SelfAttention.relative_attention_bias.weight`, [c.numBuckets, c.numHeads]);
      m.set(`${b}.layer.0.layer_norm.weight`, [c.d]);
      if (stack === 'decoder') {
        attention(`${b}.layer.1.EncDecAttention`);
        m.set(`${b}.layer.1.layer_norm.weight`, [c.d]);
      }
      const f = `${b}.layer.${ffLayer(stack)}`;
      for (const w of ffLinears(c)) m.set(`${f}.DenseReluDense.${w}.weight`, w === 'wo' ? [c.d, c.dFf] : [c.dFf, c.d]);
      m.set(`${f}.layer_norm.weight`, [c.d]);
    }
    m.set(`${stack}.final_layer_norm.weight`, [c.d]);
  }
  if (!c.tied) m.set('lm_head.weight', [c.vocabSize, c.d]);
  return m;
}

/**
 * Canonical name of a checkpoint tensor; null for copies of the shared embedding and for tensors HF ignores on
 * load (the unused cross-attention position table of old checkpoints). `hasShared` tells whether the file stores
 * `shared.weight` itself; if not, `encoder.embed_tokens.weight` stands in for it.
 */
export function t5CanonicalName(name: string, c: T5Config, hasShared: boolean): string | null {
  if (name === 'encoder.embed_tokens.weight') return hasShared ? null : 'shared.weight';
  if (name === 'decoder.embed_tokens.weight') return null;
  if (name === 'lm_head.weight') return c.tied ? null : name;
  if (/^decoder\.block\.\d+\.layer\.1\.EncDecAttention\.relative_attention_bias\.weight$/.test(name)) return null;
  return name;
}

/** Every module path the trace API accepts, in forward order (encoder, decoder, lm_head). */
export function t5ModulePaths(c: T5Config): string[] {
  const attn = (prefix: string) => [prefix, ...['q', 'k', 'v', 'o'].map((x) => `${prefix}.${x}`)];
  const ff = (l: string) => [l, `${l}.layer_norm`, `${l}.DenseReluDense`,
    ...(c.gated ? ['wi_0', 'wi_1', 'act', 'wo'] : ['wi', 'act', 'wo']).map((x) => `${l}.DenseReluDense.${x}`)];
  const out: string[] = [];
  for (const stack of ['encoder', 'decoder'] as const) {
    out.push(`${stack}.embed_tokens`);
    const layers = stack === 'encoder' ? c.encoderLayers : c.decoderLayers;
    perLayer(`${stack}.block.{}`, layers).forEach((b, i) => {
      out.push(b, `${b}.layer.0`, `${b}.layer.0.layer_norm`, ...attn(`${b}.layer.0.SelfAttention`));
      if (i === 0) out.push(`${b}.layer.0.SelfAttention.relative_attention_bias`);
      if (stack === 'decoder') out.push(`${b}.layer.1`, `${b}.layer.1.layer_norm`, ...attn(`${b}.layer.1.EncDecAttention`));
      out.push(...ff(`${b}.layer.${ffLayer(stack)}`));
    });
    out.push(`${stack}.final_layer_norm`);
  }
  out.push('lm_head');
  return out;
}

/**
 * T5's relative position buckets for relative positions rel = key - query (int64 tensor of any shape).
 * Bidirectional (encoder): half the buckets for keys after the query; causal (decoder): only keys at or before
 * it, rel = -min(rel, 0). Exact buckets below half of them, then log-spaced up to maxDistance (computed in
 * float32 as HF does), clamped to the last bucket.
 */
export function relativePositionBucket(rel: Tensor, bidirectional: boolean, numBuckets: number, maxDistance: number): Tensor {
  return noGrad(() => {
    let buckets = numBuckets;
    let offset: Tensor | undefined;
    let n: Tensor;
    if (bidirectional) {
      buckets = Math.floor(buckets / 2);
      offset = rel.gt(0).to('int64').mul(buckets);
      n = rel.abs();
    } else {
      n = rel.clamp(undefined, 0).neg();
    }
    const maxExact = Math.floor(buckets / 2);
    const small = n.lt(maxExact);
    const large = n.clamp(1, undefined).to('float32').div(maxExact).log()
      .div(Math.log(maxDistance / maxExact)).mul(buckets - maxExact).to('int64').add(maxExact)
      .clamp(undefined, buckets - 1);
    const b = where(small, n, large);
    return offset === undefined ? b : b.add(offset);
  });
}

/** What one stack's pass needs besides its input. */
export interface StackState {
  c: T5Config;
  hooks: Hooks;
  p: (name: string) => Tensor;
  /** bool [B, 1, T|1, S]: true where a query must not see a self-attention key. */
  selfBlocked?: Tensor;
  /** Positions already in the decoder cache (0 in the encoder). */
  pastLength: number;
  /** Decoder: per-layer self-attention cache from earlier steps. */
  past?: LayerCache[];
  /** Decoder: per-layer cross-attention keys/values computed on an earlier step. */
  crossPast?: LayerCache[];
  /** Decoder: the encoder's output [B, S_enc, d] and which of its positions are padding (bool [B, 1, 1, S_enc]). */
  encoderHidden?: Tensor;
  crossBlocked?: Tensor;
  useCache: boolean;
  onResidual?: (h: Tensor) => void;
}

export interface StackOutput {
  hidden: Tensor;
  cache?: LayerCache[];
  cross?: LayerCache[];
}

/** softmax(q kᵀ + bias, masked) v with no scale; scores in float32 as HF. q [B,H,T,dk], k/v [B,H,S,dk] → [B,T,H·dk]. */
function attendT5(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | undefined, blocked: Tensor | undefined): Tensor {
  const [b, heads, t, dk] = q.shape;
  let scores = q.matmul(k.transpose(-1, -2));
  if (bias !== undefined) scores = scores.add(bias);
  if (blocked !== undefined) scores = scores.maskedFill(blocked, minValue(scores.dtype));
  const probs = scores.dtype === 'float32' || scores.dtype === 'float64' ? scores.softmax(-1) : scores.softmax(-1, 'float32').to(q.dtype);
  return probs.matmul(v).transpose(1, 2).reshape(b, t, heads * dk);
}

function activate(x: Tensor, a: T5Activation): Tensor {
  switch (a) {
    case 'relu': return x.relu();
    case 'gelu': return x.gelu('none');
    case 'gelu_tanh': return x.gelu('tanh');
    case 'silu': return x.silu();
  }
}

/** Runs one stack (embeddings → blocks → final norm) on token ids [B, T]. */
export function runStack(stack: Stack, ids: Tensor, s: StackState): StackOutput {
  const { c, hooks, p } = s;
  const layers = stack === 'encoder' ? c.encoderLayers : c.decoderLayers;
  const lin = (path: string, x: Tensor): Tensor => hooks.module(path, x, (u) => linear(u, p(`${path}.weight`)));
  const norm = (path: string, x: Tensor): Tensor => hooks.module(path, x, (u) => rmsNorm(u, p(`${path}.weight`), c.eps));
  const [, queryLen] = ids.shape;
  const keyLen = s.pastLength + queryLen;

  let h = hooks.module(`${stack}.embed_tokens`, ids, (t) => p('shared.weight').index([t]));
  s.onResidual?.(h);
  // position bias [1, H, T, S] from block 0's table, shared by every layer of the stack
  const bucketIds = noGrad(() => {
    const rel = arange(0, keyLen, 1, { device: h.device }).unsqueeze(0).sub(arange(s.pastLength, keyLen, 1, { device: h.device }).unsqueeze(1));
    return relativePositionBucket(rel, stack === 'encoder', c.numBuckets, c.maxDistance);
  });
  const tablePath = `${stack}.block.0.layer.0.SelfAttention.relative_attention_bias`;
  const bias = hooks.module(tablePath, bucketIds, (u) => p(`${tablePath}.weight`).index([u]))
    .permute(2, 0, 1).unsqueeze(0).to(h.dtype);

  const cache: LayerCache[] = [];
  const cross: LayerCache[] = [];
  for (let i = 0; i < layers; i++) {
    const b = `${stack}.block.${i}`;
    h = hooks.module(b, h, (x) => {
      const selfOut = hooks.module(`${b}.layer.0`, x, (t) => {
        const a = norm(`${b}.layer.0.layer_norm`, t);
        const attn = hooks.module(`${b}.layer.0.SelfAttention`, a, (u) => {
          const at = `${b}.layer.0.SelfAttention`;
          const q = splitHeads(lin(`${at}.q`, u), c.numHeads);
          const k = splitHeads(lin(`${at}.k`, u), c.numHeads);
          const v = splitHeads(lin(`${at}.v`, u), c.numHeads);
          const layer = stack === 'decoder' ? extendCache(s.past?.[i], k, v) : { k, v };
          if (s.useCache) cache.push(layer);
          return lin(`${at}.o`, attendT5(q, layer.k, layer.v, bias, s.selfBlocked));
        });
        return t.add(attn);
      });
      let mid = selfOut;
      if (stack === 'decoder') {
        mid = hooks.module(`${b}.layer.1`, selfOut, (t) => {
          const a = norm(`${b}.layer.1.layer_norm`, t);
          const attn = hooks.module(`${b}.layer.1.EncDecAttention`, a, (u) => {
            const at = `${b}.layer.1.EncDecAttention`;
            const q = splitHeads(lin(`${at}.q`, u), c.numHeads);
            let kv = s.crossPast?.[i];
            if (kv === undefined) {
              const enc = s.encoderHidden!;
              kv = { k: splitHeads(lin(`${at}.k`, enc), c.numHeads), v: splitHeads(lin(`${at}.v`, enc), c.numHeads) };
            }
            if (s.useCache) cross.push(kv);
            return lin(`${at}.o`, attendT5(q, kv.k, kv.v, undefined, s.crossBlocked));
          });
          return t.add(attn);
        });
      }
      const f = `${b}.layer.${ffLayer(stack)}`;
      return hooks.module(f, mid, (t) => {
        const a = norm(`${f}.layer_norm`, t);
        const ff = hooks.module(`${f}.DenseReluDense`, a, (u) => {
          const dd = `${f}.DenseReluDense`;
          const hidden = c.gated
            ? hooks.module(`${dd}.act`, lin(`${dd}.wi_0`, u), (w) => activate(w, c.activation)).mul(lin(`${dd}.wi_1`, u))
            : hooks.module(`${dd}.act`, lin(`${dd}.wi`, u), (w) => activate(w, c.activation));
          return lin(`${dd}.wo`, hidden);
        });
        return t.add(ff);
      });
    });
    s.onResidual?.(h);
  }
  const hidden = norm(`${stack}.final_layer_norm`, h);
  return { hidden, cache: s.useCache ? cache : undefined, cross: s.useCache && stack === 'decoder' ? cross : undefined };
}

/** The LM head on decoder final-norm outputs [.., d] → [.., V]; `head` wraps the matmul (the `lm_head` hook). */
export function t5LmHead(c: T5Config, p: (name: string) => Tensor, hidden: Tensor, head?: (x: Tensor, fn: (u: Tensor) => Tensor) => Tensor): Tensor {
  // tied: HF rescales the decoder output by d^-0.5 before lm_head (its input is the rescaled state)
  const x = c.tied ? hidden.mul(c.d ** -0.5) : hidden;
  const w = p(c.tied ? 'shared.weight' : 'lm_head.weight');
  const fn = (u: Tensor) => u.matmul(w.t());
  return head ? head(x, fn) : fn(x);
}
