// Training the calibration FFNs of one batch of facts (dqxiu/CaliNet train_calinet/run_kb_t5_freeze.py with its
// Trainer, src/trainer.py): the main network is frozen (the original gives every parameter whose name lacks "ex"
// learning rate 0; here the model's weights never require grad) and only the side FFNs train, on the cross-entropy of
// the facts' objects: on a T5 the original's own seq2seq loss (encoder = prompt, decoder labels = target), on a causal
// LM its causal form (input = prompt + target, labels = the target tokens, the prompt's ignored) — both through
// targetStates — one mean over every target token of the batch (CrossEntropyLoss with ignore_index -100 over the
// batch, as T5's loss is). Full batch: every step sees every fact (the original's
// effective batch, 512 × 4 accumulation steps, covers its 100-fact training sets in one step).
import { AdamW, cat, crossEntropy, noGrad, tensor, tidy, type Tensor } from '../../tensor/index.js';
import { rowsAt, targetStates, type EditableModel } from '../../models/index.js';
import type { Optimizer } from '../../tensor/optim.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import type { NormalizedRequest } from '../request.js';
import type { LossStep } from '../types.js';
import type { CalibrationFFN } from './patch.js';
import type { CalinetHparams } from './hparams.js';
import { Adafactor } from './adafactor.js';

/** The batch's prompt and target ids. */
export interface FactTokens {
  prompts: number[][];
  targets: number[][];
}

export function factTokens(tok: Tokenizer, requests: NormalizedRequest[]): FactTokens {
  const prompts: number[][] = [];
  const targets: number[][] = [];
  for (const r of requests) {
    const prompt = tok.encode(r.text);
    const target = tok.encode(r.targetNew);
    if (prompt.length === 0) throw new Error(`CALINET: the prompt of request ${r.index} encodes to no tokens`);
    if (target.length === 0) throw new Error(`CALINET: request ${r.index}: the target '${r.targetNew}' encodes to no tokens`);
    prompts.push(prompt);
    targets.push(target);
  }
  return { prompts, targets };
}

/** Per-token target cross-entropies [N] of the batch (N = all target tokens, rows in order). */
function tokenLosses(model: EditableModel, t: FactTokens): Tensor {
  const pass = targetStates(model, t.prompts, t.targets);
  const h = cat(rowsAt(pass.hidden, pass.positions), 0);
  const logits = model.logitsFrom(h).to('float32');
  return crossEntropy(logits, tensor(t.targets.flat(), { dtype: 'int64', device: h.device }), { reduction: 'none' });
}

/** Mean target loss of each request (no grad), with whatever is installed. */
export function requestLosses(model: EditableModel, t: FactTokens): number[] {
  const flat = tidy(() => noGrad(() => tokenLosses(model, t).toFlatArray()));
  const out: number[] = [];
  let k = 0;
  t.targets.forEach((target) => {
    const n = target.length;
    out.push(flat.slice(k, k + n).reduce((s, x) => s + x, 0) / n);
    k += n;
  });
  return out;
}

export interface TrainResult {
  trace: LossStep[];
  steps: number;
  lossFirst: number;
  lossLast: number;
}

/** At most ~100 recorded steps: every k-th and the last. */
const recordEvery = (steps: number) => Math.max(1, Math.ceil(steps / 100));

/** Trains the (installed) calibration FFNs on the facts; the model's own weights are never touched. */
export function trainCalibration(model: EditableModel, t: FactTokens, patches: CalibrationFFN[], h: CalinetHparams, log?: (m: string) => void): TrainResult {
  const params = patches.flatMap((p) => p.parameters());
  params.forEach((p) => p.requiresGrad_(true));
  const opt: Optimizer = h.adafactor
    ? new Adafactor(params, { lr: h.learning_rate, weightDecay: h.weight_decay })
    : new AdamW(params, { lr: h.learning_rate, weightDecay: h.weight_decay });
  const trace: LossStep[] = [];
  const every = recordEvery(h.max_steps);
  let first = NaN;
  let last = NaN;
  let step = 0;
  try {
    for (; step < h.max_steps; step++) {
      const loss = tidy(() => {
        const l = tokenLosses(model, t).mean();
        l.backward();
        opt.step();
        opt.zeroGrad();
        return l.item();
      });
      if (!Number.isFinite(loss)) throw new Error(`CALINET: the loss became ${loss} at step ${step} (lower learning_rate)`);
      if (step === 0) first = loss;
      last = loss;
      if (step % every === 0 || step === h.max_steps - 1) trace.push({ step, loss, nll: loss, kl: 0, weightDecay: 0, avgProbTarget: Math.exp(-loss) });
      if (step % 50 === 0) log?.(`CALINET step ${step}: loss ${loss.toFixed(4)}`);
      if (loss < h.stop_loss) { step++; break; }
    }
    if (trace.at(-1)?.step !== step - 1) trace.push({ step: step - 1, loss: last, nll: last, kl: 0, weightDecay: 0, avgProbTarget: Math.exp(-last) });
    return { trace, steps: step, lossFirst: first, lossLast: last };
  } finally {
    opt.zeroGrad();
    opt.dispose();
    params.forEach((p) => p.requiresGrad_(false));
  }
}
