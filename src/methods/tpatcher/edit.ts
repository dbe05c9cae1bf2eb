// One T-Patcher edit (ZeroYuHuang/Transformer-Patcher scripts/T-patch.py `editing`, BartSeq2SeqEditor's training and
// validation steps, src/models/patch.py), for a causal LM or a T5 (the original edits BART, an encoder-decoder):
//   input    = prompt + target, teacher-forced; the target tokens' positions are those that predict them (a causal
//              LM's prompt ⧺ target from the prompt's last token on; a T5's decoder positions, targetStates);
//   neurons  = one per target token the model (with the earlier edits) gets wrong under teacher forcing, first ones
//              first, at most max_add_neuron_num (count_error_nums); none wrong → one neuron at the prompt's last
//              token (a T5: the decoder's first position). The key of a neuron is the MLP's input x at its position, scaled to x/‖x‖² (bias 0), so that
//              its pre-activation there starts at 1 (_reset_parameters); the value is torch.randn, the amplify factor
//              amplify_con (ModifyLinearInput);
//   train    = Adam (lr, L2 weight_decay) on the new neurons only, loss = edit NLL + alc·activation loss +
//              mlc·memory loss, the gradient norm clipped at gradient_clip_val; every check_val_every_n_epoch steps
//              a validation: the edit loss steps ReduceLROnPlateau, and from start_val_epoch on, with use_val 1, each
//              check where the edit holds (every target token the arg-max) records the memory loss, and training
//              stops once it has not improved by 0.001 for early_patience checks (early_stop_editing); use_val 0
//              stops at the first check where the edit holds; else at max_edit_step.
// The pre-activations the losses read are x·k + b at the neurons' positions and on the memory rows: the MLP's input
// does not depend on neurons of the same MLP, so they are exactly the values of the original's extra fc1 outputs.
import { Adam, cat, crossEntropy, keep, noGrad, randn, rand, full, tensor, tidy, zeros, type Generator, type Tensor } from '../../tensor/index.js';
import { CausalLM, targetStates, type EditableModel } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import type { NormalizedRequest } from '../request.js';
import type { EditDiagnostics, LossStep } from '../types.js';
import type { TPatch, TrainingNeurons } from './patch.js';
import type { TPatcherHparams } from './hparams.js';
import { activationLoss, memoryLoss } from './losses.js';
import { Plateau, clipGradNorm, earlyStop } from './schedule.js';

export interface EditTokens {
  prompt: number[];
  target: number[];
}

export function editTokens(tok: Tokenizer, r: NormalizedRequest, model: EditableModel): EditTokens {
  const promptLength = tok.encode(r.text).length;
  if (promptLength === 0) throw new Error(`T-Patcher: the prompt of request ${r.index} encodes to no tokens`);
  // a causal LM reads prompt and target as one text (as the original tokenises source + target); a T5 apart
  const ids = model instanceof CausalLM ? tok.encode(r.text + r.targetNew) : [...tok.encode(r.text), ...tok.encode(r.targetNew)];
  if (ids.length <= promptLength) throw new Error(`T-Patcher: request ${r.index}: the target '${r.targetNew}' adds no token after the prompt`);
  return { prompt: ids.slice(0, promptLength), target: ids.slice(promptLength) };
}

/** The pass over the edit: logits [n, V] (float32) of the positions that predict the target tokens, their positions. */
function targetPass(model: EditableModel, t: EditTokens, module?: string): { logits: Tensor; positions: number[]; promptLast: number; inputs?: Tensor } {
  const pass = targetStates(model, [t.prompt], [t.target], module ? { trace: [{ module, retainInput: true, retainOutput: false }] } : {});
  const positions = pass.positions[0];
  const h = pass.hidden.select(0, 0).narrow(0, positions[0], positions.length);
  return {
    logits: model.logitsFrom(h).to('float32'), positions, promptLast: pass.promptLast[0],
    inputs: module ? pass.out.traces.get(module)!.input!.select(0, 0).to('float32') : undefined,
  };
}
const targetLogits = (model: EditableModel, t: EditTokens) => targetPass(model, t).logits;

function targets(t: EditTokens, like: Tensor): Tensor {
  return tensor(t.target, { dtype: 'int64', device: like.device });
}

/** Positions (in the pass) whose arg-max is not the next target token, with the model as it is. */
export function mistakes(model: EditableModel, t: EditTokens): { wrong: number[]; promptLast: number } {
  return tidy(() => noGrad(() => {
    const p = targetPass(model, t);
    const pred = p.logits.argmax(-1).toFlatArray();
    return { wrong: pred.flatMap((x, j) => (x === t.target[j] ? [] : [p.positions[j]])), promptLast: p.promptLast };
  }));
}

/** The MLP inputs [T, d_in] (float32) at every position of the edit's pass (causal: prompt ⧺ target; T5: decoder). */
function editInputs(model: EditableModel, module: string, t: EditTokens): Tensor {
  return keep(tidy(() => noGrad(() => targetPass(model, t, module).inputs!.clone())));
}

/** The neurons' starting parameters (float32), keyed on the MLP inputs xs [m, d_in] at their positions. */
function initNeurons(xs: Tensor, dOut: number, h: TPatcherHparams, gen: Generator): TrainingNeurons {
  return keep(tidy(() => noGrad(() => {
    const [m, dIn] = xs.shape;
    const bound = 1 / Math.sqrt(dIn); // nn.Linear's own init when use_init_weight is 0
    const key = h.use_init_weight ? xs.div(xs.square().sum(-1, true)) : rand([m, dIn], { generator: gen }).mul(2 * bound).sub(bound);
    const bias = h.use_init_weight ? zeros([m]) : rand([m], { generator: gen }).mul(2 * bound).sub(bound);
    const value = randn([m, dOut], { generator: gen });
    const amp = h.amplify_v ? full([m, dOut], h.amplify_con) : undefined;
    return { key: key.contiguous(), bias, value, amp, trained: [] as Tensor[] };
  })));
}

function requireGrad(n: TrainingNeurons, h: TPatcherHparams): void {
  const trained = [...(h.freeze_k ? [] : [n.key, n.bias]), n.value, ...(n.amp && !h.freeze_a ? [n.amp] : [])];
  trained.forEach((p) => p.requiresGrad_(true));
  n.trained = trained;
}

interface StepLosses {
  loss: Tensor;
  edit: Tensor;
  act: Tensor;
  memo: Tensor;
  /** pre-activations at the neurons' own positions [m] */
  a: Tensor;
}

/** The three losses with the training neurons as they are. */
function losses(model: EditableModel, t: EditTokens, n: TrainingNeurons, xs: Tensor, memory: Tensor | undefined, h: TPatcherHparams): StepLosses & { logits: Tensor } {
  const logits = targetLogits(model, t);
  const edit = crossEntropy(logits, targets(t, logits));
  const a = xs.mul(n.key).sum(-1).add(n.bias);
  const zero = tensor(0, { dtype: 'float32', device: a.device });
  const act = h.activate_loss === 'non_use' ? zero : activationLoss(a, h.activate_loss, h.act_margin_val, h.example_repeat);
  const memo = h.memory_loss === 'non_use' || !memory ? zero
    : memoryLoss(memory.matmul(n.key.t()).add(n.bias), a, h.memory_loss, h.margin_val1, h.margin_val2, h.example_repeat);
  const loss = edit.add(act.mul(h.alc)).add(memo.mul(h.mlc));
  return { loss, edit, act, memo, a, logits };
}

export interface TrainResult {
  steps: number;
  trace: { step: number; loss: number; edit: number; act: number; memo: number; lr: number; success?: boolean }[];
  stopped: 'early_stop' | 'success' | 'max_edit_step';
  final: { edit: number; act: number; memo: number; success: boolean; activations: number[] };
}

/** The validation of the original (joint_validation), with the current parameters. */
function validate(model: EditableModel, t: EditTokens, n: TrainingNeurons, xs: Tensor, memory: Tensor | undefined, h: TPatcherHparams) {
  return tidy(() => noGrad(() => {
    const l = losses(model, t, n, xs, memory, h);
    const success = l.logits.argmax(-1).equal(targets(t, l.logits));
    return { edit: l.edit.item(), act: l.act.item(), memo: l.memo.item(), success, activations: l.a.toFlatArray() };
  }));
}

/** Trains the patch's training neurons (installed in the model by the caller). */
export function train(model: EditableModel, t: EditTokens, n: TrainingNeurons, xs: Tensor, memory: Tensor | undefined, h: TPatcherHparams): TrainResult {
  const opt = new Adam(n.trained, { lr: h.lr, weightDecay: h.weight_decay });
  const plateau = new Plateau(opt, { factor: h.lr_scheduler_factor, patience: h.lr_scheduler_patience, threshold: 0.05 });
  const trace: TrainResult['trace'] = [];
  const validMemory: number[] = [];
  let stopped: TrainResult['stopped'] = 'max_edit_step';
  try {
    for (let step = 0; step < h.max_edit_step; step++) {
      const row = tidy(() => {
        const l = losses(model, t, n, xs, memory, h);
        l.loss.backward();
        if (h.gradient_clip_val > 0) clipGradNorm(n.trained, h.gradient_clip_val);
        opt.step();
        opt.zeroGrad();
        return { step, loss: l.loss.item(), edit: l.edit.item(), act: l.act.item(), memo: l.memo.item(), lr: opt.lr };
      });
      trace.push(row);
      if ((step + 1) % h.check_val_every_n_epoch !== 0) continue;
      const v = validate(model, t, n, xs, memory, h);
      (row as TrainResult['trace'][number]).success = v.success;
      if (step >= h.start_val_epoch && v.success) {
        if (!h.use_val) { stopped = 'success'; break; }
        validMemory.push(v.memo);
        if (earlyStop(validMemory, 0.001, h.early_patience)) { stopped = 'early_stop'; break; }
      }
      plateau.step(v.edit);
    }
    return { steps: trace.length, trace, stopped, final: validate(model, t, n, xs, memory, h) };
  } finally {
    opt.dispose();
  }
}

export interface EditOptions {
  editId: string;
  generator: Generator;
  /** The session's memory set [M, d_in] (float32), without the earlier edits' rows. */
  memory?: Tensor;
  recordVectors?: boolean;
  log?: (message: string) => void;
  /** Receives the edit's key, the MLP input at its first neuron's position [1, d_in] (the caller copies it). */
  onKey?: (key: Tensor) => void;
}

/** Edits one request into the patch (installed in the model by the caller). */
export function tpatcherEdit(model: EditableModel, tok: Tokenizer, patch: TPatch, r: NormalizedRequest, h: TPatcherHparams, o: EditOptions): EditDiagnostics {
  const started = performance.now();
  const t = editTokens(tok, r, model);
  const { wrong, promptLast } = mistakes(model, t);
  const positions = (wrong.length ? wrong : [promptLast]).slice(0, h.max_add_neuron_num);
  const inputs = editInputs(model, patch.module, t);
  const xs = keep(tidy(() => inputs.index([tensor(positions, { dtype: 'int64', device: inputs.device })])));
  o.onKey?.(xs.narrow(0, 0, 1));
  const earlier = h.update_memory ? keep(tidy(() => patch.editMemory())) : undefined;
  const mem = h.memory_loss === 'non_use' ? undefined : combine(o.memory, earlier);
  const memoryRows = mem?.shape[0] ?? 0;
  earlier?.dispose();
  const n = initNeurons(xs, model.dims.hiddenSize, h, o.generator);
  requireGrad(n, h);
  patch.training = n;
  let result: TrainResult;
  let norms: Record<string, number>;
  let vectors: Record<string, number[]> | undefined;
  try {
    result = train(model, t, n, xs, mem, h);
    patch.commit(o.editId);
    // the edit's own inputs join the memory set of later edits: a causal LM's positions 1 … T−2 (as the original's
    // decoder positions without BOS and the last), a T5's every decoder position (its decoder has no BOS)
    const own = model instanceof CausalLM ? (inputs.shape[0] > 2 ? [1, inputs.shape[0] - 2] : undefined) : [0, inputs.shape[0]];
    if (h.update_memory && own) patch.addMemory(o.editId, keep(tidy(() => inputs.narrow(0, own[0], own[1]).clone())));
    const value = () => (n.amp ? n.value.mul(n.amp) : n.value);
    norms = tidy(() => ({ key: n.key.norm().item(), value: value().norm().item(), input: xs.norm(2, -1).max().item() }));
    vectors = o.recordVectors ? tidy(() => ({ key: n.key.toFlatArray(), bias: n.bias.toFlatArray(), value: value().toFlatArray() })) : undefined;
  } finally {
    patch.training = undefined;
    [mem, inputs, xs, n.key, n.bias, n.value, n.amp].forEach((x) => x?.dispose());
  }
  const lossTrace: LossStep[] = result.trace.map((s) => ({ step: s.step, loss: s.loss, nll: s.edit, kl: 0, weightDecay: 0, avgProbTarget: Math.exp(-s.edit) }));
  const f = result.final;
  o.log?.(`T-Patcher ${o.editId}: ${positions.length} neuron(s) at ${positions.join(',')}, ${result.steps} steps (${result.stopped}), edit loss ${f.edit.toFixed(4)}, ` +
    `act ${f.activations.map((a) => a.toFixed(2)).join(',')}, memory loss ${f.memo.toFixed(4)}, ${patch.size} neurons`);
  return {
    caseId: r.caseId, prompt: r.text, targetNew: r.targetNew, seconds: (performance.now() - started) / 1000, lossTrace, norms,
    extra: {
      positions, mistakes: wrong, steps: result.steps, stopped: result.stopped, success: f.success, editLoss: f.edit, actLoss: f.act, memoryLoss: f.memo,
      activations: f.activations, memoryRows, neurons: patch.size, lr: result.trace.at(-1)?.lr,
      ...(vectors ? { vectors } : {}),
    },
  };
}

/** The memory set plus the earlier edits' rows (a new tensor, or undefined when both are absent). */
function combine(base: Tensor | undefined, earlier: Tensor | undefined): Tensor | undefined {
  if (!base && !earlier) return undefined;
  return keep(tidy(() => (base && earlier ? cat([base, earlier], 0) : (base ?? earlier)!.clone())));
}
