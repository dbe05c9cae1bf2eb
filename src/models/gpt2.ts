// GPT-2 (GPT2LMHeadModel). Pre-LN blocks, fused QKV Conv1D, learned absolute positions, gelu_new, tied LM head.
// Conv1D weights are stored [in, out] and applied as y = x W + b; we keep that layout so saved checkpoints and
// ROME's rewrite of mlp.c_proj match Hugging Face exactly.
import { addmm, layerNorm, type Tensor } from '../tensor/index.js';
import {
  configInt, configNumber, perLayer, type Architecture, type ArchitectureOutput, type ForwardState,
} from './architecture.js';
import { attend, extendCache, splitHeads, type LayerCache } from './layers.js';

export interface GPT2Config {
  vocabSize: number;
  nPositions: number;
  d: number;
  nLayer: number;
  nHead: number;
  nInner: number;
  eps: number;
  activation: 'tanh' | 'none';
}

/** Conv1D: x [.., in] · W [in, out] + b. */
function conv1d(x: Tensor, w: Tensor, b: Tensor): Tensor {
  const shape = x.shape;
  const flat = x.reshape(-1, shape[shape.length - 1]);
  return addmm(b, flat, w).view(...shape.slice(0, -1), w.shape[1]);
}

const ACTIVATIONS: Record<string, 'tanh' | 'none'> = { gelu_new: 'tanh', gelu_pytorch_tanh: 'tanh', gelu: 'none' };

export const gpt2: Architecture<GPT2Config> = {
  modelType: 'gpt2',
  learnedPositions: true,

  parseConfig(raw, file) {
    const d = configInt(raw, 'n_embd', file);
    const act = raw.activation_function ?? 'gelu_new';
    if (!(act in ACTIVATIONS)) throw new Error(`${file}: activation_function '${act}' is not supported (gelu_new, gelu)`);
    if (raw.scale_attn_by_inverse_layer_idx || raw.reorder_and_upcast_attn) {
      throw new Error(`${file}: scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported`);
    }
    const c: GPT2Config = {
      vocabSize: configInt(raw, 'vocab_size', file),
      nPositions: configInt(raw, 'n_positions', file),
      d,
      nLayer: configInt(raw, 'n_layer', file),
      nHead: configInt(raw, 'n_head', file),
      nInner: raw.n_inner == null ? 4 * d : configInt(raw, 'n_inner', file),
      eps: configNumber(raw, 'layer_norm_epsilon', file, 1e-5),
      activation: ACTIVATIONS[act],
    };
    if (d % c.nHead !== 0) throw new Error(`${file}: n_embd ${d} is not divisible by n_head ${c.nHead}`);
    return c;
  },

  dims: (c) => ({
    numLayers: c.nLayer, hiddenSize: c.d, intermediateSize: c.nInner, vocabSize: c.vocabSize,
    numHeads: c.nHead, numKeyValueHeads: c.nHead, headDim: c.d / c.nHead, maxPositions: c.nPositions,
  }),

  templates: {
    layer: 'transformer.h.{}',
    mlp: 'transformer.h.{}.mlp',
    attn: 'transformer.h.{}.attn',
    rewriteModule: 'transformer.h.{}.mlp.c_proj',
    rewriteWeightLayout: 'in_out',
    mlpActivation: 'transformer.h.{}.mlp.act',
    lnF: 'transformer.ln_f',
    lmHead: 'transformer.wte',
    embed: 'transformer.wte',
    logits: 'lm_head',
  },

  parameterShapes(c) {
    const m = new Map<string, number[]>([
      ['transformer.wte.weight', [c.vocabSize, c.d]],
      ['transformer.wpe.weight', [c.nPositions, c.d]],
    ]);
    for (let i = 0; i < c.nLayer; i++) {
      const h = `transformer.h.${i}`;
      m.set(`${h}.ln_1.weight`, [c.d]).set(`${h}.ln_1.bias`, [c.d]);
      m.set(`${h}.attn.c_attn.weight`, [c.d, 3 * c.d]).set(`${h}.attn.c_attn.bias`, [3 * c.d]);
      m.set(`${h}.attn.c_proj.weight`, [c.d, c.d]).set(`${h}.attn.c_proj.bias`, [c.d]);
      m.set(`${h}.ln_2.weight`, [c.d]).set(`${h}.ln_2.bias`, [c.d]);
      m.set(`${h}.mlp.c_fc.weight`, [c.d, c.nInner]).set(`${h}.mlp.c_fc.bias`, [c.nInner]);
      m.set(`${h}.mlp.c_proj.weight`, [c.nInner, c.d]).set(`${h}.mlp.c_proj.bias`, [c.d]);
    }
    return m.set('transformer.ln_f.weight', [c.d]).set('transformer.ln_f.bias', [c.d]);
  },

  canonicalName(name) {
    if (/\.attn\.(masked_)?bias$/.test(name)) return null;
    if (name === 'lm_head.weight') return null; // tied to wte
    return name.startsWith('transformer.') ? name : `transformer.${name}`;
  },

  modulePaths(c) {
    const subs = ['', '.ln_1', '.attn', '.attn.c_attn', '.attn.c_proj', '.ln_2', '.mlp', '.mlp.c_fc', '.mlp.act', '.mlp.c_proj'];
    const layers = perLayer('transformer.h.{}', c.nLayer).flatMap((h) => subs.map((s) => h + s));
    return ['transformer.wte', 'transformer.wpe', ...layers, 'transformer.ln_f', 'lm_head'];
  },

  forward(c, s: ForwardState): ArchitectureOutput {
    const { hooks, p } = s;
    const tokens = hooks.module('transformer.wte', s.inputIds, (ids) => p('transformer.wte.weight').index([ids]));
    const positions = hooks.module('transformer.wpe', s.positionIds, (ids) => p('transformer.wpe.weight').index([ids]));
    let h = tokens.add(positions);
    s.onResidual?.(h);
    const cache: LayerCache[] = [];
    const hd = c.d / c.nHead;
    for (let i = 0; i < c.nLayer; i++) {
      const n = `transformer.h.${i}`;
      h = hooks.module(n, h, (x) => {
        const a = hooks.module(`${n}.ln_1`, x, (t) => layerNorm(t, [c.d], p(`${n}.ln_1.weight`), p(`${n}.ln_1.bias`), c.eps));
        const attnOut = hooks.module(`${n}.attn`, a, (t) => {
          const qkv = hooks.module(`${n}.attn.c_attn`, t, (u) => conv1d(u, p(`${n}.attn.c_attn.weight`), p(`${n}.attn.c_attn.bias`)));
          const [q, k, v] = qkv.split(c.d, -1).map((u) => splitHeads(u, c.nHead));
          const layer = extendCache(s.past?.[i], k, v);
          if (s.useCache) cache.push(layer);
          const merged = attend(q, layer.k, layer.v, s.blocked, 1 / Math.sqrt(hd));
          return hooks.module(`${n}.attn.c_proj`, merged, (u) => conv1d(u, p(`${n}.attn.c_proj.weight`), p(`${n}.attn.c_proj.bias`)));
        });
        const mid = x.add(attnOut);
        const b = hooks.module(`${n}.ln_2`, mid, (t) => layerNorm(t, [c.d], p(`${n}.ln_2.weight`), p(`${n}.ln_2.bias`), c.eps));
        const mlpOut = hooks.module(`${n}.mlp`, b, (t) => {
          const up = hooks.module(`${n}.mlp.c_fc`, t, (u) => conv1d(u, p(`${n}.mlp.c_fc.weight`), p(`${n}.mlp.c_fc.bias`)));
          const act = hooks.module(`${n}.mlp.act`, up, (u) => u.gelu(c.activation));
          return hooks.module(`${n}.mlp.c_proj`, act, (u) => conv1d(u, p(`${n}.mlp.c_proj.weight`), p(`${n}.mlp.c_proj.bias`)));
        });
        return mid.add(mlpOut);
      });
      s.onResidual?.(h);
    }
    const hidden = hooks.module('transformer.ln_f', h, (t) => layerNorm(t, [c.d], p('transformer.ln_f.weight'), p('transformer.ln_f.bias'), c.eps));
    return { hidden, cache: s.useCache ? cache : undefined };
  },

  lmHead: (_c, p, hidden) => hidden.matmul(p('transformer.wte.weight').t()),
};
