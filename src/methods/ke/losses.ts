// The token-level quantities KE trains and validates on: teacher-forced rows prompt + answer, read at the positions
// that predict the answer's tokens (the causal form of the original's seq2seq decoder targets).
import { tensor, type Tensor } from '../../tensor/index.js';
import { padBatch, type CausalLM } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';

export interface AnswerRows {
  rows: number[][];
  promptLengths: number[];
  /** For every answer token: its row, the position that predicts it, the token. */
  row: number[];
  pos: number[];
  label: number[];
}

/** Rows prompt + answer for (prompt, answer) pairs; answers are given with their leading space. */
export function answerRows(tok: Tokenizer, pairs: { prompt: string; answer: string }[]): AnswerRows {
  const out: AnswerRows = { rows: [], promptLengths: [], row: [], pos: [], label: [] };
  pairs.forEach(({ prompt, answer }, b) => {
    const p = tok.encode(prompt);
    const a = tok.encode(answer);
    if (!p.length || !a.length) throw new Error(`KE: '${prompt}' / '${answer}' encodes to no tokens`);
    out.rows.push([...p, ...a]);
    out.promptLengths.push(p.length);
    a.forEach((t, i) => { out.row.push(b); out.pos.push(p.length - 1 + i); out.label.push(t); });
  });
  return out;
}

/** Log-probabilities [N, V] at the answer positions (N answer tokens), with optional fast weights. */
export function answerLogProbs(model: CausalLM, a: AnswerRows, overrides?: ReadonlyMap<string, Tensor>): Tensor {
  const { ids, mask } = padBatch(a.rows);
  const { hidden } = model.forward({ inputIds: ids, attentionMask: mask, logits: 'none', parameterOverrides: overrides });
  const dev = hidden.device;
  const h = hidden.index([tensor(a.row, { dtype: 'int64', device: dev }), tensor(a.pos, { dtype: 'int64', device: dev })]);
  return model.logitsFrom(h).to('float32').logSoftmax(-1);
}

export function labelTensor(a: AnswerRows, like: Tensor): Tensor {
  return tensor(a.label, { dtype: 'int64', device: like.device });
}

/** Mean NLL of the answer tokens. */
export function meanNll(logp: Tensor, labels: Tensor): Tensor {
  return logp.gather(1, labels.unsqueeze(1)).mean().neg();
}

/**
 * The original's label_smoothed_nll_loss (src/utils.py) per token, averaged over tokens:
 * (1 − ε − ε/(V−1))·nll + ε/(V−1)·Σ_v −log p_v.
 */
export function smoothedNll(logp: Tensor, labels: Tensor, eps: number): Tensor {
  const V = logp.shape[1];
  const epsI = eps / (V - 1);
  const nll = logp.gather(1, labels.unsqueeze(1)).squeeze(1).neg();
  const smooth = logp.sum(-1).neg();
  return nll.mul(1 - eps - epsI).add(smooth.mul(epsI)).mean();
}

/** KL(p_orig ‖ p_new) per token, averaged over tokens (torch.distributions.kl_divergence of Categoricals). */
export function klFromOriginal(logpOrig: Tensor, logpNew: Tensor): Tensor {
  return logpOrig.exp().mul(logpOrig.sub(logpNew)).sum(-1).mean();
}

/** For each row, whether every answer token is the argmax (exact match), and the fraction of tokens that are. */
export function answerHits(logp: Tensor, a: AnswerRows): { exact: boolean[]; tokenAcc: number[] } {
  const arg = logp.argmax(-1).toFlatArray() as number[];
  const n = a.rows.length;
  const right = new Array<number>(n).fill(0);
  const total = new Array<number>(n).fill(0);
  a.row.forEach((r, i) => { total[r]++; if (arg[i] === a.label[i]) right[r]++; });
  return { exact: right.map((x, r) => x === total[r]), tokenAcc: right.map((x, r) => x / total[r]) };
}

/** The argmax tokens at the answer positions (for locality: unchanged predictions). */
export function argmaxTokens(logp: Tensor): number[] {
  return logp.argmax(-1).toFlatArray() as number[];
}
