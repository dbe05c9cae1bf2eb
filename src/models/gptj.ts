// GPT-J (GPTJForCausalLM): one LayerNorm feeding attention and MLP in parallel, separate q/k/v/out projections
// without biases, interleaved rotary embedding on the first rotary_dim dims of each head, untied LM head with bias.
import { layerNorm, linear, type Tensor } from '../tensor/index.js';
import {
  configInt, configNumber, perLayer, type Architecture, type ArchitectureOutput, type ForwardState,
} from './architecture.js';
import { applyRotary, attend, extendCache, splitHeads, type LayerCache } from './layers.js';

export interface GPTJConfig {
  vocabSize: number;
  nPositions: number;
  d: number;
  nLayer: number;
  nHead: number;
  nInner: number;
  rotaryDim: number;
  eps: number;
}

export const gptj: Architecture<GPTJConfig> = {
  modelType: 'gptj',

  parseConfig(raw, file) {
    const d = configInt(raw, 'n_embd', file);
    const nHead = configInt(raw, 'n_head', file);
    if (d % nHead !== 0) throw new Error(`${file}: n_embd ${d} is not divisible by n_head ${nHead}`);
    if ((raw.activation_function ?? 'gelu_new') !== 'gelu_new') throw new Error(`${file}: only activation_function gelu_new is supported for gptj`);
    if (raw.tie_word_embeddings === true) throw new Error(`${file}: tied embeddings are not supported for gptj (real GPT-J configs set tie_word_embeddings false)`);
    const rotaryDim = raw.rotary_dim == null ? d / nHead : configInt(raw, 'rotary_dim', file);
    if (rotaryDim % 2 !== 0 || rotaryDim > d / nHead) throw new Error(`${file}: rotary_dim ${rotaryDim} must be even and at most the head dim ${d / nHead}`);
    return {
      vocabSize: configInt(raw, 'vocab_size', file),
      nPositions: configInt(raw, 'n_positions', file),
      d,
      nLayer: configInt(raw, 'n_layer', file),
      nHead,
      nInner: raw.n_inner == null ? 4 * d : configInt(raw, 'n_inner', file),
      rotaryDim,
      eps: configNumber(raw, 'layer_norm_epsilon', file, 1e-5),
    };
  },

  dims: (c) => ({
    numLayers: c.nLayer, hiddenSize: c.d, intermediateSize: c.nInner, vocabSize: c.vocabSize,
    numHeads: c.nHead, numKeyValueHeads: c.nHead, headDim: c.d / c.nHead, maxPositions: c.nPositions,
  }),

  templates: {
    layer: 'transformer.h.{}',
    mlp: 'transformer.h.{}.mlp',
    attn: 'transformer.h.{}.attn',
    rewriteModule: 'transformer.h.{}.mlp.fc_out',
    rewriteWeightLayout: 'out_in',
    mlpActivation: 'transformer.h.{}.mlp.act',
    lnF: 'transformer.ln_f',
    lmHead: 'lm_head',
    embed: 'transformer.wte',
    logits: 'lm_head',
  },

  parameterShapes(c) {
    const m = new Map<string, number[]>([['transformer.wte.weight', [c.vocabSize, c.d]]]);
    for (let i = 0; i < c.nLayer; i++) {
      const h = `transformer.h.${i}`;
      m.set(`${h}.ln_1.weight`, [c.d]).set(`${h}.ln_1.bias`, [c.d]);
      for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) m.set(`${h}.attn.${proj}.weight`, [c.d, c.d]);
      m.set(`${h}.mlp.fc_in.weight`, [c.nInner, c.d]).set(`${h}.mlp.fc_in.bias`, [c.nInner]);
      m.set(`${h}.mlp.fc_out.weight`, [c.d, c.nInner]).set(`${h}.mlp.fc_out.bias`, [c.d]);
    }
    m.set('transformer.ln_f.weight', [c.d]).set('transformer.ln_f.bias', [c.d]);
    return m.set('lm_head.weight', [c.vocabSize, c.d]).set('lm_head.bias', [c.vocabSize]);
  },

  canonicalName: (name) => (/\.attn\.(masked_)?bias$/.test(name) ? null : name),

  modulePaths(c) {
    const subs = ['', '.ln_1', '.attn', '.attn.q_proj', '.attn.k_proj', '.attn.v_proj', '.attn.out_proj',
      '.mlp', '.mlp.fc_in', '.mlp.act', '.mlp.fc_out'];
    const layers = perLayer('transformer.h.{}', c.nLayer).flatMap((h) => subs.map((s) => h + s));
    return ['transformer.wte', ...layers, 'transformer.ln_f', 'lm_head'];
  },

  forward(c, s: ForwardState): ArchitectureOutput {
    const { hooks, p } = s;
    let h = hooks.module('transformer.wte', s.inputIds, (ids) => p('transformer.wte.weight').index([ids]));
    s.onResidual?.(h);
    const cache: LayerCache[] = [];
    const hd = c.d / c.nHead;
    const lin = (path: string, x: Tensor, bias = false): Tensor =>
      hooks.module(path, x, (u) => linear(u, p(`${path}.weight`), bias ? p(`${path}.bias`) : undefined));
    for (let i = 0; i < c.nLayer; i++) {
      const n = `transformer.h.${i}`;
      h = hooks.module(n, h, (x) => {
        const a = hooks.module(`${n}.ln_1`, x, (t) => layerNorm(t, [c.d], p(`${n}.ln_1.weight`), p(`${n}.ln_1.bias`), c.eps));
        const attnOut = hooks.module(`${n}.attn`, a, (t) => {
          const rotate = (u: Tensor): Tensor => applyRotary(splitHeads(u, c.nHead), s.positionIds, c.rotaryDim, 10000, 'interleaved');
          const q = rotate(lin(`${n}.attn.q_proj`, t));
          const k = rotate(lin(`${n}.attn.k_proj`, t));
          const v = splitHeads(lin(`${n}.attn.v_proj`, t), c.nHead);
          const layer = extendCache(s.past?.[i], k, v);
          if (s.useCache) cache.push(layer);
          return lin(`${n}.attn.out_proj`, attend(q, layer.k, layer.v, s.blocked, 1 / Math.sqrt(hd)));
        });
        const mlpOut = hooks.module(`${n}.mlp`, a, (t) => {
          const act = hooks.module(`${n}.mlp.act`, lin(`${n}.mlp.fc_in`, t, true), (u) => u.gelu('tanh'));
          return lin(`${n}.mlp.fc_out`, act, true);
        });
        return x.add(attnOut).add(mlpOut);
      });
      s.onResidual?.(h);
    }
    const hidden = hooks.module('transformer.ln_f', h, (t) => layerNorm(t, [c.d], p('transformer.ln_f.weight'), p('transformer.ln_f.bias'), c.eps));
    return { hidden, cache: s.useCache ? cache : undefined };
  },

  lmHead: (_c, p, hidden) => linear(hidden, p('lm_head.weight'), p('lm_head.bias')),
};
