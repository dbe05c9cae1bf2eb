// CaliNet: Calibrating Factual Knowledge in Pretrained Language Models (Dong et al., Findings of EMNLP 2022;
// dqxiu/CaliNet). A calibration FFN — ex_size "calibration memory slots" — runs beside the FFN of each chosen layer and
// adds its output to the residual stream; the main network stays frozen and only the side FFNs train, on a batch of
// facts at once (the paper calibrates 100 or 1,000 facts in one run). The original is T5-only; here it is implemented
// for the causal LMs (docs/calinet.md: which positions get the loss, and every other choice the causal setting forces).
//
// One edit = one batch of facts = one set of fresh calibration FFNs (one patch per kb_layer, kind 'CALINET'),
// belonging to that edit alone: rolling the edit back uninstalls them as a whole. Edits made one after another (the
// sequential setting) each add their own side FFNs, trained against the model as the earlier ones left it.
import { Generator } from '../../tensor/index.js';
import type { EditableModel } from '../../models/index.js';
import type { EditDiagnostics, EditMethod, MethodSession, SessionContext } from '../types.js';
import type { NormalizedRequest } from '../request.js';
import { stringSeed } from '../../util/random.js';
import { CalibrationFFN, type CalibrationConfig } from './patch.js';
import { calinetModulePath, checkCalinetHparams, CALINET_SCHEMA, type CalinetHparams } from './hparams.js';
import { factTokens, requestLosses, trainCalibration } from './train.js';

export type { CalinetHparams } from './hparams.js';
export { CalibrationFFN } from './patch.js';
export { Adafactor } from './adafactor.js';

export function calibrationConfig(h: CalinetHparams): CalibrationConfig {
  return { exSize: h.ex_size, activation: h.activation, gated: h.gated };
}

/**
 * Fresh calibration FFNs for the hparams' layers. Their random start depends on the seed and the batch's facts only
 * (not on how many edits came before), so a resumed run draws what an uninterrupted one does.
 */
export function freshPatches(model: EditableModel, h: CalinetHparams, seed: number, requests: NormalizedRequest[]): CalibrationFFN[] {
  const generator = new Generator(stringSeed(seed, requests.map((r) => `${r.text}\u0000${r.targetNew}`).join('\u0001')));
  return h.kb_layer.map((l) => CalibrationFFN.create(calinetModulePath(model, h, l), l, model.dims.hiddenSize, calibrationConfig(h), generator, model.device));
}

function openSession(model: EditableModel, h: CalinetHparams, ctx: SessionContext): MethodSession {
  return {
    compute(requests, cctx) {
      const started = performance.now();
      const t = factTokens(ctx.tokenizer, requests);
      const patches = freshPatches(model, h, ctx.seed, requests);
      const uninstall = patches.map((p) => model.install(p));
      let ok = false;
      try {
        const before = requestLosses(model, t);
        const result = trainCalibration(model, t, patches, h, ctx.log);
        const after = requestLosses(model, t);
        ctx.log?.(`CALINET ${cctx.editId}: ${requests.length} facts, ${result.steps} steps, loss ${result.lossFirst.toFixed(4)} → ${result.lossLast.toFixed(4)}`);
        const seconds = (performance.now() - started) / 1000 / requests.length;
        const norms = Object.fromEntries(patches.flatMap((p) => [[`K${p.layer}`, p.keys[0].norm().item()], [`V${p.layer}`, p.values.norm().item()]]));
        const diagnostics: EditDiagnostics[] = requests.map((r, i) => ({
          caseId: r.caseId, prompt: r.text, targetNew: r.targetNew, seconds, lossTrace: result.trace, norms,
          extra: { facts: requests.length, steps: result.steps, lossBefore: before[i], lossAfter: after[i], batchLossFirst: result.lossFirst, batchLossLast: result.lossLast },
        }));
        ok = true;
        return { deltas: [], patches, diagnostics, statsKeys: [] };
      } finally {
        uninstall.forEach((u) => u());
        if (!ok) patches.forEach((p) => p.dispose());
      }
    },
    dispose: () => undefined,
  };
}

export const calinet: EditMethod<CalinetHparams> = {
  name: 'CaliNet',
  schema: CALINET_SCHEMA,
  batching: 'batch',
  encoderDecoder: true, // its original form: calibration slots in a T5's decoder FFNs
  check: checkCalinetHparams,
  open: openSession,
  loadPatch(state, model) {
    const p = CalibrationFFN.fromState(state, model.device);
    if (!model.modulePaths().includes(p.module)) {
      p.dispose();
      throw new Error(`CALINET state: the model has no module '${p.module}'`);
    }
    if (p.keys[0].shape[0] !== model.dims.hiddenSize) {
      const d = p.keys[0].shape[0];
      p.dispose();
      throw new Error(`CALINET state: the calibration FFN at '${p.module}' is for width ${d}, the model's is ${model.dims.hiddenSize}`);
    }
    return p;
  },
};
