// OPT (OPTForCausalLM). Learned absolute positions read at position + 2 (the table has 2 extra leading rows),
// separate q/k/v/out projections with biases, ReLU MLP (fc1, fc2), tied LM head. Two layer-norm placements:
// pre-LN like GPT-2 with a final LayerNorm (do_layer_norm_before true, every size but 350m) and post-LN without one
// (OPT-350m). When word_embed_proj_dim P differs from the hidden size d (350m: P 512, d 1024), embeddings are
// P wide and `project_in` [d, P] / `project_out` [P, d] map into and out of the residual stream.
// Conventions: ../shared/data/golden/ARCHITECTURES.md (section opt).
//
// Hidden states stay d wide: `forward` returns the residual stream after the final norm (or after the last block
// when there is none), and the LM head applies project_out (when present) then the tied embedding. HF has no
// `mlp` module in an OPT layer (fc1/fc2 sit on the layer itself); `model.decoder.layers.{i}.mlp` is lmedit's hook
// around fc1 → activation_fn → fc2, so methods that patch an MLP (T-Patcher, CaliNet, ROME's mlp_module_tmp) can
// address it. Every other path is the HF module's; `project_out` runs inside the `lm_head` hook (its input is the
// d-wide hidden state), so it is not a separate trace point.
import { layerNorm, linear, type Tensor } from '../tensor/index.js';
import {
  configInt, perLayer, type Architecture, type ArchitectureOutput, type ForwardState,
} from './architecture.js';
import { attend, extendCache, splitHeads, type LayerCache } from './layers.js';

type Activation = 'relu' | 'gelu' | 'gelu_tanh' | 'silu';

export interface OPTConfig {
  vocabSize: number;
  maxPositions: number;
  d: number;
  /** word_embed_proj_dim: width of the token embeddings (= d unless project_in/out exist). */
  embedDim: number;
  nLayer: number;
  nHead: number;
  ffnDim: number;
  preLN: boolean;
  finalNorm: boolean;
  bias: boolean;
  affineNorms: boolean;
  tied: boolean;
  activation: Activation;
}

/** OPT's embed_positions table starts 2 rows in (fairseq's padding offset). */
export const OPT_POSITION_OFFSET = 2;
const EPS = 1e-5;

const ACTIVATIONS: Record<string, Activation> = {
  relu: 'relu', gelu: 'gelu', gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', gelu_fast: 'gelu_tanh', silu: 'silu', swish: 'silu',
};

function activate(x: Tensor, a: Activation): Tensor {
  switch (a) {
    case 'relu': return x.relu();
    case 'gelu': return x.gelu('none');
    case 'gelu_tanh': return x.gelu('tanh');
    case 'silu': return x.silu();
  }
}

function projected(c: OPTConfig): boolean {
  return c.embedDim !== c.d;
}

const D = 'model.decoder';

export const opt: Architecture<OPTConfig> = {
  modelType: 'opt',
  learnedPositions: true,

  parseConfig(raw, file) {
    const d = configInt(raw, 'hidden_size', file);
    const nHead = configInt(raw, 'num_attention_heads', file);
    if (d % nHead !== 0) throw new Error(`${file}: hidden_size ${d} is not divisible by num_attention_heads ${nHead}`);
    const act = raw.activation_function ?? 'relu';
    if (typeof act !== 'string' || !(act in ACTIVATIONS)) {
      throw new Error(`${file}: activation_function ${JSON.stringify(act)} is not supported for opt (${Object.keys(ACTIVATIONS).join(', ')})`);
    }
    for (const key of ['do_layer_norm_before', 'enable_bias', 'layer_norm_elementwise_affine', '_remove_final_layer_norm', 'tie_word_embeddings']) {
      if (raw[key] != null && typeof raw[key] !== 'boolean') throw new Error(`${file}: field '${key}' must be true or false, got ${JSON.stringify(raw[key])}`);
    }
    const preLN = raw.do_layer_norm_before ?? true;
    return {
      vocabSize: configInt(raw, 'vocab_size', file),
      maxPositions: configInt(raw, 'max_position_embeddings', file),
      d,
      embedDim: raw.word_embed_proj_dim == null ? d : configInt(raw, 'word_embed_proj_dim', file),
      nLayer: configInt(raw, 'num_hidden_layers', file),
      nHead,
      ffnDim: configInt(raw, 'ffn_dim', file),
      preLN,
      finalNorm: preLN && raw._remove_final_layer_norm !== true,
      bias: raw.enable_bias ?? true,
      affineNorms: raw.layer_norm_elementwise_affine ?? true,
      tied: raw.tie_word_embeddings ?? true,
      activation: ACTIVATIONS[act],
    };
  },

  dims: (c) => ({
    numLayers: c.nLayer, hiddenSize: c.d, intermediateSize: c.ffnDim, vocabSize: c.vocabSize,
    numHeads: c.nHead, numKeyValueHeads: c.nHead, headDim: c.d / c.nHead, maxPositions: c.maxPositions,
  }),

  templates: {
    layer: `${D}.layers.{}`,
    mlp: `${D}.layers.{}.mlp`,
    attn: `${D}.layers.{}.self_attn`,
    rewriteModule: `${D}.layers.{}.fc2`,
    rewriteWeightLayout: 'out_in',
    mlpActivation: `${D}.layers.{}.activation_fn`,
    lnF: `${D}.final_layer_norm`,
    lmHead: `${D}.embed_tokens`,
    embed: `${D}.embed_tokens`,
    logits: 'lm_head',
  },

  parameterShapes(c) {
    const m = new Map<string, number[]>([
      [`${D}.embed_tokens.weight`, [c.vocabSize, c.embedDim]],
      [`${D}.embed_positions.weight`, [c.maxPositions + OPT_POSITION_OFFSET, c.d]],
    ]);
    if (projected(c)) m.set(`${D}.project_in.weight`, [c.d, c.embedDim]);
    const norm = (name: string) => {
      if (c.affineNorms) m.set(`${name}.weight`, [c.d]).set(`${name}.bias`, [c.d]);
    };
    const lin = (name: string, out: number, inp: number) => {
      m.set(`${name}.weight`, [out, inp]);
      if (c.bias) m.set(`${name}.bias`, [out]);
    };
    for (let i = 0; i < c.nLayer; i++) {
      const l = `${D}.layers.${i}`;
      for (const proj of ['k_proj', 'v_proj', 'q_proj', 'out_proj']) lin(`${l}.self_attn.${proj}`, c.d, c.d);
      norm(`${l}.self_attn_layer_norm`);
      lin(`${l}.fc1`, c.ffnDim, c.d);
      lin(`${l}.fc2`, c.d, c.ffnDim);
      norm(`${l}.final_layer_norm`);
    }
    if (c.finalNorm) norm(`${D}.final_layer_norm`);
    if (projected(c)) m.set(`${D}.project_out.weight`, [c.embedDim, c.d]);
    if (!c.tied) m.set('lm_head.weight', [c.vocabSize, c.embedDim]);
    return m;
  },

  canonicalName(name, c) {
    if (name === 'lm_head.weight') return c.tied ? null : name;
    // facebook/opt-* checkpoints were saved from OPTModel: `decoder.*` without the `model.` prefix
    if (name.startsWith('decoder.')) return `model.${name}`;
    return name;
  },

  modulePaths(c) {
    const subs = ['', '.self_attn_layer_norm', '.self_attn', '.self_attn.q_proj', '.self_attn.k_proj', '.self_attn.v_proj',
      '.self_attn.out_proj', '.final_layer_norm', '.mlp', '.fc1', '.activation_fn', '.fc2'];
    const layers = perLayer(`${D}.layers.{}`, c.nLayer).flatMap((h) => subs.map((s) => h + s));
    return [
      `${D}.embed_tokens`, ...(projected(c) ? [`${D}.project_in`] : []), `${D}.embed_positions`, ...layers,
      ...(c.finalNorm ? [`${D}.final_layer_norm`] : []), 'lm_head',
    ];
  },

  forward(c, s: ForwardState): ArchitectureOutput {
    const { hooks, p } = s;
    const lin = (path: string, x: Tensor): Tensor =>
      hooks.module(path, x, (u) => linear(u, p(`${path}.weight`), c.bias ? p(`${path}.bias`) : undefined));
    const norm = (path: string, x: Tensor): Tensor => hooks.module(path, x, (u) =>
      (c.affineNorms ? layerNorm(u, [c.d], p(`${path}.weight`), p(`${path}.bias`), EPS) : layerNorm(u, [c.d], undefined, undefined, EPS)));

    let tokens = hooks.module(`${D}.embed_tokens`, s.inputIds, (ids) => p(`${D}.embed_tokens.weight`).index([ids]));
    if (projected(c)) tokens = hooks.module(`${D}.project_in`, tokens, (u) => linear(u, p(`${D}.project_in.weight`)));
    // The hook sees the position ids as the caller gave them (0-based); the table is read OPT_POSITION_OFFSET rows in.
    const positions = hooks.module(`${D}.embed_positions`, s.positionIds,
      (ids) => p(`${D}.embed_positions.weight`).index([ids.add(OPT_POSITION_OFFSET)]));
    let h = tokens.add(positions);
    s.onResidual?.(h);
    const cache: LayerCache[] = [];
    const hd = c.d / c.nHead;
    for (let i = 0; i < c.nLayer; i++) {
      const n = `${D}.layers.${i}`;
      h = hooks.module(n, h, (x) => {
        const attention = (t: Tensor): Tensor => hooks.module(`${n}.self_attn`, t, (u) => {
          const q = splitHeads(lin(`${n}.self_attn.q_proj`, u), c.nHead);
          const k = splitHeads(lin(`${n}.self_attn.k_proj`, u), c.nHead);
          const v = splitHeads(lin(`${n}.self_attn.v_proj`, u), c.nHead);
          const layer = extendCache(s.past?.[i], k, v);
          if (s.useCache) cache.push(layer);
          return lin(`${n}.self_attn.out_proj`, attend(q, layer.k, layer.v, s.blocked, 1 / Math.sqrt(hd)));
        });
        const mlp = (t: Tensor): Tensor => hooks.module(`${n}.mlp`, t, (u) => {
          const act = hooks.module(`${n}.activation_fn`, lin(`${n}.fc1`, u), (w) => activate(w, c.activation));
          return lin(`${n}.fc2`, act);
        });
        if (c.preLN) {
          const mid = x.add(attention(norm(`${n}.self_attn_layer_norm`, x)));
          return mid.add(mlp(norm(`${n}.final_layer_norm`, mid)));
        }
        const mid = norm(`${n}.self_attn_layer_norm`, x.add(attention(x)));
        return norm(`${n}.final_layer_norm`, mid.add(mlp(mid)));
      });
      s.onResidual?.(h);
    }
    const hidden = c.finalNorm ? norm(`${D}.final_layer_norm`, h) : h;
    return { hidden, cache: s.useCache ? cache : undefined };
  },

  lmHead(c, p, hidden) {
    const x = projected(c) ? linear(hidden, p(`${D}.project_out.weight`)) : hidden;
    return x.matmul(p(c.tied ? `${D}.embed_tokens.weight` : 'lm_head.weight').t());
  },
};
