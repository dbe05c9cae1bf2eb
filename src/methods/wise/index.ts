// WISE: Rethinking the Knowledge Memory for Lifelong Model Editing (Wang et al., NeurIPS 2024; EasyEdit
// easyeditor/models/wise). A side copy of one FFN matrix is trained by the edits, in knowledge shards on random
// masks merged TIES-style; an activation router decides per input whether the side memory's output replaces the
// main one. The model's weights never change. docs/wise.md has the algorithm, the hparams, where lmedit differs from
// EasyEdit, rollback and the checks.
//
// One session owns one adapter (kind 'WISE') at the hparams' layer: it adopts the one a loaded model already has
// installed there, or starts an empty one (the identity). Each compute trains the request into it, records the state
// before the edit for rollback, and returns it as the edit's shared patch.
import type { CausalLM, ModulePatch } from '../../models/index.js';
import { noGrad, tidy, type Tensor } from '../../tensor/index.js';
import type { EditMethod, MethodSession, SessionContext } from '../types.js';
import { SharedPatch } from '../shared-patch.js';
import { recordKeys } from '../footprint.js';
import { WiseAdapter, type AdapterConfig, type MainWeights } from './adapter.js';
import { modelActivation } from '../activation.js';
import { wiseEdit } from './edit.js';
import { checkWiseHparams, locFilePath, wiseModulePath, WISE_SCHEMA, type WiseHparams } from './hparams.js';
import { locCandidates, locPromptFor, wiseContextTemplates } from './prompts.js';
import { requireCausal } from '../architecture.js';

export type { WiseHparams } from './hparams.js';
export { WiseAdapter } from './adapter.js';

/** The model's MLP activation (EasyEdit: ACT2FN[config.hidden_act or config.activation_function]). */
export const wiseActivation = (model: CausalLM) => modelActivation(model, 'WISE');

export function adapterConfig(model: CausalLM, h: WiseHparams): AdapterConfig {
  return {
    retrieve: h.retrieve, save_freq: h.save_freq, merge_freq: h.merge_freq, merge_alg: h.merge_alg, weights: h.weights,
    densities: h.densities, act_ratio: h.act_ratio, activation: wiseActivation(model), layout: model.templates.rewriteWeightLayout,
  };
}

export function mainWeights(model: CausalLM, module: string): MainWeights {
  const bias = model.params.get(`${module}.bias`);
  return { weight: model.parameter(`${module}.weight`), ...(bias ? { bias } : {}) };
}

/** The WISE adapter installed at `module` (the last one there), if any; its settings must be the session's. */
function installedAdapter(patches: readonly ModulePatch[], module: string, config: AdapterConfig): WiseAdapter | undefined {
  const found = patches.filter((p): p is WiseAdapter => p instanceof WiseAdapter && p.module === module).at(-1);
  if (!found) return undefined;
  const differ = (Object.keys(config) as (keyof AdapterConfig)[]).filter((k) => found.config[k] !== config[k]);
  if (differ.length) {
    const show = (c: AdapterConfig) => differ.map((k) => `${k} ${c[k]}`).join(', ');
    throw new Error(`the WISE adapter installed at '${module}' was built with ${show(found.config)}; these hparams say ${show(config)} (use the adapter's values to add edits to it)`);
  }
  return found;
}

/** The module's input at the prompt's last token [1, d_in] (the edit's key for conflict warnings). */
function promptKey(model: CausalLM, ids: number[], module: string): Tensor {
  return tidy(() => noGrad(() => {
    const { traces } = model.forward({ inputIds: [ids], logits: 'none', trace: [{ module, retainInput: true, retainOutput: false }] });
    return traces.get(module)!.input!.select(0, 0).narrow(0, ids.length - 1, 1).clone();
  }));
}

function openSession(model: CausalLM, h: WiseHparams, ctx: SessionContext): MethodSession {
  const module = wiseModulePath(h.inner_params[0]);
  const config = adapterConfig(model, h);
  const shared = new SharedPatch(model, (ps) => installedAdapter(ps, module, config), () => new WiseAdapter(module, config, mainWeights(model, module)));
  let templates: string[] | undefined;
  let locs: string[] | undefined;
  const prepare = () => {
    templates ??= wiseContextTemplates(model, ctx.tokenizer);
    locs ??= locCandidates(locFilePath(h));
  };
  return {
    prepare,
    compute(requests, cctx) {
      prepare();
      return shared.edit(cctx.editId, requests, (r, edit) => {
        const key = promptKey(model, ctx.tokenizer.encode(r.text), module);
        recordKeys(edit, module, key); // the footprint (src/methods/footprint.ts)
        key.dispose();
        const loc = locPromptFor(locs!, ctx.seed, r);
        const out = wiseEdit(model, ctx.tokenizer, shared.patch, r, h, { editId: cctx.editId, templates: templates!, loc, seed: ctx.seed, log: ctx.log });
        shared.patch.commit(cctx.editId, out.next, out.created);
        return out.diagnostics;
      });
    },
    adopt: (edited) => shared.adopt(edited),
    dispose: () => shared.release(),
  };
}

export const wise: EditMethod<WiseHparams> = {
  name: 'WISE',
  schema: WISE_SCHEMA,
  batching: 'sequential',
  check: checkWiseHparams,
  open: openSession,
  loadPatch(state, anyModel, h) {
    const model = requireCausal(anyModel, 'WISE');
    const module = (state.meta as { module?: string }).module ?? wiseModulePath(h.inner_params[0]);
    if (!model.modulePaths().includes(module) || !model.params.has(`${module}.weight`)) throw new Error(`WISE state: the model has no linear layer '${module}'`);
    return WiseAdapter.fromState(module, state, mainWeights(model, module));
  },
};
