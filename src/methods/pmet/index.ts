// PMET: Precise Model Editing in a Transformer (Li et al., AAAI 2024), following EasyEdit easyeditor/models/pmet
// (= xpq-tech/PMET edit/pmet):
//   1. compute_zs: for each request, δ_attn and δ_mlp added to the outputs of the z layer's attention and FFN
//      (z = the last edited layer), optimised together (rome/value.ts with two edit points); z_i = h_i^mlp + δ_i^mlp
//   2. for each layer l (in order, i = 0..L−1), keys K_l (compute_ks: template-group means of the down-projection
//      input) and the FFN residual R = Z − H^mlp_current at the z layer (recomputed after the earlier layers'
//      updates):   ΔW_l = R/√(L−i) · K_lᵀ (λ C_l + K_l K_lᵀ)⁻¹     solved in float64
//   Only the FFN down-projections are written. The model is left unchanged; the deltas are exact rank-≤n factors.
import type { CausalLM } from '../../models/index.js';
import { checkAgainstModel } from '../hparams.js';
import type { NormalizedRequest } from '../request.js';
import type { EditContext, EditMethod, Edit, WeightDelta } from '../types.js';
import { computeKeys, currentZ, templatedSession, updateLayersInOrder } from '../memit/parts.js';
import { noGrad, tidy } from '../../tensor/index.js';
import { recordKeys } from '../footprint.js';
import { computeJointTargets, layerUpdate, residualDivisor } from './parts.js';
import { PMET_SCHEMA, type PmetHparams } from './hparams.js';
import { requireCausal } from '../architecture.js';

export const pmet: EditMethod<PmetHparams> = {
  name: 'PMET',
  schema: PMET_SCHEMA,
  batching: 'batch',

  check(anyModel, h, source) {
    const model = requireCausal(anyModel, 'PMET');
    const rewrite = h.rewrite_module_tmps ?? [h.rewrite_module_tmp];
    if (rewrite.length !== 1 || rewrite[0] !== h.rewrite_module_tmp) {
      throw new Error(`${source}: rewrite_module_tmps ${JSON.stringify(h.rewrite_module_tmps)}: PMET here updates only the FFN ` +
        `down-projection, so it must be [rewrite_module_tmp] ('${h.rewrite_module_tmp}'), as in every published PMET config`);
    }
    if (h.mlp_module_tmp === h.attn_module_tmp) throw new Error(`${source}: mlp_module_tmp and attn_module_tmp are the same module '${h.mlp_module_tmp}'`);
    checkAgainstModel(model, source, h.layers, {
      rewrite_module_tmp: h.rewrite_module_tmp, layer_module_tmp: h.layer_module_tmp, mlp_module_tmp: h.mlp_module_tmp, attn_module_tmp: h.attn_module_tmp,
    });
    if (new Set(h.layers).size !== h.layers.length) throw new Error(`${source}: layers lists a layer twice: ${JSON.stringify(h.layers)}`);
  },

  open(anyModel, h, ctx) {
    const model = requireCausal(anyModel, 'PMET');
    return templatedSession(model, ctx, h, (requests, c, groups) => computeBatch(model, requests, h, { ...ctx, ...c }, groups));
  },
};

/** One PMET update for a batch of requests against the model's current weights (left unchanged). */
function computeBatch(model: CausalLM, requests: NormalizedRequest[], h: PmetHparams, ctx: EditContext, groups: string[][]): Edit {
  const started = performance.now();
  const layers = [...h.layers].sort((a, b) => a - b);
  const zLayer = String(layers[layers.length - 1]);
  const mlpZ = h.mlp_module_tmp.replace('{}', zLayer);
  // 1. the FFN targets, optimised jointly with the attention output
  const { zs, perRequest } = computeJointTargets(model, requests, h, ctx, groups, h.attn_module_tmp.replace('{}', zLayer), mlpZ);
  // 2. spread the FFN residual over the layers, applying each update before computing the next layer's residual
  const params = layers.map((l) => `${h.rewrite_module_tmp.replace('{}', String(l))}.weight`);
  const statsKeys: string[] = [];
  const footprint: Edit = { deltas: [], statsKeys: [], diagnostics: [] };
  let deltas: WeightDelta[];
  try {
    deltas = updateLayersInOrder(model, params, (i) => {
      const module = h.rewrite_module_tmp.replace('{}', String(layers[i]));
      ctx.log?.(`PMET update of layer ${layers[i]} (${i + 1}/${layers.length}) for ${requests.length} edits`);
      return { delta: tidy(() => noGrad(() => {
        const K = computeKeys(model, ctx, requests, groups, module, h.fact_token); // [n, in]
        recordKeys(footprint, module, K);
        const R = zs.sub(currentZ(model, ctx, requests, mlpZ, h.fact_token)); // [n, d]
        let mom2 = null;
        if (h.mom2_adjustment) {
          if (!ctx.stats) throw new Error('PMET needs second-moment statistics (pass a stats provider, or set mom2_adjustment: false)');
          const c = ctx.stats.get(model, module);
          statsKeys.push(c.key);
          mom2 = c.mom2;
        }
        return layerUpdate(model, params[i], K, R, mom2, h.mom2_update_weight, residualDivisor(i, layers.length));
      })) };
    }).map((r) => r.delta);
  } finally {
    zs.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    deltas,
    statsKeys,
    memory: footprint.memory,
    diagnostics: requests.map((r, i) => ({
      caseId: r.caseId, prompt: r.text, targetNew: r.targetNew, seconds: seconds / requests.length,
      lossTrace: perRequest[i].trace, norms: perRequest[i].norms, extra: { valueCached: perRequest[i].cached, layers },
    })),
  };
}

export type { PmetHparams } from './hparams.js';
export { PMET_SCHEMA } from './hparams.js';
