// The factors of a weight's gradient, read from one forward/backward pass: for a layer y = x W (GPT-2's Conv1D,
// weight [in, out]) the gradient is ∇W = Σ_t x_t δ_tᵀ with δ_t = ∂L/∂y_t; for nn.Linear (y = x Wᵀ, weight [out, in])
// it is Σ_t δ_t x_tᵀ. MEND transforms the per-token factors (x_t, δ_t) instead of the gradient itself.
//
// x is the module's input (a trace with retainInput); δ is the gradient of the loss w.r.t. the module's output: the
// trace adds a zero that requires grad to each traced output, so every output is in the autograd graph even though
// the base model's weights are frozen, and autograd.grad(loss, outputs) gives every δ at once.
import { autograd, cat, crossEntropy, enableGrad, tensor, tidy, zeros, type Tensor } from '../../tensor/index.js';
import { padBatch, type CausalLM } from '../../models/index.js';
import type { TraceSpec } from '../../models/trace.js';
import type { Tokenizer } from '../../io/tokenizer.js';

/** Token rows prompt + target and where each target starts. */
export interface TargetRows {
  rows: number[][];
  promptLengths: number[];
}

export function targetRows(tok: Tokenizer, items: { prompt: string; target: string }[]): TargetRows {
  const rows: number[][] = [];
  const promptLengths: number[] = [];
  for (const { prompt, target } of items) {
    const p = tok.encode(prompt);
    const t = tok.encode(target);
    if (p.length === 0) throw new Error(`MEND: the prompt '${prompt}' encodes to no tokens`);
    if (t.length === 0) throw new Error(`MEND: the target '${target}' encodes to no tokens`);
    rows.push([...p, ...t]);
    promptLengths.push(p.length);
  }
  return { rows, promptLengths };
}

/** Where the target tokens are predicted: (row, position) pairs and the labels, flattened over the batch. */
function targetPositions(t: TargetRows): { rowIdx: number[]; posIdx: number[]; labels: number[]; counts: number[] } {
  const rowIdx: number[] = [];
  const posIdx: number[] = [];
  const labels: number[] = [];
  const counts: number[] = [];
  t.rows.forEach((row, b) => {
    for (let i = t.promptLengths[b]; i < row.length; i++) { rowIdx.push(b); posIdx.push(i - 1); labels.push(row[i]); }
    counts.push(row.length - t.promptLengths[b]);
  });
  return { rowIdx, posIdx, labels, counts };
}

/**
 * Per-row mean target NLL [B] from a forward pass's final hidden states, and whether every target token of the row
 * is the argmax (teacher forced).
 */
export function targetNll(model: CausalLM, hidden: Tensor, t: TargetRows): { nll: Tensor; correct: boolean[] } {
  const { rowIdx, posIdx, labels, counts } = targetPositions(t);
  const dev = hidden.device;
  const h = hidden.index([tensor(rowIdx, { dtype: 'int64', device: dev }), tensor(posIdx, { dtype: 'int64', device: dev })]);
  const logits = model.logitsFrom(h).to('float32');
  const lab = tensor(labels, { dtype: 'int64', device: dev });
  const tokNll = crossEntropy(logits, lab, { reduction: 'none' });
  const hits = logits.argmax(-1).eq(lab).toFlatArray() as ArrayLike<number | boolean>;
  const per: Tensor[] = [];
  const correct: boolean[] = [];
  let k = 0;
  for (const n of counts) {
    per.push(tokNll.narrow(0, k, n).mean().unsqueeze(0));
    let all = true;
    for (let i = k; i < k + n; i++) all &&= Boolean(hits[i]);
    correct.push(all);
    k += n;
  }
  return { nll: cat(per, 0), correct };
}

/** One module's factors: rows of real tokens whose x and δ are both nonzero (EasyEdit's nz_mask). */
export interface Factors {
  /** [N, in] */
  x: Tensor;
  /** [N, out] */
  delta: Tensor;
}

/**
 * Runs the model on `rows` and returns, for each module, the factors of ∇W of `loss(hidden)` — a scalar of the final
 * hidden states — plus the loss's value. Factors carry no graph (detached, as the original's hooks).
 */
export function gradientFactors(model: CausalLM, modules: string[], rows: number[][], loss: (hidden: Tensor) => Tensor,
  overrides?: ReadonlyMap<string, Tensor>): { factors: Map<string, Factors>; loss: number } {
  return enableGrad(() => tidy(() => {
    const { ids, mask } = padBatch(rows);
    const zero = zeros([], { dtype: model.dtype, device: model.device }).requiresGrad_(true);
    const specs: TraceSpec[] = modules.map((m) => ({ module: m, retainInput: true, keepGraph: true, editOutput: (y: Tensor) => y.add(zero) }));
    const out = model.forward({ inputIds: ids, attentionMask: mask, logits: 'none', trace: specs, parameterOverrides: overrides });
    const l = loss(out.hidden);
    const outputs = modules.map((m) => out.traces.get(m)!.output!);
    const deltas = autograd.grad(l, outputs, { allowUnused: true });
    const real = tensor(mask.flatMap((r) => r), { device: model.device }).gt(0);
    const factors = new Map<string, Factors>();
    modules.forEach((m, i) => {
      const x = out.traces.get(m)!.input!.detach();
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
