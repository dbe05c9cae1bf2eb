// EMMET: Equality-constrained Mass Model Editing in a Transformer (Gupta, Sajnani & Anumanchipalli, 2024, "A Unified
// Framework for Model Editing"), following EasyEdit easyeditor/models/emmet/emmet_main.py (= scalable-model-editing/
// unified-model-editing emmet/emmet_main.py):
//   1. z_i = h_i + δ_i: target residual stream at the last edited layer for each request (MEMIT's compute_z)
//   2. for each layer l (in order), with keys K_l (compute_ks: template-group means of the down-projection input),
//      residual R = (Z − Z_current)/(L − i) (recomputed after the earlier layers' updates) and C = w·C_l + μI:
//        ΔW_l = R (K_lᵀ C⁻¹ K_l + λI)⁻¹ K_lᵀ C⁻¹      solved in float64 (solve.ts)
//   The model is left unchanged; the deltas are returned as exact rank-≤n factors.
import { noGrad, tidy, keep, type Tensor } from '../../tensor/index.js';
import type { CausalLM } from '../../models/index.js';
import { memit } from '../memit/index.js';
import type { NormalizedRequest } from '../request.js';
import type { EditContext, EditMethod, Edit, WeightDelta } from '../types.js';
import { computeKeys, computeTargets, currentZ, templatedSession, updateLayersInOrder } from '../memit/parts.js';
import { InverseCovarianceCache } from '../rome/key.js';
import { weightLayout } from '../delta.js';
import { recordKeys } from '../footprint.js';
import { EMMET_SCHEMA, type EmmetHparams } from './hparams.js';
import { emmetDelta, emmetFactors, preservationInverse } from './solve.js';
import { requireCausal } from '../architecture.js';

export const emmet: EditMethod<EmmetHparams> = {
  name: 'EMMET',
  schema: EMMET_SCHEMA,
  batching: 'batch',

  check(anyModel, h, source) {
    const model = requireCausal(anyModel, 'EMMET');
    memit.check(model, h, source);
    if (!['subject_last', 'subject_first', 'subject_first_after_last', 'last'].includes(h.fact_token)) {
      throw new Error(`${source}: fact_token '${h.fact_token}' is not one of subject_last, subject_first, subject_first_after_last, last`);
    }
  },

  open(anyModel, h, ctx) {
    const model = requireCausal(anyModel, 'EMMET');
    const inverses = new InverseCovarianceCache();
    return templatedSession(model, ctx, h, (requests, c, groups) => computeBatch(model, requests, h, { ...ctx, ...c }, groups, inverses), () => inverses.dispose());
  },
};

interface LayerResult {
  delta: WeightDelta;
  statsKey?: string;
  layer: number;
  dNorm: number;
  dCondition: number;
  pseudoInverse: boolean;
  constraintGap: number[];
  vectors?: { key: number[]; residual: number[] }[];
  /** The keys written [n, in] (the footprint, src/methods/footprint.ts). */
  keys: Tensor;
  module: string;
}

/** One EMMET update for a batch of requests against the model's current weights (left unchanged). */
function computeBatch(model: CausalLM, requests: NormalizedRequest[], h: EmmetHparams, ctx: EditContext, groups: string[][], inverses: InverseCovarianceCache): Edit {
  if (requests.length === 0) throw new Error('EMMET: no requests to edit');
  const started = performance.now();
  const layers = [...h.layers].sort((a, b) => a - b);
  const zModule = h.layer_module_tmp.replace('{}', String(layers[layers.length - 1]));
  const { zs, perRequest: values } = computeTargets(model, requests, h, ctx, groups, zModule, 'EMMET');
  const params = layers.map((l) => `${h.rewrite_module_tmp.replace('{}', String(l))}.weight`);
  const results: LayerResult[] = updateLayersInOrder(model, params, (i) => {
    ctx.log?.(`EMMET update of layer ${layers[i]} (${i + 1}/${layers.length}) for ${requests.length} edits`);
    return layerUpdate(model, requests, h, ctx, groups, { layer: layers[i], param: params[i], remaining: layers.length - i, zs, zModule }, inverses);
  });
  const targets = ctx.recordVectors ? noGrad(() => requests.map((_, j) => zs.select(0, j).toFlatArray())) : undefined;
  zs.dispose();
  const seconds = (performance.now() - started) / 1000;
  const footprint: Edit = { deltas: [], statsKeys: [], diagnostics: [] };
  for (const r of results) { recordKeys(footprint, r.module, r.keys); r.keys.dispose(); }
  return {
    memory: footprint.memory,
    deltas: results.map((r) => r.delta),
    statsKeys: results.flatMap((r) => (r.statsKey ? [r.statsKey] : [])),
    diagnostics: requests.map((r, j) => ({
      caseId: r.caseId, prompt: r.text, targetNew: r.targetNew, seconds: seconds / requests.length,
      lossTrace: values[j].trace, norms: { zInit: values[j].initial, delta: values[j].delta },
      extra: {
        valueCached: values[j].cached,
        layers: results.map((x) => ({ layer: x.layer, constraintGap: x.constraintGap[j], dNorm: x.dNorm, dCondition: x.dCondition, pseudoInverse: x.pseudoInverse })),
        ...(targets ? { vectors: { target: targets[j], layers: results.map((x) => ({ layer: x.layer, ...x.vectors![j] })) } } : {}),
      },
    })),
  };
}

/** The update of one layer: keys, the share of the residual left for it, C⁻¹ and the closed form. */
function layerUpdate(model: CausalLM, requests: NormalizedRequest[], h: EmmetHparams, ctx: EditContext, groups: string[][],
  at: { layer: number; param: string; remaining: number; zs: Tensor; zModule: string }, inverses: InverseCovarianceCache): LayerResult {
  const module = h.rewrite_module_tmp.replace('{}', String(at.layer));
  let statsKey: string | undefined;
  return tidy(() => noGrad(() => {
    const K = computeKeys(model, ctx, requests, groups, module, h.fact_token).to('float64').t(); // [in, n]
    const R = at.zs.sub(currentZ(model, ctx, requests, at.zModule, h.fact_token)).to('float64').t().div(at.remaining); // [d, n]
    let stats: { key: string; mom2: Tensor } | undefined;
    if (h.mom2_adjustment) {
      if (!ctx.stats) throw new Error('EMMET needs second-moment statistics (pass a stats provider, or set mom2_adjustment: false)');
      const c = ctx.stats.get(model, module);
      statsKey = c.key;
      stats = c;
    }
    const Cinv = preservationInverse(inverses, stats, K.shape[0], h);
    const f = emmetFactors({ K, R, Cinv, emmetLambda: h.emmet_lambda });
    if (f.dCondition > 1e10) {
      ctx.log?.(`EMMET layer ${at.layer}: K_Eᵀ C⁻¹ K_E + λI is ill-conditioned (condition ${f.dCondition.toExponential(1)}): ` +
        'keys of the batch are (nearly) linearly dependent, e.g. several facts about one subject; emmet_lambda > 0 regularises it');
    }
    const delta = keep(emmetDelta(at.param, weightLayout(model, at.param), R, f.adjK, model.dtype));
    const vectors = ctx.recordVectors
      ? requests.map((_, j) => ({ key: K.select(1, j).toFlatArray(), residual: R.select(1, j).toFlatArray() }))
      : undefined;
    return { delta, keys: keep(K.t().to(model.dtype)), module, statsKey, layer: at.layer, dNorm: f.dNorm, dCondition: f.dCondition, pseudoInverse: f.pseudoInverse, constraintGap: f.constraintGap, vectors };
  }));
}

export type { EmmetHparams } from './hparams.js';
export { EMMET_SCHEMA } from './hparams.js';
export { emmetDelta, emmetFactors, preservationInverse } from './solve.js';
