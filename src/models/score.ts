// Teacher-forced scoring: log-probabilities of continuation tokens given prompts, batched. Every metric (ROME's
// probability comparison, EasyEdit's token accuracy, multiple-choice log-likelihood) is built on this.
import { noGrad, tensor, tidy, type Tensor } from '../tensor/index.js';
import type { CausalLM } from './model.js';
import { padBatch } from './batch.js';

export interface ScoreRequest {
  /** Prompt token ids (no padding). */
  prompt: number[];
  /** Continuation token ids scored after the prompt. */
  continuation: number[];
}

export interface ScoreResult {
  /** log P(continuation[j] | prompt, continuation[<j]) for each j. */
  logprobs: number[];
  /** Sum of logprobs. */
  sum: number;
  /** Mean of logprobs (ROME's "mean token NLL" is -mean). */
  mean: number;
  /** Arg-max prediction at each continuation position (EasyEdit's teacher-forced token accuracy compares these). */
  argmax: number[];
}

export interface ScoreOptions {
  /** Requests per forward pass (default 16). */
  batchSize?: number;
}

/** Scores many (prompt, continuation) pairs; batches are right-padded and masked. */
export function scoreContinuations(model: CausalLM, requests: ScoreRequest[], opts: ScoreOptions = {}): ScoreResult[] {
  const batchSize = opts.batchSize ?? 16;
  const results: ScoreResult[] = [];
  for (let start = 0; start < requests.length; start += batchSize) {
    results.push(...scoreBatch(model, requests.slice(start, start + batchSize)));
  }
  return results;
}

function scoreBatch(model: CausalLM, batch: ScoreRequest[]): ScoreResult[] {
  batch.forEach((r, i) => {
    if (r.prompt.length === 0) throw new Error(`score request ${i}: empty prompt (prepend a BOS/EOS token to score from the start)`);
    if (r.continuation.length === 0) throw new Error(`score request ${i}: empty continuation`);
  });
  return tidy(() => noGrad(() => {
    const seqs = batch.map((r) => [...r.prompt, ...r.continuation]);
    const { ids, mask } = padBatch(seqs);
    const { hidden } = model.forward({ inputIds: ids, attentionMask: mask, logits: 'none' });
    // positions whose next-token distribution predicts a continuation token
    const rows: number[] = [];
    const cols: number[] = [];
    const targets: number[] = [];
    batch.forEach((r, b) => r.continuation.forEach((tok, j) => {
      rows.push(b);
      cols.push(r.prompt.length + j - 1);
      targets.push(tok);
    }));
    const picked = hidden.index([tensor(rows, { dtype: 'int64' }), tensor(cols, { dtype: 'int64' })]);
    const logp = model.logitsFrom(picked).to('float32').logSoftmax(-1);
    const target = tensor(targets, { dtype: 'int64' }).unsqueeze(1);
    const lp = logp.gather(1, target).squeeze(1).toFlatArray();
    const am = logp.argmax(-1).toFlatArray();
    let k = 0;
    return batch.map((r) => {
      const n = r.continuation.length;
      const logprobs = lp.slice(k, k + n);
      const argmax = am.slice(k, k + n);
      k += n;
      const sum = logprobs.reduce((a, b) => a + b, 0);
      return { logprobs, sum, mean: sum / n, argmax };
    });
  }));
}

/** Log-probabilities of the whole vocabulary at the last position of each prompt: [B, V] float32. */
export function nextTokenLogprobs(model: CausalLM, prompts: number[][]): Tensor {
  return tidy(() => noGrad(() => {
    const { ids, mask } = padBatch(prompts, 'left');
    const { logits } = model.forward({ inputIds: ids, attentionMask: mask, logits: 'last' });
    return logits!.to('float32').logSoftmax(-1);
  }));
}
