// Text generation with a KV cache: greedy, temperature, top-k and top-p sampling, seedable, batched with left
// padding, stopping at EOS or after maxNewTokens, with a per-step streaming callback.
import {
  Generator, full, keep, multinomial, noGrad, tidy, type Tensor,
} from '../tensor/index.js';
import type { CausalLM, KVCache } from './model.js';
import { padBatch } from './batch.js';

export interface GenerateOptions {
  /** Tokens to generate per prompt (default 20). */
  maxNewTokens?: number;
  /** Sample instead of taking the arg-max (default: true when temperature/topK/topP is set). */
  doSample?: boolean;
  temperature?: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = off). */
  topP?: number;
  /** Seed for sampling (a fresh Generator); or pass one. */
  seed?: number;
  generator?: Generator;
  /** Stop a row when it emits this id (default: the model config's eos_token_id; null = never). */
  eosTokenId?: number | null;
  /** Called after every step with the token chosen for each row (-1 for rows already finished). */
  onStep?: (tokens: number[], step: number) => void;
  /** Recompute the whole sequence every step instead of using the KV cache (for verification). */
  noCache?: boolean;
}

/** Generates continuations for a batch of prompts (token ids, unpadded). Returns the new tokens of each row. */
export function generate(model: CausalLM, prompts: number[][], opts: GenerateOptions = {}): number[][] {
  if (prompts.length === 0 || prompts.some((p) => p.length === 0)) throw new Error('generate: every prompt needs at least one token');
  const maxNew = opts.maxNewTokens ?? 20;
  const sampling = opts.doSample ?? (opts.temperature !== undefined || opts.topK !== undefined || opts.topP !== undefined);
  const generator = opts.generator ?? (sampling ? new Generator(opts.seed ?? 0) : undefined);
  const eos = opts.eosTokenId === undefined ? defaultEos(model) : opts.eosTokenId;
  const { ids: rows, mask } = padBatch(prompts, 'left');
  const out: number[][] = prompts.map(() => []);
  const done = prompts.map(() => false);
  let past: KVCache | undefined;
  let pending = rows;
  try {
    for (let step = 0; step < maxNew && done.some((d) => !d); step++) {
      const { next, cache } = tidy(() => noGrad(() => {
        const r = model.forward({
          inputIds: opts.noCache ? rows : pending,
          attentionMask: mask,
          past: opts.noCache ? undefined : past,
          useCache: !opts.noCache,
          logits: 'last',
        });
        const chosen = chooseTokens(r.logits!, sampling, opts, generator);
        return { next: chosen, cache: r.past ? keep(r.past) : undefined };
      }));
      if (past) disposeCache(past);
      past = cache;
      const emitted = next.map((tok, b) => (done[b] ? -1 : tok));
      emitted.forEach((tok, b) => {
        if (tok < 0) return;
        out[b].push(tok);
        if (eos !== null && tok === eos) done[b] = true;
      });
      opts.onStep?.(emitted, step);
      next.forEach((tok, b) => rows[b].push(tok));
      mask.forEach((m) => m.push(1));
      pending = next.map((tok) => [tok]);
    }
  } finally {
    if (past) disposeCache(past);
  }
  return out;
}

function defaultEos(model: CausalLM): number | null {
  const e = model.source.rawConfig.eos_token_id;
  if (Array.isArray(e)) return e[0] ?? null;
  return typeof e === 'number' ? e : null;
}

/** Frees a KV cache's tensors. */
export function disposeCache(c: KVCache): void {
  for (const l of c.layers) {
    l.k.dispose();
    l.v.dispose();
  }
}

/** Picks one token per row from last-position logits [B, V] (greedy, or temperature / top-k / top-p sampling). */
export function chooseTokens(logits: Tensor, sampling: boolean, opts: GenerateOptions, generator?: Generator): number[] {
  const l = logits.to('float32');
  if (!sampling) return l.argmax(-1).toFlatArray();
  let scores = l.div(opts.temperature ?? 1);
  const k = opts.topK ?? 0;
  if (k > 0 && k < scores.shape[1]) {
    const kth = scores.topk(k, -1).values.narrow(1, k - 1, 1);
    scores = scores.maskedFill(scores.lt(kth), -Infinity);
  }
  const p = opts.topP ?? 1;
  if (p < 1) {
    const sorted = scores.sort(-1, true);
    const cumulative = sorted.values.softmax(-1).cumsum(-1);
    // drop a token when the mass before it already reaches p (the top token always stays)
    const before = cumulative.sub(sorted.values.softmax(-1));
    const dropSorted = before.ge(p);
    const drop = full(scores.shape, 0, { dtype: 'int64' }).scatter(1, sorted.indices, dropSorted.to('int64')).to('bool');
    scores = scores.maskedFill(drop, -Infinity);
  }
  return multinomial(scores.softmax(-1), 1, false, generator).squeeze(1).toFlatArray();
}

/** Greedy or sampled text continuation of one prompt, with streaming of decoded text. */
export function generateText(
  model: CausalLM,
  tokenizer: { encode(text: string): number[]; decode(ids: number[]): string },
  prompt: string,
  opts: GenerateOptions & { onText?: (delta: string) => void } = {},
): string {
  const ids = tokenizer.encode(prompt);
  let shown = '';
  const acc: number[] = [];
  const tokens = generate(model, [ids], {
    ...opts,
    onStep: (toks, step) => {
      opts.onStep?.(toks, step);
      if (toks[0] >= 0) acc.push(toks[0]);
      if (opts.onText) {
        const text = tokenizer.decode(acc);
        // hold back a trailing replacement char: a multi-byte character may be split across tokens
        if (!text.endsWith('\uFFFD') && text.length > shown.length) {
          opts.onText(text.slice(shown.length));
          shown = text;
        }
      }
    },
  });
  return tokenizer.decode(tokens[0]);
}
