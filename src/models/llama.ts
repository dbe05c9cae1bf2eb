// Llama (LlamaForCausalLM) and the models of the same shape: RMSNorm, rotate-half rotary on the full head,
// grouped-query attention, SwiGLU MLP. Qwen2 (q/k/v biases) and Mistral (no sliding window) reuse it
// through `llamaFamily` options.
import { linear, type Tensor } from '../tensor/index.js';
import {
  configInt, configNumber, perLayer, type Architecture, type ArchitectureOutput, type ForwardState,
} from './architecture.js';
import { applyRotary, attend, extendCache, rmsNorm, splitHeads, type LayerCache } from './layers.js';

export interface LlamaConfig {
  vocabSize: number;
  maxPositions: number;
  d: number;
  nLayer: number;
  nHead: number;
  nKV: number;
  headDim: number;
  intermediate: number;
  eps: number;
  ropeTheta: number;
  tied: boolean;
  /** Biases on q/k/v (Qwen2 always, Llama when attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama attention_bias; never Qwen2). */
  oBias: boolean;
  mlpBias: boolean;
  /** Sequences longer than this are refused (sliding-window attention is not implemented). */
  slidingWindow: number | null;
}

interface FamilyOptions {
  modelType: string;
  /** Qwen2: q/k/v biases always present, o_proj never. */
  qwenBiases?: boolean;
  /** Mistral / Qwen2: a sliding window may be configured. */
  slidingWindowKey?: string;
}

function parseLlamaConfig(raw: Record<string, any>, file: string, o: FamilyOptions): LlamaConfig {
  const d = configInt(raw, 'hidden_size', file);
  const nHead = configInt(raw, 'num_attention_heads', file);
  const nKV = configInt(raw, 'num_key_value_heads', file, nHead);
  if (nHead % nKV !== 0) throw new Error(`${file}: num_attention_heads ${nHead} is not a multiple of num_key_value_heads ${nKV}`);
  if ((raw.hidden_act ?? 'silu') !== 'silu') throw new Error(`${file}: hidden_act '${raw.hidden_act}' is not supported (silu)`);
  const scaling = raw.rope_scaling ?? raw.rope_parameters?.rope_type;
  if (scaling != null && scaling !== 'default') throw new Error(`${file}: rope_scaling ${JSON.stringify(scaling)} is not supported (only plain RoPE)`);
  const attentionBias = raw.attention_bias === true;
  let slidingWindow: number | null = null;
  if (o.slidingWindowKey && raw[o.slidingWindowKey] != null && (o.modelType !== 'qwen2' || raw.use_sliding_window)) {
    slidingWindow = configInt(raw, o.slidingWindowKey, file);
  }
  return {
    vocabSize: configInt(raw, 'vocab_size', file),
    maxPositions: configInt(raw, 'max_position_embeddings', file, 2048),
    d,
    nLayer: configInt(raw, 'num_hidden_layers', file),
    nHead,
    nKV,
    headDim: raw.head_dim == null ? d / nHead : configInt(raw, 'head_dim', file),
    intermediate: configInt(raw, 'intermediate_size', file),
    eps: configNumber(raw, 'rms_norm_eps', file, 1e-6),
    ropeTheta: configNumber({ v: raw.rope_theta ?? raw.rope_parameters?.rope_theta }, 'v', file, 10000),
    tied: raw.tie_word_embeddings === true,
    qkvBias: o.qwenBiases ? true : attentionBias,
    oBias: o.qwenBiases ? false : attentionBias,
    mlpBias: raw.mlp_bias === true,
    slidingWindow,
  };
}

/** Builds the architecture record for one member of the Llama family. */
export function llamaFamily(o: FamilyOptions): Architecture<LlamaConfig> {
  return {
    modelType: o.modelType,
    parseConfig: (raw, file) => parseLlamaConfig(raw, file, o),

    dims: (c) => ({
      numLayers: c.nLayer, hiddenSize: c.d, intermediateSize: c.intermediate, vocabSize: c.vocabSize,
      numHeads: c.nHead, numKeyValueHeads: c.nKV, headDim: c.headDim, maxPositions: c.maxPositions,
    }),

    templates: {
      layer: 'model.layers.{}',
      mlp: 'model.layers.{}.mlp',
      attn: 'model.layers.{}.self_attn',
      rewriteModule: 'model.layers.{}.mlp.down_proj',
      rewriteWeightLayout: 'out_in',
      mlpActivation: 'model.layers.{}.mlp.act_fn',
      lnF: 'model.norm',
      lmHead: 'lm_head',
      embed: 'model.embed_tokens',
      logits: 'lm_head',
    },

    parameterShapes(c) {
      const m = new Map<string, number[]>([['model.embed_tokens.weight', [c.vocabSize, c.d]]]);
      const q = c.nHead * c.headDim;
      const kv = c.nKV * c.headDim;
      for (let i = 0; i < c.nLayer; i++) {
        const l = `model.layers.${i}`;
        m.set(`${l}.input_layernorm.weight`, [c.d]).set(`${l}.post_attention_layernorm.weight`, [c.d]);
        m.set(`${l}.self_attn.q_proj.weight`, [q, c.d]).set(`${l}.self_attn.k_proj.weight`, [kv, c.d]);
        m.set(`${l}.self_attn.v_proj.weight`, [kv, c.d]).set(`${l}.self_attn.o_proj.weight`, [c.d, q]);
        if (c.qkvBias) m.set(`${l}.self_attn.q_proj.bias`, [q]).set(`${l}.self_attn.k_proj.bias`, [kv]).set(`${l}.self_attn.v_proj.bias`, [kv]);
        if (c.oBias) m.set(`${l}.self_attn.o_proj.bias`, [c.d]);
        m.set(`${l}.mlp.gate_proj.weight`, [c.intermediate, c.d]).set(`${l}.mlp.up_proj.weight`, [c.intermediate, c.d]);
        m.set(`${l}.mlp.down_proj.weight`, [c.d, c.intermediate]);
        if (c.mlpBias) {
          m.set(`${l}.mlp.gate_proj.bias`, [c.intermediate]).set(`${l}.mlp.up_proj.bias`, [c.intermediate]);
          m.set(`${l}.mlp.down_proj.bias`, [c.d]);
        }
      }
      m.set('model.norm.weight', [c.d]);
      if (!c.tied) m.set('lm_head.weight', [c.vocabSize, c.d]);
      return m;
    },

    canonicalName(name, c) {
      if (/rotary_emb\.inv_freq$/.test(name)) return null;
      if (name === 'lm_head.weight' && c.tied) return null;
      return name;
    },

    modulePaths(c) {
      const subs = ['', '.input_layernorm', '.self_attn', '.self_attn.q_proj', '.self_attn.k_proj', '.self_attn.v_proj',
        '.self_attn.o_proj', '.post_attention_layernorm', '.mlp', '.mlp.gate_proj', '.mlp.act_fn', '.mlp.up_proj', '.mlp.down_proj'];
      const layers = perLayer('model.layers.{}', c.nLayer).flatMap((h) => subs.map((s) => h + s));
      return ['model.embed_tokens', ...layers, 'model.norm', 'lm_head'];
    },

    forward(c, s: ForwardState): ArchitectureOutput {
      const { hooks, p } = s;
      const total = s.positionIds.shape[1] + (s.past?.[0]?.k.shape[2] ?? 0);
      if (c.slidingWindow !== null && total > c.slidingWindow) {
        throw new Error(`sequence of ${total} tokens exceeds the sliding window (${c.slidingWindow}), which is not implemented`);
      }
      const lin = (path: string, x: Tensor, bias: boolean): Tensor =>
        hooks.module(path, x, (u) => linear(u, p(`${path}.weight`), bias ? p(`${path}.bias`) : undefined));
      const norm = (path: string, x: Tensor): Tensor => hooks.module(path, x, (u) => rmsNorm(u, p(`${path}.weight`), c.eps));
      let h = hooks.module('model.embed_tokens', s.inputIds, (ids) => p('model.embed_tokens.weight').index([ids]));
      s.onResidual?.(h);
      const cache: LayerCache[] = [];
      for (let i = 0; i < c.nLayer; i++) {
        const n = `model.layers.${i}`;
        h = hooks.module(n, h, (x) => {
          const attnOut = hooks.module(`${n}.self_attn`, norm(`${n}.input_layernorm`, x), (t) => {
            const rotate = (u: Tensor, heads: number): Tensor => applyRotary(splitHeads(u, heads), s.positionIds, c.headDim, c.ropeTheta, 'half');
            const q = rotate(lin(`${n}.self_attn.q_proj`, t, c.qkvBias), c.nHead);
            const k = rotate(lin(`${n}.self_attn.k_proj`, t, c.qkvBias), c.nKV);
            const v = splitHeads(lin(`${n}.self_attn.v_proj`, t, c.qkvBias), c.nKV);
            const layer = extendCache(s.past?.[i], k, v);
            if (s.useCache) cache.push(layer);
            return lin(`${n}.self_attn.o_proj`, attend(q, layer.k, layer.v, s.blocked, 1 / Math.sqrt(c.headDim)), c.oBias);
          });
          const mid = x.add(attnOut);
          const mlpOut = hooks.module(`${n}.mlp`, norm(`${n}.post_attention_layernorm`, mid), (t) => {
            const gate = hooks.module(`${n}.mlp.act_fn`, lin(`${n}.mlp.gate_proj`, t, c.mlpBias), (u) => u.silu());
            return lin(`${n}.mlp.down_proj`, gate.mul(lin(`${n}.mlp.up_proj`, t, c.mlpBias)), c.mlpBias);
          });
          return mid.add(mlpOut);
        });
        s.onResidual?.(h);
      }
      return { hidden: norm('model.norm', h), cache: s.useCache ? cache : undefined };
    },

    lmHead: (c, p, hidden) => hidden.matmul(p(c.tied ? 'model.embed_tokens.weight' : 'lm_head.weight').t()),
  };
}

export const llama = llamaFamily({ modelType: 'llama' });
export const mistral = llamaFamily({ modelType: 'mistral', slidingWindowKey: 'sliding_window' });
