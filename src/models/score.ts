// Teacher-forced scoring: log-probabilities of continuation tokens given prompts, batched. Every metric (ROME's
// probability comparison, EasyEdit's token accuracy, multiple-choice log-likelihood) is built on this.
import { keep, noGrad, tensor, tidy, type Tensor } from '../tensor/index.js';
import type { CausalLM, KVCache } from './model.js';
import { padBatch } from './batch.js';
import { disposeCache } from './generate.js';

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
  /**
   * Score as the model generates: the prompt in one pass, then each continuation token in its own pass on the KV
   * cache, instead of one teacher-forced pass over prompt + continuation. The same numbers for a plain model (up to
   * rounding); what an installed patch that reads each pass's last token (GRACE) needs, since in one pass the last
   * token is the continuation's. Default: whenever such a patch is installed (ModulePatch.incremental).
   */
  incremental?: boolean;
}

/** Scores many (prompt, continuation) pairs; batches are right-padded and masked. */
export function scoreContinuations(model: CausalLM, requests: ScoreRequest[], opts: ScoreOptions = {}): ScoreResult[] {
  const batchSize = opts.batchSize ?? 16;
  const incremental = opts.incremental ?? model.installedPatches().some((p) => p.incremental);
  const results: ScoreResult[] = [];
  for (let start = 0; start < requests.length; start += batchSize) {
    const batch = requests.slice(start, start + batchSize);
    results.push(...(incremental ? scoreBatchIncremental(model, batch) : scoreBatch(model, batch)));
  }
  return results;
}

function checkRequests(batch: ScoreRequest[]): void {
  batch.forEach((r, i) => {
    if (r.prompt.length === 0) throw new Error(`score request ${i}: empty prompt (prepend a BOS/EOS token to score from the start)`);
    if (r.continuation.length === 0) throw new Error(`score request ${i}: empty continuation`);
  });
}

function resultOf(logprobs: number[], argmax: number[]): ScoreResult {
  const sum = logprobs.reduce((a, b) => a + b, 0);
  return { logprobs, sum, mean: sum / logprobs.length, argmax };
}

/**
 * Prompts left-padded in one pass with the KV cache, then continuation token j of every row in pass j (rows whose
 * continuation has ended get a masked padding token, which no patch treats as a query).
 */
function scoreBatchIncremental(model: CausalLM, batch: ScoreRequest[]): ScoreResult[] {
  checkRequests(batch);
  const steps = Math.max(...batch.map((r) => r.continuation.length));
  const { ids, mask } = padBatch(batch.map((r) => r.prompt), 'left');
  const logprobs: number[][] = batch.map(() => []);
  const argmax: number[][] = batch.map(() => []);
  let past: KVCache | undefined;
  try {
    let input = ids;
    for (let j = 0; j < steps; j++) {
      const next = tidy(() => noGrad(() => {
        const out = model.forward({ inputIds: input, attentionMask: mask, past, useCache: true, logits: 'last' });
        const logp = out.logits!.to('float32').logSoftmax(-1);
        const targets = batch.map((r) => r.continuation[Math.min(j, r.continuation.length - 1)]);
        const lp = logp.gather(1, tensor(targets, { dtype: 'int64' }).unsqueeze(1)).squeeze(1).toFlatArray();
        const am = logp.argmax(-1).toFlatArray();
        return { lp, am, cache: keep(out.past!) };
      }));
      if (past) disposeCache(past);
      past = next.cache;
      batch.forEach((r, b) => {
        if (j < r.continuation.length) {
          logprobs[b].push(next.lp[b]);
          argmax[b].push(next.am[b]);
        }
      });
      input = batch.map((r) => [j < r.continuation.length ? r.continuation[j] : 0]);
      batch.forEach((r, b) => mask[b].push(j < r.continuation.length ? 1 : 0));
    }
  } finally {
    if (past) disposeCache(past);
  }
  return batch.map((_, b) => resultOf(logprobs[b], argmax[b]));
}

function scoreBatch(model: CausalLM, batch: ScoreRequest[]): ScoreResult[] {
  checkRequests(batch);
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
      return resultOf(logprobs, argmax);
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
