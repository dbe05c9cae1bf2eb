// MEMIT's building blocks, shared by the methods that solve MEMIT-style least-squares updates over several layers
// (MEMIT, EMMET, AlphaEdit, PMET): the template groups, the keys K_l (compute_ks), the current z-layer states and the
// optimised targets z_i (compute_z).
import { stack, tidy, keep, type Tensor } from '../../tensor/index.js';
import type { CausalLM } from '../../models/index.js';
import type { NormalizedRequest } from '../request.js';
import type { ComputeContext, Edit, EditContext, EditDiagnostics, LossStep, MethodSession, SessionContext, WeightDelta } from '../types.js';
import { applyDelta } from '../delta.js';
import { representationsAt, type FactToken } from '../locate.js';
import { subjectPositions } from '../rome/key.js';
import { optimizeValue } from '../rome/value.js';
import { checkTemplates, sampleContextTemplates, sampleMemitTemplates } from '../rome/templates.js';
import type { ValueHparams } from '../rome/hparams.js';

export interface TemplateHparams {
  context_templates: string[] | null;
  context_template_length_params: number[][] | null;
}

/** MEMIT's context template groups: the hparams' own, or sampled from the (unedited) model with the session's seed. */
export function templateGroups(model: CausalLM, ctx: SessionContext, h: TemplateHparams): string[][] {
  if (h.context_templates) return [checkTemplates(h.context_templates, 'hparams')];
  const lengths = h.context_template_length_params;
  return lengths ? [sampleContextTemplates(model, ctx.tokenizer, lengths, ctx.seed)] : sampleMemitTemplates(model, ctx.tokenizer, ctx.seed);
}

/** One key per request: mean over each template group of the module input at the subject, then mean of groups: [n, in]. */
export function computeKeys(model: CausalLM, ctx: SessionContext, requests: NormalizedRequest[], groups: string[][], module: string, factToken: FactToken): Tensor {
  return tidy(() => {
    const flat = groups.flat();
    const items = requests.flatMap((r) => subjectPositions(ctx.tokenizer, r, flat, factToken));
    const keys = representationsAt(model, module, items, { input: true }).input!; // [n * |flat|, in]
    const perRequest = keys.view(requests.length, flat.length, keys.shape[1]);
    let offset = 0;
    const groupMeans = groups.map((g) => {
      const m = perRequest.narrow(1, offset, g.length).mean(1);
      offset += g.length;
      return m;
    });
    return stack(groupMeans, 0).mean(0);
  });
}

/** The z-layer block output at the subject of each bare prompt: [n, d]. */
export function currentZ(model: CausalLM, ctx: SessionContext, requests: NormalizedRequest[], zModule: string, factToken: FactToken): Tensor {
  const items = requests.flatMap((r) => subjectPositions(ctx.tokenizer, r, ['{}'], factToken));
  return representationsAt(model, zModule, items, { output: true }).output!;
}

export interface Targets {
  /** z_i = h_i + δ_i, stacked: [n, d] (kept; the caller disposes it). */
  zs: Tensor;
  perRequest: { trace: LossStep[]; initial: number; delta: number; cached: boolean }[];
}

/** compute_z for every request: the target residual at `zModule`'s output (value.ts), logged as `label`. */
export function computeTargets(model: CausalLM, requests: NormalizedRequest[], h: ValueHparams & { fact_token: FactToken }, ctx: EditContext, groups: string[][], zModule: string, label: string): Targets {
  const values = requests.map((r) => tidy(() => {
    const v = optimizeValue(model, ctx.tokenizer, r, {
      editModule: zModule, templates: groups.flat(), factToken: h.fact_token, numSteps: h.v_num_grad_steps, lr: h.v_lr,
      weightDecay: h.v_weight_decay, clampNormFactor: h.clamp_norm_factor, klFactor: h.kl_factor, lossLayer: h.v_loss_layer,
      cache: ctx.valueCache,
    });
    ctx.log?.(`${label} z ${r.index + 1}/${requests.length}: loss ${v.trace[0].loss.toFixed(3)} → ${v.trace[v.trace.length - 1].loss.toFixed(3)}${v.cached ? ' (cached)' : ''}`);
    return { z: keep(v.target), trace: v.trace, initial: v.initial.norm().item(), delta: v.delta.norm().item(), cached: v.cached === true };
  }));
  const zs = keep(stack(values.map((v) => v.z), 0));
  values.forEach((v) => v.z.dispose());
  return { zs, perRequest: values.map(({ trace, initial, delta, cached }) => ({ trace, initial, delta, cached })) };
}

/**
 * A session of a MEMIT-style method: the template groups, sampled from the unedited model on first use (prepare()
 * samples them before a resumed run adopts saved weights), and the method's own state freed with it.
 */
export function templatedSession(model: CausalLM, ctx: SessionContext, h: TemplateHparams,
  compute: (requests: NormalizedRequest[], c: ComputeContext, groups: string[][]) => Edit, dispose: () => void = () => undefined): MethodSession {
  let groups: string[][] | undefined;
  const templates = () => (groups ??= templateGroups(model, ctx, h));
  return { prepare: () => void templates(), compute: (requests, c) => compute(requests, c, templates()), dispose };
}

/**
 * Computes the layers' updates in order, applying each before the next is computed (a later layer's residual reads
 * the earlier updates, as MEMIT), runs `withAllApplied` with every update in place, then restores the weights.
 */
export function updateLayersInOrder<T extends { delta: WeightDelta }>(model: CausalLM, params: string[], update: (i: number) => T, withAllApplied?: () => void): T[] {
  const snapshot = model.snapshot(params);
  const out: T[] = [];
  try {
    params.forEach((_, i) => {
      const r = update(i);
      applyDelta(model, r.delta);
      out.push(r);
    });
    withAllApplied?.();
  } finally {
    model.restore(snapshot, { dispose: true });
  }
  return out;
}

/** Per-request diagnostics of a batch: its time shared evenly, the z optimisation's trace and norms. */
export function batchDiagnostics(requests: NormalizedRequest[], seconds: number, perRequest: Targets['perRequest'], extra: (j: number) => Record<string, unknown> = () => ({})): EditDiagnostics[] {
  return requests.map((r, j) => ({
    caseId: r.caseId, prompt: r.text, targetNew: r.targetNew, seconds: seconds / requests.length,
    lossTrace: perRequest[j].trace, norms: { zInit: perRequest[j].initial, delta: perRequest[j].delta },
    extra: { valueCached: perRequest[j].cached, ...extra(j) },
  }));
}
