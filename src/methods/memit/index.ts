// MEMIT: Mass-Editing Memory in a Transformer (Meng et al., 2023), following kmeng01/memit memit_main.py.
//   1. z_i = h_i + δ_i: target residual stream at the last edited layer for each request (value.ts, block output)
//   2. for each layer l (in order), with keys K_l (compute_ks: template-group means of the down-projection input)
//      and residual R = Z − Z_current (recomputed after the earlier layers' updates):
//        ΔW_l = R/(L−i) · K_lᵀ (λ C_l + K_l K_lᵀ)⁻¹     solved in float64
//   The model is left unchanged; the deltas are returned as exact rank-≤n factors.
import { eye, linalg, noGrad, stack, tidy, keep, type Tensor } from '../../tensor/index.js';
import type { CausalLM } from '../../models/index.js';
import { checkAgainstModel } from '../hparams.js';
import type { NormalizedRequest } from '../request.js';
import type { EditContext, EditMethod, Edit, SessionContext, WeightDelta } from '../types.js';
import { representationsAt } from '../locate.js';
import { subjectPositions } from '../rome/key.js';
import { optimizeValue } from '../rome/value.js';
import { checkTemplates, sampleContextTemplates, sampleMemitTemplates } from '../rome/templates.js';
import { applyDelta, weightLayout } from '../delta.js';
import { MEMIT_SCHEMA, type MemitHparams } from './hparams.js';

/** MEMIT's context template groups: the hparams' own, or sampled from the (unedited) model with the session's seed. */
function templateGroups(model: CausalLM, ctx: SessionContext, h: MemitHparams): string[][] {
  if (h.context_templates) return [checkTemplates(h.context_templates, 'hparams')];
  const lengths = h.context_template_length_params;
  return lengths ? [sampleContextTemplates(model, ctx.tokenizer, lengths, ctx.seed)] : sampleMemitTemplates(model, ctx.tokenizer, ctx.seed);
}

/** One key per request: mean over each template group of the module input at the subject, then mean of groups. */
function computeKeys(model: CausalLM, ctx: EditContext, requests: NormalizedRequest[], groups: string[][], module: string, h: MemitHparams): Tensor {
  return tidy(() => {
    const flat = groups.flat();
    const items = requests.flatMap((r) => subjectPositions(ctx.tokenizer, r, flat, h.fact_token));
    const keys = representationsAt(model, module, items, { input: true }).input!; // [n * |flat|, in]
    const perRequest = keys.view(requests.length, flat.length, keys.shape[1]);
    let offset = 0;
    const groupMeans = groups.map((g) => {
      const m = perRequest.narrow(1, offset, g.length).mean(1);
      offset += g.length;
      return m;
    });
    return stack(groupMeans, 0).mean(0); // [n, in]
  });
}

/** The z-layer block output at the subject of each bare prompt: [n, d]. */
function currentZ(model: CausalLM, ctx: EditContext, requests: NormalizedRequest[], zModule: string, h: MemitHparams): Tensor {
  const items = requests.flatMap((r) => subjectPositions(ctx.tokenizer, r, ['{}'], h.fact_token));
  return representationsAt(model, zModule, items, { output: true }).output!;
}

export const memit: EditMethod<MemitHparams> = {
  name: 'MEMIT',
  schema: MEMIT_SCHEMA,
  batching: 'batch',

  check(model, h, source) {
    if (h.layers.length === 0) throw new Error(`${source}: layers is empty`);
    checkAgainstModel(model, source, h.layers, { rewrite_module_tmp: h.rewrite_module_tmp, layer_module_tmp: h.layer_module_tmp });
  },

  open(model, h, ctx) {
    let groups: string[][] | undefined;
    const templates = () => (groups ??= templateGroups(model, ctx, h));
    return {
      prepare: () => void templates(),
      compute: (requests, c) => computeBatch(model, requests, h, { ...ctx, ...c }, templates()),
      dispose: () => undefined,
    };
  },
};

/** One MEMIT update for a batch of requests against the model's current weights (left unchanged). */
function computeBatch(model: CausalLM, requests: NormalizedRequest[], h: MemitHparams, ctx: EditContext, groups: string[][]): Edit {
  const started = performance.now();
  const layers = [...h.layers].sort((a, b) => a - b);
  const zLayer = layers[layers.length - 1];
  const zModule = h.layer_module_tmp.replace('{}', String(zLayer));
  // 1. target hidden states
  const values = requests.map((r) => tidy(() => {
    const v = optimizeValue(model, ctx.tokenizer, r, {
      editModule: zModule, templates: groups.flat(), factToken: h.fact_token, numSteps: h.v_num_grad_steps, lr: h.v_lr,
      weightDecay: h.v_weight_decay, clampNormFactor: h.clamp_norm_factor, klFactor: h.kl_factor, lossLayer: h.v_loss_layer,
      cache: ctx.valueCache,
    });
    ctx.log?.(`MEMIT z ${r.index + 1}/${requests.length}: loss ${v.trace[0].loss.toFixed(3)} → ${v.trace[v.trace.length - 1].loss.toFixed(3)}${v.cached ? ' (cached)' : ''}`);
    return { z: keep(v.target), trace: v.trace, initial: v.initial.norm().item(), delta: v.delta.norm().item(), cached: v.cached === true };
  }));
  const zs = keep(stack(values.map((v) => v.z), 0)); // [n, d]
  values.forEach((v) => v.z.dispose());
  // 2. spread the residual over the layers, applying each update before computing the next layer's residual
  const params = layers.map((l) => `${h.rewrite_module_tmp.replace('{}', String(l))}.weight`);
  const snapshot = model.snapshot(params);
  const deltas: WeightDelta[] = [];
  const statsKeys: string[] = [];
  try {
    layers.forEach((layer, i) => {
      const module = h.rewrite_module_tmp.replace('{}', String(layer));
      ctx.log?.(`MEMIT update of layer ${layer} (${i + 1}/${layers.length}) for ${requests.length} edits`);
      const delta = tidy(() => noGrad(() => {
        const K = computeKeys(model, ctx, requests, groups, module, h).to('float64').t(); // [in, n]
        const R = zs.sub(currentZ(model, ctx, requests, zModule, h)).to('float64').t(); // [d, n]
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
        const layout = weightLayout(model, params[i]);
        const d: WeightDelta = layout === 'out_in'
          ? { param: params[i], left: resid.to(model.dtype), right: adjK.to(model.dtype) }
          : { param: params[i], left: adjK.to(model.dtype), right: resid.to(model.dtype) };
        return keep(d);
      }));
      applyDelta(model, delta);
      deltas.push(delta);
    });
  } finally {
    model.restore(snapshot, { dispose: true });
    zs.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    deltas,
    statsKeys,
    diagnostics: requests.map((r, i) => ({
      caseId: r.caseId, prompt: r.text, targetNew: r.targetNew, seconds: seconds / requests.length,
      lossTrace: values[i].trace, norms: { zInit: values[i].initial, delta: values[i].delta }, extra: { valueCached: values[i].cached },
    })),
  };
}


export type { MemitHparams } from './hparams.js';
