// MEMIT: Mass-Editing Memory in a Transformer (Meng et al., 2023), following kmeng01/memit memit_main.py.
//   1. z_i = h_i + δ_i: target residual stream at the last edited layer for each request (value.ts, block output)
//   2. for each layer l (in order), with keys K_l (compute_ks: template-group means of the down-projection input)
//      and residual R = Z − Z_current (recomputed after the earlier layers' updates):
//        ΔW_l = R/(L−i) · K_lᵀ (λ C_l + K_l K_lᵀ)⁻¹     solved in float64
//   The model is left unchanged; the deltas are returned as exact rank-≤n factors.
import { eye, linalg, noGrad, tidy, keep } from '../../tensor/index.js';
import type { CausalLM } from '../../models/index.js';
import { checkAgainstModel } from '../hparams.js';
import type { NormalizedRequest } from '../request.js';
import type { EditContext, EditMethod, Edit, WeightDelta } from '../types.js';
import { batchDiagnostics, computeKeys, computeTargets, currentZ, templatedSession, updateLayersInOrder } from './parts.js';
import { weightLayout } from '../delta.js';
import { recordKeys } from '../footprint.js';
import { MEMIT_SCHEMA, type MemitHparams } from './hparams.js';
import { requireCausal } from '../architecture.js';

export const memit: EditMethod<MemitHparams> = {
  name: 'MEMIT',
  schema: MEMIT_SCHEMA,
  batching: 'batch',

  check(anyModel, h, source) {
    const model = requireCausal(anyModel, 'MEMIT');
    if (h.layers.length === 0) throw new Error(`${source}: layers is empty`);
    checkAgainstModel(model, source, h.layers, { rewrite_module_tmp: h.rewrite_module_tmp, layer_module_tmp: h.layer_module_tmp });
  },

  open(anyModel, h, ctx) {
    const model = requireCausal(anyModel, 'MEMIT');
    return templatedSession(model, ctx, h, (requests, c, groups) => computeBatch(model, requests, h, { ...ctx, ...c }, groups));
  },
};

/** One MEMIT update for a batch of requests against the model's current weights (left unchanged). */
function computeBatch(model: CausalLM, requests: NormalizedRequest[], h: MemitHparams, ctx: EditContext, groups: string[][]): Edit {
  const started = performance.now();
  const layers = [...h.layers].sort((a, b) => a - b);
  const zLayer = layers[layers.length - 1];
  const zModule = h.layer_module_tmp.replace('{}', String(zLayer));
  // 1. target hidden states
  const { zs, perRequest: values } = computeTargets(model, requests, h, ctx, groups, zModule, 'MEMIT');
  // 2. spread the residual over the layers, applying each update before computing the next layer's residual
  const params = layers.map((l) => `${h.rewrite_module_tmp.replace('{}', String(l))}.weight`);
  const statsKeys: string[] = [];
  const edit: Edit = { deltas: [], statsKeys, diagnostics: [] };
  let deltas: WeightDelta[];
  try {
    deltas = updateLayersInOrder(model, params, (i) => {
      const module = h.rewrite_module_tmp.replace('{}', String(layers[i]));
      ctx.log?.(`MEMIT update of layer ${layers[i]} (${i + 1}/${layers.length}) for ${requests.length} edits`);
      return tidy(() => noGrad(() => {
        const K = computeKeys(model, ctx, requests, groups, module, h.fact_token).to('float64').t(); // [in, n]
        const R = zs.sub(currentZ(model, ctx, requests, zModule, h.fact_token)).to('float64').t(); // [d, n]
        let A = K.matmul(K.t());
        if (h.mom2_adjustment) {
          if (!ctx.stats) throw new Error('MEMIT needs second-moment statistics (pass a stats provider, or set mom2_adjustment: false)');
          const c = ctx.stats.get(model, module);
          statsKeys.push(c.key);
          A = A.add(c.mom2.to('float64').mul(h.mom2_update_weight));
        } else {
          A = A.add(eye(A.shape[0], A.shape[0], { dtype: 'float64' }).mul(h.mom2_update_weight));
        }
        const adjK = linalg.solve(A, K); // [in, n]
        const resid = R.div(layers.length - i); // [d, n]
        recordKeys(edit, module, K.t().to(model.dtype)); // the footprint (src/methods/footprint.ts)
        const d: WeightDelta = weightLayout(model, params[i]) === 'out_in'
          ? { param: params[i], left: resid.to(model.dtype), right: adjK.to(model.dtype) }
          : { param: params[i], left: adjK.to(model.dtype), right: resid.to(model.dtype) };
        return { delta: keep(d) };
      }));
    }).map((r) => r.delta);
  } finally {
    zs.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  return { ...edit, deltas, diagnostics: batchDiagnostics(requests, seconds, values) };
}


export type { MemitHparams } from './hparams.js';
