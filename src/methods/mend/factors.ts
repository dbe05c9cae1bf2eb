// The factors of a weight's gradient, read from one forward/backward pass: for a layer y = x W (GPT-2's Conv1D,
// weight [in, out]) the gradient is ∇W = Σ_t x_t δ_tᵀ with δ_t = ∂L/∂y_t; for nn.Linear (y = x Wᵀ, weight [out, in])
// it is Σ_t δ_t x_tᵀ. MEND transforms the per-token factors (x_t, δ_t) instead of the gradient itself.
//
// x is the module's input (a trace with retainInput); δ is the gradient of the loss w.r.t. the module's output: the
// trace adds a zero that requires grad to each traced output, so every output is in the autograd graph even though
// the base model's weights are frozen, and autograd.grad(loss, outputs) gives every δ at once.
//
// The pass is targetStates' (prompt ⧺ target on a causal LM; a T5's encoder = prompt, decoder = target), so the
// factors of a T5's encoder weights come from encoder positions and those of its decoder weights from decoder ones.
import { autograd, cat, crossEntropy, enableGrad, tensor, tidy, zeros, type Tensor } from '../../tensor/index.js';
import { padBatch, rowsAt, t5PromptIds, targetStates, T5Model, type EditableModel, type TargetPass } from '../../models/index.js';
import type { TraceSpec } from '../../models/trace.js';
import type { Tokenizer } from '../../io/tokenizer.js';

/** Prompt and target ids of the rows of a loss. */
export interface TargetRows {
  prompts: number[][];
  targets: number[][];
}

export function targetRows(tok: Tokenizer, items: { prompt: string; target: string }[]): TargetRows {
  const prompts: number[][] = [];
  const targets: number[][] = [];
  for (const { prompt, target } of items) {
    const p = tok.encode(prompt);
    const t = tok.encode(target);
    if (p.length === 0) throw new Error(`MEND: the prompt '${prompt}' encodes to no tokens`);
    if (t.length === 0) throw new Error(`MEND: the target '${target}' encodes to no tokens`);
    prompts.push(p);
    targets.push(t);
  }
  return { prompts, targets };
}

/** The pass of the rows (with traces and overrides), through targetStates. */
export function targetPass(model: EditableModel, t: TargetRows, opts: Parameters<typeof targetStates>[3] = {}): TargetPass {
  return targetStates(model, t.prompts, t.targets, opts);
}

/**
 * Per-row mean target NLL [B] from the pass's final hidden states, and whether every target token of the row is the
 * argmax (teacher forced).
 */
export function targetNll(model: EditableModel, pass: TargetPass, t: TargetRows): { nll: Tensor; correct: boolean[] } {
  const h = cat(rowsAt(pass.hidden, pass.positions), 0);
  const logits = model.logitsFrom(h).to('float32');
  const lab = tensor(t.targets.flat(), { dtype: 'int64', device: h.device });
  const tokNll = crossEntropy(logits, lab, { reduction: 'none' });
  const hits = logits.argmax(-1).eq(lab).toFlatArray() as ArrayLike<number | boolean>;
  const per: Tensor[] = [];
  const correct: boolean[] = [];
  let k = 0;
  for (const target of t.targets) {
    const n = target.length;
    per.push(tokNll.narrow(0, k, n).mean().unsqueeze(0));
    let all = true;
    for (let i = k; i < k + n; i++) all &&= Boolean(hits[i]);
    correct.push(all);
    k += n;
  }
  return { nll: cat(per, 0), correct };
}

/** 1 for the real (non-padding) positions of the stack a module runs in, row-major over the padded batch. */
function realPositions(model: EditableModel, module: string, t: TargetRows): number[] {
  const lengths = !(model instanceof T5Model) ? t.prompts.map((p, i) => p.length + t.targets[i].length)
    : module.startsWith('encoder.') ? t.prompts.map((p) => t5PromptIds(model, p).length)
      : t.targets.map((x) => x.length);
  return padBatch(lengths.map((n) => new Array<number>(n).fill(1))).mask.flat();
}

/** One module's factors: rows of real tokens whose x and δ are both nonzero (EasyEdit's nz_mask). */
export interface Factors {
  /** [N, in] */
  x: Tensor;
  /** [N, out] */
  delta: Tensor;
}

/**
 * Runs the model on the rows and returns, for each module, the factors of ∇W of `loss(pass)` — a scalar of the
 * pass's final hidden states — plus the loss's value. Factors carry no graph (detached, as the original's hooks).
 */
export function gradientFactors(model: EditableModel, modules: string[], t: TargetRows, loss: (pass: TargetPass) => Tensor,
  overrides?: ReadonlyMap<string, Tensor>): { factors: Map<string, Factors>; loss: number } {
  return enableGrad(() => tidy(() => {
    const zero = zeros([], { dtype: model.dtype, device: model.device }).requiresGrad_(true);
    const specs: TraceSpec[] = modules.map((m) => ({ module: m, retainInput: true, keepGraph: true, editOutput: (y: Tensor) => y.add(zero) }));
    const pass = targetPass(model, t, { trace: specs, parameterOverrides: overrides });
    const traces = pass.out.traces;
    const l = loss(pass);
    const outputs = modules.map((m) => traces.get(m)!.output!);
    const deltas = autograd.grad(l, outputs, { allowUnused: true });
    const factors = new Map<string, Factors>();
    modules.forEach((m, i) => {
      const real = tensor(realPositions(model, m, t), { device: model.device }).gt(0);
      const x = traces.get(m)!.input!.detach();
      const d = deltas[i] ?? outputs[i].detach().mul(0);
      const xf = x.reshape(-1, x.shape[x.ndim - 1]).to('float32');
      const df = d.reshape(-1, d.shape[d.ndim - 1]).to('float32');
      const keepRows = xf.abs().sum(-1).gt(0).logicalAnd(df.abs().sum(-1).gt(0)).logicalAnd(real).nonzero().reshape(-1);
      factors.set(m, { x: xf.indexSelect(0, keepRows), delta: df.indexSelect(0, keepRows) });
    });
    return { factors, loss: l.item() };
  }));
}

/**
 * The pseudo-gradient Σ_t x_t δ_tᵀ in the weight's own layout: [in, out] for a Conv1D weight (GPT-2), [out, in] for
 * nn.Linear. `conv` says which.
 */
export function pseudoGradient(x: Tensor, delta: Tensor, conv: boolean): Tensor {
  return conv ? x.t().matmul(delta) : delta.t().matmul(x);
}

/**
 * The factor dimensions of a weight: GPT-2's Conv1D weight is [in, out], nn.Linear's [out, in] (EasyEdit's get_shape
 * flips the shape for every model but GPT2LMHeadModel).
 */
export function factorDims(modelType: string, shape: number[]): { xDim: number; deltaDim: number; conv: boolean } {
  const conv = modelType === 'gpt2';
  return conv ? { xDim: shape[0], deltaDim: shape[1], conv } : { xDim: shape[1], deltaDim: shape[0], conv };
}
