// ROME: Rank-One Model Editing (Meng et al., 2022), faithful to kmeng01/rome; r-ROME behind
// `enable_random_prefix_keys`. key.ts → u, value.ts → v*, update.ts → ΔW.
import { noGrad, tidy, keep } from '../../tensor/index.js';
import type { CausalLM } from '../../models/index.js';
import { checkAgainstModel } from '../hparams.js';
import type { NormalizedRequest } from '../request.js';
import type { EditContext, EditMethod, Edit, SessionContext } from '../types.js';
import { ROME_SCHEMA, type RomeHparams } from './hparams.js';
import { InverseCovarianceCache, keysAtSubject, leftVector, subjectPositions } from './key.js';
import { optimizeValue } from './value.js';
import { rankOneDelta } from './update.js';
import { checkTemplates, sampleContextTemplates } from './templates.js';
import { representationsAt } from '../locate.js';
import { weightLayout } from '../delta.js';
import { recordKeys } from '../footprint.js';
import { requireCausal } from '../architecture.js';

/** ROME's context templates: the hparams' own, or sampled from the (unedited) model with the session's seed. */
export function contextTemplates(model: CausalLM, ctx: SessionContext, h: RomeHparams): string[] {
  if (h.context_templates) return checkTemplates(h.context_templates, 'hparams');
  return sampleContextTemplates(model, ctx.tokenizer, h.context_template_length_params, ctx.seed);
}

/** What a ROME session keeps across edits: the templates (sampled once, before any edit) and C⁻¹ per statistics key. */
interface RomeState {
  templates: () => string[];
  inverses: InverseCovarianceCache;
}

export const rome: EditMethod<RomeHparams> = {
  name: 'ROME',
  schema: ROME_SCHEMA,
  batching: 'sequential',

  check(anyModel, h, source) {
    const model = requireCausal(anyModel, 'ROME');
    checkAgainstModel(model, source, h.layers, { rewrite_module_tmp: h.rewrite_module_tmp, mlp_module_tmp: h.mlp_module_tmp, layer_module_tmp: h.layer_module_tmp });
    if (!['subject_last', 'subject_first', 'subject_first_after_last', 'last'].includes(h.fact_token)) {
      throw new Error(`${source}: fact_token '${h.fact_token}' is not one of subject_last, subject_first, subject_first_after_last, last`);
    }
  },

  open(anyModel, h, ctx) {
    const model = requireCausal(anyModel, 'ROME');
    let templates: string[] | undefined;
    const state: RomeState = { templates: () => (templates ??= contextTemplates(model, ctx, h)), inverses: new InverseCovarianceCache() };
    return {
      prepare: () => void state.templates(),
      compute: (requests, c) => {
        const result: Edit = { deltas: [], diagnostics: [], statsKeys: [] };
        for (const request of requests) computeOne(model, request, h, { ...ctx, ...c }, state, result);
        return result;
      },
      dispose: () => state.inverses.dispose(),
    };
  },
};

function computeOne(model: CausalLM, request: NormalizedRequest, h: RomeHparams, ctx: EditContext, state: RomeState, result: Edit): void {
  const started = performance.now();
  const tok = ctx.tokenizer;
  const templates = state.templates();
  for (const layer of [...h.layers].sort((a, b) => a - b)) {
    const rewriteModule = h.rewrite_module_tmp.replace('{}', String(layer));
    const param = `${rewriteModule}.weight`;
    let statsKey: string | null = null;
    const out = tidy(() => {
      // key (compute_u): template-averaged input of the rewrite module at the subject
      const { keys, outputs } = keysAtSubject(model, tok, request, templates, rewriteModule, h.fact_token, h.enable_random_prefix_keys);
      const kStar = keys.mean(0);
      let inverse;
      if (h.mom2_adjustment) {
        if (!ctx.stats) throw new Error('ROME with mom2_adjustment needs second-moment statistics (pass a stats provider, or set mom2_adjustment: false)');
        const c = ctx.stats.get(model, rewriteModule);
        statsKey = c.key;
        inverse = state.inverses.get(c.key, c.mom2);
      }
      const { u, unnormalizedNorm } = leftVector(kStar, inverse);
      // value (compute_v)
      const v = optimizeValue(model, tok, request, {
        editModule: h.mlp_module_tmp.replace('{}', String(layer)),
        templates, factToken: h.fact_token, numSteps: h.v_num_grad_steps, lr: h.v_lr,
        weightDecay: h.v_weight_decay, clampNormFactor: h.clamp_norm_factor, klFactor: h.kl_factor, lossLayer: h.v_loss_layer,
        cache: ctx.valueCache,
      });
      // the (key, output) pair the update is solved for
      let key;
      let currentOutput;
      let target;
      if (h.enable_random_prefix_keys) {
        key = kStar;
        currentOutput = outputs!.mean(0);
        target = v.target;
      } else {
        const bare = subjectPositions(tok, request, ['{}'], h.fact_token);
        const r = representationsAt(model, rewriteModule, bare, { input: true, output: true });
        key = r.input!.select(0, 0);
        currentOutput = r.output!.select(0, 0);
        target = v.target;
      }
      const layout = weightLayout(model, param);
      const { delta, right, divisor } = rankOneDelta(param, layout, { u, key, currentOutput, target });
      const norms = noGrad(() => ({
        kStar: kStar.norm().item(), invCovKStar: unnormalizedNorm, kPrompt: key.norm().item(), u: u.norm().item(), vStar: target.norm().item(),
        vInit: v.initial.norm().item(), vPrompt: currentOutput.norm().item(), deltaV: target.sub(currentOutput).norm().item(), rightVector: right.norm().item(),
        divisor, deltaW: u.norm().item() * right.norm().item(),
      }));
      const vectors = ctx.recordVectors
        ? { kStar: kStar.toFlatArray(), kPrompt: key.toFlatArray(), u: u.toFlatArray(), vPrompt: currentOutput.toFlatArray(), vStar: target.toFlatArray(), right: right.toFlatArray() }
        : undefined;
      recordKeys(result, rewriteModule, kStar.unsqueeze(0));
      return { delta: keep(delta), trace: v.trace, lookup: v.lookupIndices, norms, vectors, cached: v.cached === true };
    });
    result.deltas.push(out.delta);
    if (statsKey) result.statsKeys.push(statsKey);
    result.diagnostics.push({
      caseId: request.caseId, prompt: request.text, targetNew: request.targetNew,
      seconds: (performance.now() - started) / 1000, lossTrace: out.trace, norms: out.norms,
      extra: { layer, lookupIndices: out.lookup, templates: templates.length, valueCached: out.cached, ...(out.vectors ? { vectors: out.vectors } : {}) },
    });
  }
}

export type { RomeHparams } from './hparams.js';
export { ROME_SCHEMA } from './hparams.js';
