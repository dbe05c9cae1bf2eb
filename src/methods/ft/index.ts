// FT-L and FT-M: constrained fine-tuning of chosen layers (EasyEdit easyeditor/models/ft/ft_main.py).
//   FT-L (objective_optimization: prompt_last): NLL of every target token read at the prompt's last position
//         (ROME's FT baseline, as the reference implements it);
//   FT-M (target_new): cross-entropy of the target tokens given the prompt, prompt tokens masked.
// Adam on every parameter whose name contains rewrite_module_tmp(layer) (weight and bias); after each batch the
// weights are clamped to an L∞ ball of radius norm_constraint around the originals. A batch whose loss is below
// 1e-2 takes no step; training stops early when an epoch's mean loss is below 1e-2. The model is left unchanged.
import { Adam, cat, crossEntropy, tensor, tidy, keep, noGrad, type Tensor } from '../../tensor/index.js';
import { rowsAt, targetStates, type EditableModel } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import { checkAgainstModel, MODULE_TEMPLATE_FIELDS, type ModuleTemplateHparams, type Schema } from '../hparams.js';
import type { NormalizedRequest } from '../request.js';
import type { EditContext, EditMethod, Edit, LossStep, WeightDelta } from '../types.js';

export interface FtHparams extends ModuleTemplateHparams {
  layers: number[];
  num_steps: number;
  batch_size: number;
  lr: number;
  weight_decay: number;
  kl_factor: number;
  /** L∞ radius around the original weights; a negative value disables the constraint. */
  norm_constraint: number;
  objective_optimization: 'prompt_last' | 'target_new';
}

export const FT_SCHEMA: Schema = {
  layers: { type: 'integer[]', min: 0, minItems: 1 },
  num_steps: { type: 'integer', default: 25, min: 1 },
  lr: { type: 'number', default: 5e-4, exclusiveMin: 0 },
  weight_decay: { type: 'number', default: 0, min: 0 },
  kl_factor: { type: 'number', default: 0, min: 0 },
  norm_constraint: { type: 'number', default: 5e-4 },
  objective_optimization: { type: 'string', default: 'prompt_last' },
  ...MODULE_TEMPLATE_FIELDS,
};

/**
 * Loss of one batch of requests under the chosen objective (a scalar tensor). targetStates gives the states that
 * predict the target after the prompt on a causal LM and a T5 alike (on a T5, FT-L reads every target token from the
 * decoder's first position, the one that sees only the prompt).
 */
function batchLoss(model: EditableModel, tok: Tokenizer, batch: NormalizedRequest[], objective: FtHparams['objective_optimization']): Tensor {
  const prompts = batch.map((r) => tok.encode(r.text));
  const targets = batch.map((r) => tok.encode(r.targetNew));
  const pass = targetStates(model, prompts, targets);
  if (objective === 'prompt_last') {
    const last = rowsAt(pass.hidden, pass.promptLast.map((p) => [p]));
    const losses = targets.map((t, i) => model.logitsFrom(last[i]).logSoftmax(-1).squeeze(0).index([tensor(t, { dtype: 'int64' })]).mean().neg());
    return cat(losses.map((l) => l.unsqueeze(0)), 0).mean();
  }
  // target_new: teacher-forced cross-entropy on the target tokens only
  const rows = rowsAt(pass.hidden, pass.positions);
  const losses = rows.map((h, i) => crossEntropy(model.logitsFrom(h), tensor(targets[i], { dtype: 'int64' })).unsqueeze(0));
  return cat(losses, 0).mean();
}

export const ft: EditMethod<FtHparams> = {
  name: 'FT',
  schema: FT_SCHEMA,
  batching: 'batch',
  encoderDecoder: true,

  check(model, h, source) {
    checkAgainstModel(model, source, h.layers, { rewrite_module_tmp: h.rewrite_module_tmp });
    if (!['prompt_last', 'target_new'].includes(h.objective_optimization)) {
      throw new Error(`${source}: objective_optimization must be prompt_last (FT-L) or target_new (FT-M), got '${h.objective_optimization}'`);
    }
    if (h.batch_size < 1) throw new Error(`${source}: batch_size must be >= 1`);
  },

  open(model, h, ctx) {
    return { compute: (requests, c) => fineTune(model, requests, h, { ...ctx, ...c }), dispose: () => undefined };
  },
};

/** Fine-tunes the chosen layers on the requests and returns the weight differences; the model is left unchanged. */
function fineTune(model: EditableModel, requests: NormalizedRequest[], h: FtHparams, ctx: EditContext): Edit {
  const started = performance.now();
  const prefixes = h.layers.map((l) => h.rewrite_module_tmp.replace('{}', String(l)) + '.');
  const names = model.parameterNames().filter((n) => prefixes.some((p) => n.startsWith(p)));
  const snapshot = model.snapshot(names);
  const params = names.map((n) => model.parameter(n));
  params.forEach((p) => p.requiresGrad_(true));
  const opt = new Adam(params, { lr: h.lr, weightDecay: h.weight_decay });
  const trace: LossStep[] = [];
  try {
    for (let epoch = 0; epoch < h.num_steps; epoch++) {
      let total = 0;
      for (let s = 0; s < requests.length; s += h.batch_size) {
        const batch = requests.slice(s, s + h.batch_size);
        const loss = tidy(() => {
          opt.zeroGrad();
          const l = batchLoss(model, ctx.tokenizer, batch, h.objective_optimization);
          const value = l.item();
          if (value >= 1e-2) {
            l.backward();
            opt.step();
          }
          if (h.norm_constraint >= 0) {
            noGrad(() => names.forEach((n, i) => {
              const orig = snapshot.get(n)!;
              const clamped = params[i].maximum(orig.sub(h.norm_constraint)).minimum(orig.add(h.norm_constraint));
              params[i].copy_(clamped);
            }));
          }
          return value;
        });
        total += loss * batch.length;
      }
      const avg = total / requests.length;
      trace.push({ step: epoch, loss: avg, nll: avg, kl: 0, weightDecay: 0, avgProbTarget: Math.exp(-avg) });
      ctx.log?.(`FT epoch ${epoch}: loss ${avg.toFixed(4)}`);
      if (avg < 1e-2) break;
    }
    const deltas: WeightDelta[] = names.map((n, i) => ({ param: n, dense: keep(noGrad(() => params[i].sub(snapshot.get(n)!))) }));
    const seconds = (performance.now() - started) / 1000;
    return {
      deltas,
      statsKeys: [],
      diagnostics: requests.map((r) => ({ caseId: r.caseId, prompt: r.text, targetNew: r.targetNew, seconds: seconds / requests.length, lossTrace: trace })),
    };
  } finally {
    opt.zeroGrad();
    opt.dispose();
    params.forEach((p) => p.requiresGrad_(false));
    model.restore(snapshot, { dispose: true });
  }
}
