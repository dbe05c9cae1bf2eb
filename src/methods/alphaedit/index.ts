// AlphaEdit: null-space constrained knowledge editing (Fang et al., ICLR 2025), following jianghoucheng/AlphaEdit
// AlphaEdit_main.py (and EasyEdit's port). MEMIT's targets and keys, and for each layer l (in order, each update
// applied before the next layer's residual is computed):
//   R = (Z − Z_current) / (L − i)                                      MEMIT's spread residual
//   (P (K Kᵀ + K_p K_pᵀ) + L2 · I) Δ = P K Rᵀ                          Δ = ΔWᵀ in the [in, out] layout, float64
// where P projects onto the null space of the preserved keys (projection.ts) and K_p are the keys of this session's
// earlier edits, which the reference accumulates in a global `cache_c` and we read from the earlier edits' memory
// (Edit.memory, handed back in ComputeContext.previous): rollback and resumed runs keep it right with nothing else.
// Δ lies in the range of P (L2 Δ = P (K Rᵀ − (K Kᵀ + K_p K_pᵀ) Δ)), so Δᵀ k₀ = (PΔ)ᵀ k₀ ≈ 0 for preserved keys k₀.
// Δ = solve(A, P K) Rᵀ: returned as exact rank-≤n factors.
import { cat, eye, linalg, noGrad, tidy, keep, type Tensor } from '../../tensor/index.js';
import type { CausalLM } from '../../models/index.js';
import { checkAgainstModel } from '../hparams.js';
import type { NormalizedRequest } from '../request.js';
import type { ComputeContext, Edit, EditMethod, SessionContext, WeightDelta } from '../types.js';
import { batchDiagnostics, computeKeys, computeTargets, currentZ, templatedSession, updateLayersInOrder } from '../memit/parts.js';
import { weightLayout } from '../delta.js';
import { ALPHAEDIT_SCHEMA, type AlphaEditHparams } from './hparams.js';
import { nullSpaceProjection, type Projection } from './projection.js';

import { keysMemoryName } from '../footprint.js';
import { requireCausal } from '../architecture.js';

export { keysMemoryName };

/** What an AlphaEdit session keeps across edits: the template groups and P per statistics key (not the keys). */
interface AlphaEditState {
  groups: string[][];
  projections: Map<string, Projection>;
}

export const alphaedit: EditMethod<AlphaEditHparams> = {
  name: 'AlphaEdit',
  schema: ALPHAEDIT_SCHEMA,
  batching: 'batch',

  check(anyModel, h, source) {
    const model = requireCausal(anyModel, 'AlphaEdit');
    checkAgainstModel(model, source, h.layers, { rewrite_module_tmp: h.rewrite_module_tmp, layer_module_tmp: h.layer_module_tmp });
    if (!h.mom2_adjustment) throw new Error(`${source}: mom2_adjustment: false — AlphaEdit's projection is built from the second-moment statistics`);
  },

  open(anyModel, h, ctx) {
    const model = requireCausal(anyModel, 'AlphaEdit');
    const projections = new Map<string, Projection>();
    return templatedSession(model, ctx, h, (requests, c, groups) => computeBatch(model, requests, h, ctx, c, { groups, projections }), () => {
      for (const p of projections.values()) p.P.dispose();
      projections.clear();
    });
  },
};

function projectionFor(model: CausalLM, module: string, h: AlphaEditHparams, ctx: SessionContext, state: AlphaEditState): { p: Projection; key: string } {
  if (!ctx.stats) throw new Error('AlphaEdit needs second-moment statistics for its null-space projection (pass a stats provider)');
  const c = ctx.stats.get(model, module);
  let p = state.projections.get(c.key);
  if (!p) {
    p = nullSpaceProjection(c.mom2, h.nullspace_threshold, `statistics ${c.key} of ${module}`);
    ctx.log?.(`AlphaEdit: null space of ${module}: ${p.nullity} of ${c.mom2.shape[0]} directions (eigenvalues < ${h.nullspace_threshold})`);
    state.projections.set(c.key, p);
  }
  return { p, key: c.key };
}

/** K_p K_pᵀ over this session's earlier edits of `module` (float64), or undefined before the first. */
function previousKeyMoment(previous: readonly Edit[] | undefined, module: string): { moment?: Tensor; count: number } {
  const parts = (previous ?? []).flatMap((e) => (e.memory?.[keysMemoryName(module)] ? [e.memory[keysMemoryName(module)]] : []));
  if (parts.length === 0) return { count: 0 };
  const Kp = cat(parts, 1).to('float64');
  return { moment: Kp.matmul(Kp.t()), count: Kp.shape[1] };
}

/** One AlphaEdit update for a batch of requests against the model's current weights (left unchanged). */
function computeBatch(model: CausalLM, requests: NormalizedRequest[], h: AlphaEditHparams, session: SessionContext, c: ComputeContext, state: AlphaEditState): Edit {
  const started = performance.now();
  const ctx = { ...session, ...c };
  const { groups } = state;
  const layers = [...h.layers].sort((a, b) => a - b);
  const zModule = h.layer_module_tmp.replace('{}', String(layers[layers.length - 1]));
  const { zs, perRequest } = computeTargets(model, requests, h, ctx, groups, zModule, 'AlphaEdit');
  const modules = layers.map((l) => h.rewrite_module_tmp.replace('{}', String(l)));
  const params = modules.map((m) => `${m}.weight`);
  const statsKeys: string[] = [];
  const memory: Record<string, Tensor> = {};
  let results;
  try {
    results = updateLayersInOrder(model, params, (i) => {
      const module = modules[i];
      ctx.log?.(`AlphaEdit update of ${module} (${i + 1}/${layers.length}) for ${requests.length} edits`);
      const { p, key } = projectionFor(model, module, h, session, state);
      statsKeys.push(key);
      return tidy(() => noGrad(() => {
        const K = computeKeys(model, ctx, requests, groups, module, h.fact_token).to('float64').t(); // [in, n]
        const R = zs.sub(currentZ(model, ctx, requests, zModule, h.fact_token)).to('float64').t(); // [d, n]
        const resid = R.div(layers.length - i);
        const P = p.P.to('float64');
        const prev = previousKeyMoment(c.previous, module);
        const KK = prev.moment ? K.matmul(K.t()).add(prev.moment) : K.matmul(K.t());
        const A = P.matmul(KK).add(eye(K.shape[0], K.shape[0], { dtype: 'float64' }).mul(h.L2));
        const left = linalg.solve(A, P.matmul(K)); // [in, n]: Δ = left · residᵀ
        const d: WeightDelta = weightLayout(model, params[i]) === 'out_in'
          ? { param: params[i], left: resid.to(model.dtype), right: left.to(model.dtype) }
          : { param: params[i], left: left.to(model.dtype), right: resid.to(model.dtype) };
        return {
          delta: keep(d),
          info: { layer: layers[i], nullity: p.nullity, previousKeys: prev.count, residual: R.norm().item(), keyInNullSpace: P.matmul(K).norm().item() / K.norm().item() },
        };
      }));
    }, () => {
      // the keys this edit wrote, read with the updated weights (the reference adds them to cache_c after its loop)
      for (const module of modules) {
        memory[keysMemoryName(module)] = keep(tidy(() => computeKeys(model, ctx, requests, groups, module, h.fact_token).t().contiguous()));
      }
    });
  } finally {
    zs.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    deltas: results.map((r) => r.delta),
    statsKeys,
    memory,
    diagnostics: batchDiagnostics(requests, seconds, perRequest, () => ({ layers: results.map((r) => r.info) })),
  };
}

export type { AlphaEditHparams } from './hparams.js';
