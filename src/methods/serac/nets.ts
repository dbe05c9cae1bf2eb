// SERAC's two trained networks (Mitchell et al. 2022, §3; EasyEdit easyeditor/trainer/algs/SERAC.py):
//   the scope classifier g(z_e, x) = exp(−scale · dist(e(z_e), e(x))), an embedding classifier: the edit's input and
//     the query are embedded separately and compared (EasyEdit's embedding_logsim_matrix). EasyEdit's encoder is a
//     fine-tuned distilbert; lmedit has no encoder architecture, so the embedding is a trained projection (an MLP) of
//     the FROZEN base LM's pooled hidden states (docs/serac.md);
//   the counterfactual model h(z_e, x): a causal LM with the base model's tokenizer (a copy of the base model, trained)
//     that answers `edit text + sep + query`.
import { cat, Generator, keep, noGrad, randn, tensor, tidy, zeros, type Tensor } from '../../tensor/index.js';
import { loadEditableModel, padBatch, t5PromptIds, T5Model, type EditableModel } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import type { SeracHparams } from './hparams.js';

export const CLS_PREFIX = 'cls.';
export const CNTR_PREFIX = 'cntr.';

/** The classifier's projection: features [N, F] → embeddings [N, D]. */
export class ScopeClassifier {
  readonly params = new Map<string, Tensor>();
  /** Pooled base features by text (the base is frozen: they never change). */
  private readonly cache = new Map<string, Tensor>();

  constructor(readonly base: EditableModel, readonly tokenizer: Tokenizer, readonly h: SeracHparams, seed: number) {
    const d = base.dims.hiddenSize;
    const f = h.cls_pool === 'mean_last' ? 2 * d : d;
    const g = new Generator(seed);
    const init = (name: string, shape: number[], std: number) => {
      const t = noGrad(() => { const r = randn(shape, { generator: g }); const s = r.mul(std); r.dispose(); return s; });
      this.params.set(CLS_PREFIX + name, t.requiresGrad_(true));
    };
    const zero = (name: string, n: number) => this.params.set(CLS_PREFIX + name, zeros([n]).requiresGrad_(true));
    // small output weights: initial distances of order 1, so every pair starts near the 0.5 boundary's scale
    if (h.cls_hidden > 0) {
      init('w1', [f, h.cls_hidden], 1 / Math.sqrt(f));
      zero('b1', h.cls_hidden);
      init('w2', [h.cls_hidden, h.cls_dim], 0.1 / Math.sqrt(h.cls_hidden));
      zero('b2', h.cls_dim);
    } else {
      init('w1', [f, h.cls_dim], 0.1 / Math.sqrt(f));
      zero('b1', h.cls_dim);
    }
  }

  /** Pooled hidden states [N, F] of the texts under the frozen base (cached by text, no grad). */
  features(texts: readonly string[]): Tensor {
    const missing = [...new Set(texts.filter((t) => !this.cache.has(t)))];
    for (let i = 0; i < missing.length; i += 32) {
      const chunk = missing.slice(i, i + 32);
      const rows = keep(tidy(() => noGrad(() => this.pool(chunk))));
      chunk.forEach((t, j) => this.cache.set(t, keep(tidy(() => rows.select(0, j).clone()))));
      rows.dispose();
    }
    return tidy(() => stackRows(texts.map((t) => this.cache.get(t)!)));
  }

  private pool(texts: string[]): Tensor {
    const base = this.base;
    const encoded = texts.map((t) => this.tokenizer.encode(t));
    encoded.forEach((r, i) => { if (r.length === 0) throw new Error(`SERAC: the text ${JSON.stringify(texts[i])} encodes to no tokens`); });
    // a T5's features are its encoder's (the text as an encoder input, EOS appended), a causal LM's its one stack's
    const rows = base instanceof T5Model ? encoded.map((r) => t5PromptIds(base, r)) : encoded;
    const { ids, mask } = padBatch(rows);
    const layer = this.h.cls_layer;
    const input = { inputIds: ids, attentionMask: mask, residuals: layer >= 0, withoutPatches: true };
    const out = base instanceof T5Model ? base.encode(input) : base.forward({ ...input, logits: 'none' });
    const hs = layer >= 0 ? out.residuals![layer + 1] : out.hidden; // residuals[0] is the embeddings
    const m = tensor(mask, { dtype: 'float32' }).unsqueeze(2);
    const mean = hs.mul(m).sum(1).div(m.sum(1));
    if (this.h.cls_pool === 'mean') return mean;
    const last = hs.index([tensor(rows.map((_, b) => b), { dtype: 'int64' }), tensor(rows.map((r) => r.length - 1), { dtype: 'int64' })]);
    return this.h.cls_pool === 'last' ? last : stackCat(mean, last);
  }

  /** Embeddings [N, D] of the texts (differentiable in the projection). */
  embed(texts: readonly string[]): Tensor {
    const p = (n: string) => this.params.get(CLS_PREFIX + n)!;
    let x = this.features(texts).matmul(p('w1')).add(p('b1'));
    if (this.h.cls_hidden > 0) x = x.relu().matmul(p('w2')).add(p('b2'));
    return this.h.bound_embeds ? x.tanh() : x;
  }

  /** log g = −scale · dist, [Nq, Nk] (EasyEdit's cls_logsims): queries × edit keys. */
  logSims(queries: Tensor, keys: Tensor): Tensor {
    const heads = this.h.dist_heads;
    const q = queries.view(queries.shape[0], 1, heads, -1);
    const k = keys.view(1, keys.shape[0], heads, -1);
    let d: Tensor;
    if (this.h.cos) {
      d = q.mul(k).sum(-1).div(q.norm(2, -1).mul(k.norm(2, -1)).clamp(1e-8)).rsub(1);
    } else {
      const sq = q.sub(k).square().sum(-1);
      d = this.h.square ? sq : sq.clamp(1e-12).sqrt();
    }
    return d.min(-1).values.mul(-this.h.scale);
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    for (const t of this.cache.values()) t.dispose();
    this.cache.clear();
  }
}

function stackRows(rows: Tensor[]): Tensor {
  return tidy(() => {
    const views = rows.map((r) => r.unsqueeze(0));
    return views.length === 1 ? views[0].clone() : catRows(views);
  });
}

const catRows = (xs: Tensor[]) => cat(xs, 0);
const stackCat = (a: Tensor, b: Tensor) => cat([a, b], 1);

/**
 * The counterfactual model: a second model (causal, or a T5 for a T5 base) loaded from `small_name` (default the base model's own directory),
 * every parameter trainable, or the base model itself with freeze_cntr.
 */
export function loadCounterfactual(base: EditableModel, h: SeracHparams, tokenizer: Tokenizer): { model: EditableModel; owned: boolean } {
  if (h.freeze_cntr) return { model: base, owned: false };
  const model = loadEditableModel(h.small_name || base.source.dir, { dtype: base.dtype, device: base.device });
  if (model.dims.vocabSize !== base.dims.vocabSize || model.dims.vocabSize < tokenizer.vocabSize) {
    model.dispose();
    throw new Error(`SERAC: small_name ${h.small_name}: the counterfactual model has ${model.dims.vocabSize} token ids, the base model ${base.dims.vocabSize}; it must share the base model's tokenizer`);
  }
  for (const t of model.params.values()) t.requiresGrad_(h.cntr_train_embeddings || !isVocabMatrix(model, t));
  return { model, owned: true };
}

/** The token embedding / LM head (a [vocab, d] matrix). */
function isVocabMatrix(model: EditableModel, t: Tensor): boolean {
  return t.ndim === 2 && t.shape[0] === model.dims.vocabSize;
}

/** The counterfactual model's trained parameters under their editor names (frozen embeddings stay the loaded ones). */
export function counterfactualParams(model: EditableModel, h: SeracHparams): Map<string, Tensor> {
  return new Map([...model.params].filter(([, t]) => h.cntr_train_embeddings || !isVocabMatrix(model, t)).map(([n, t]) => [CNTR_PREFIX + n, t]));
}

/** The counterfactual model's input for a query routed to an edit (EasyEdit's build_rep_input_tokens: `cin + sep + x`). */
export function counterfactualPrompt(edit: { prompt: string; targetNew: string }, query: string, sep: string): string {
  return `${edit.prompt}${edit.targetNew}${sep}${query}`;
}
