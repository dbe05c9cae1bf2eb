// GPT-NeoX / Pythia (GPTNeoXForCausalLM): fused per-head QKV, rotate-half rotary on a fraction of each head,
// parallel (default) or sequential residual with two LayerNorms, untied output embedding `embed_out`.
import { layerNorm, linear, type Tensor } from '../tensor/index.js';
import {
  configInt, configNumber, perLayer, type Architecture, type ArchitectureOutput, type ForwardState,
} from './architecture.js';
import { applyRotary, attend, extendCache, type LayerCache } from './layers.js';

export interface GPTNeoXConfig {
  vocabSize: number;
  maxPositions: number;
  d: number;
  nLayer: number;
  nHead: number;
  intermediate: number;
  rotaryDim: number;
  rotaryBase: number;
  eps: number;
  parallelResidual: boolean;
  activation: 'none' | 'tanh';
  bias: boolean;
}

const ACTIVATIONS: Record<string, 'none' | 'tanh'> = { gelu: 'none', gelu_new: 'tanh', gelu_pytorch_tanh: 'tanh', gelu_fast: 'tanh' };

export const gptNeox: Architecture<GPTNeoXConfig> = {
  modelType: 'gpt_neox',

  parseConfig(raw, file) {
    const d = configInt(raw, 'hidden_size', file);
    const nHead = configInt(raw, 'num_attention_heads', file);
    if (d % nHead !== 0) throw new Error(`${file}: hidden_size ${d} is not divisible by num_attention_heads ${nHead}`);
    const act = raw.hidden_act ?? 'gelu';
    if (!(act in ACTIVATIONS)) throw new Error(`${file}: hidden_act '${act}' is not supported`);
    if (raw.tie_word_embeddings === true) throw new Error(`${file}: tied embeddings are not supported for gpt_neox`);
    // transformers v5 configs move rotary settings into rope_parameters
    const rope = raw.rope_parameters ?? {};
    const pct = configNumber({ v: raw.rotary_pct ?? rope.partial_rotary_factor }, 'v', file, 0.25);
    const hd = d / nHead;
    return {
      vocabSize: configInt(raw, 'vocab_size', file),
      maxPositions: configInt(raw, 'max_position_embeddings', file, 2048),
      d,
      nLayer: configInt(raw, 'num_hidden_layers', file),
      nHead,
      intermediate: configInt(raw, 'intermediate_size', file),
      rotaryDim: Math.floor(hd * pct),
      rotaryBase: configNumber({ v: raw.rotary_emb_base ?? rope.rope_theta }, 'v', file, 10000),
      eps: configNumber(raw, 'layer_norm_eps', file, 1e-5),
      parallelResidual: raw.use_parallel_residual ?? true,
      activation: ACTIVATIONS[act],
      bias: raw.attention_bias ?? true,
    };
  },

  dims: (c) => ({
    numLayers: c.nLayer, hiddenSize: c.d, intermediateSize: c.intermediate, vocabSize: c.vocabSize,
    numHeads: c.nHead, numKeyValueHeads: c.nHead, headDim: c.d / c.nHead, maxPositions: c.maxPositions,
  }),

  templates: {
    layer: 'gpt_neox.layers.{}',
    mlp: 'gpt_neox.layers.{}.mlp',
    attn: 'gpt_neox.layers.{}.attention',
    rewriteModule: 'gpt_neox.layers.{}.mlp.dense_4h_to_h',
    rewriteWeightLayout: 'out_in',
    mlpActivation: 'gpt_neox.layers.{}.mlp.act',
    lnF: 'gpt_neox.final_layer_norm',
    lmHead: 'embed_out',
    embed: 'gpt_neox.embed_in',
    logits: 'embed_out',
  },

  parameterShapes(c) {
    const m = new Map<string, number[]>([['gpt_neox.embed_in.weight', [c.vocabSize, c.d]]]);
    for (let i = 0; i < c.nLayer; i++) {
      const l = `gpt_neox.layers.${i}`;
      for (const ln of ['input_layernorm', 'post_attention_layernorm']) m.set(`${l}.${ln}.weight`, [c.d]).set(`${l}.${ln}.bias`, [c.d]);
      m.set(`${l}.attention.query_key_value.weight`, [3 * c.d, c.d]);
      m.set(`${l}.attention.dense.weight`, [c.d, c.d]);
      if (c.bias) m.set(`${l}.attention.query_key_value.bias`, [3 * c.d]).set(`${l}.attention.dense.bias`, [c.d]);
      m.set(`${l}.mlp.dense_h_to_4h.weight`, [c.intermediate, c.d]).set(`${l}.mlp.dense_h_to_4h.bias`, [c.intermediate]);
      m.set(`${l}.mlp.dense_4h_to_h.weight`, [c.d, c.intermediate]).set(`${l}.mlp.dense_4h_to_h.bias`, [c.d]);
    }
    m.set('gpt_neox.final_layer_norm.weight', [c.d]).set('gpt_neox.final_layer_norm.bias', [c.d]);
    return m.set('embed_out.weight', [c.vocabSize, c.d]);
  },

  canonicalName: (name) => (/\.attention\.(masked_bias|bias|rotary_emb\.inv_freq)$/.test(name) ? null : name),

  modulePaths(c) {
    const subs = ['', '.input_layernorm', '.attention', '.attention.query_key_value', '.attention.dense',
      '.post_attention_layernorm', '.mlp', '.mlp.dense_h_to_4h', '.mlp.act', '.mlp.dense_4h_to_h'];
    const layers = perLayer('gpt_neox.layers.{}', c.nLayer).flatMap((h) => subs.map((s) => h + s));
    return ['gpt_neox.embed_in', ...layers, 'gpt_neox.final_layer_norm', 'embed_out'];
  },

  forward(c, s: ForwardState): ArchitectureOutput {
    const { hooks, p } = s;
    const hd = c.d / c.nHead;
    const lin = (path: string, x: Tensor): Tensor =>
      hooks.module(path, x, (u) => linear(u, p(`${path}.weight`), c.bias || !path.includes('attention') ? p(`${path}.bias`) : undefined));
    const norm = (path: string, x: Tensor): Tensor =>
      hooks.module(path, x, (u) => layerNorm(u, [c.d], p(`${path}.weight`), p(`${path}.bias`), c.eps));
    let h = hooks.module('gpt_neox.embed_in', s.inputIds, (ids) => p('gpt_neox.embed_in.weight').index([ids]));
    s.onResidual?.(h);
    const cache: LayerCache[] = [];
    for (let i = 0; i < c.nLayer; i++) {
      const n = `gpt_neox.layers.${i}`;
      const attention = (t: Tensor): Tensor => hooks.module(`${n}.attention`, t, (u) => {
        const [b, len] = u.shape;
        // fused layout is per head: [B, T, H, 3, hd] (ARCHITECTURES.md)
        const qkv = lin(`${n}.attention.query_key_value`, u).view(b, len, c.nHead, 3 * hd).transpose(1, 2);
        const rotate = (x: Tensor): Tensor => applyRotary(x, s.positionIds, c.rotaryDim, c.rotaryBase, 'half');
        const q = rotate(qkv.narrow(-1, 0, hd));
        const k = rotate(qkv.narrow(-1, hd, hd));
        const layer = extendCache(s.past?.[i], k, qkv.narrow(-1, 2 * hd, hd));
        if (s.useCache) cache.push(layer);
        return lin(`${n}.attention.dense`, attend(q, layer.k, layer.v, s.blocked, 1 / Math.sqrt(hd)));
      });
      const mlp = (t: Tensor): Tensor => hooks.module(`${n}.mlp`, t, (u) => {
        const act = hooks.module(`${n}.mlp.act`, lin(`${n}.mlp.dense_h_to_4h`, u), (x) => x.gelu(c.activation));
        return lin(`${n}.mlp.dense_4h_to_h`, act);
      });
      h = hooks.module(n, h, (x) => {
        const attnOut = attention(norm(`${n}.input_layernorm`, x));
        if (c.parallelResidual) return x.add(attnOut).add(mlp(norm(`${n}.post_attention_layernorm`, x)));
        const mid = x.add(attnOut);
        return mid.add(mlp(norm(`${n}.post_attention_layernorm`, mid)));
      });
      s.onResidual?.(h);
    }
    return { hidden: norm('gpt_neox.final_layer_norm', h), cache: s.useCache ? cache : undefined };
  },

  lmHead: (_c, p, hidden) => hidden.matmul(p('embed_out.weight').t()),
};
