// Scoring and generation for the T5 encoder-decoder, at token level (scoreT5, generateT5) and as the TextModel that
// evaluation talks to (T5TextLM). score(prompt → continuation): encoder input = prompt, decoder input =
// decoder_start_token_id + continuation[:-1], the continuation's log-probabilities read at each decoder position
// (teacher-forced in one pass, or step by step on the decoder cache for patches that read each pass's last token).
// Generation: the encoder once per batch, then the decoder token by token from decoder_start_token_id with the
// self-attention cache growing and the cross-attention keys/values computed on the first step only.
import {
  Generator, keep, noGrad, tensor, tidy, type Tensor,
} from '../tensor/index.js';
import type { Tokenizer } from '../io/tokenizer.js';
import { padBatch } from './batch.js';
import { chooseTokens, type GenerateOptions } from './generate.js';
import type { ScoreOptions, ScoreRequest, ScoreResult } from './score.js';
import type { TextGeneration, TextModel, TextScoreRequest, TextScoreResult } from './text.js';
import { disposeT5Cache, type T5Cache, type T5Model } from './t5-model.js';

/**
 * Frees the self-attention K/V of a cache that a newer step replaced; its cross K/V, encoder output and mask are the
 * newer cache's too (computed once per prompt), so they stay.
 */
function disposeSelfCache(c: T5Cache): void {
  for (const l of c.layers) {
    l.k.dispose();
    l.v.dispose();
  }
}

function resultOf(logprobs: number[], argmax: number[]): ScoreResult {
  const sum = logprobs.reduce((a, b) => a + b, 0);
  return { logprobs, sum, mean: sum / logprobs.length, argmax };
}

function checkRequests(batch: ScoreRequest[]): void {
  batch.forEach((r, i) => {
    if (r.prompt.length === 0) throw new Error(`score request ${i}: empty prompt (a T5 encoder input needs at least one token, e.g. EOS)`);
    if (r.continuation.length === 0) throw new Error(`score request ${i}: empty continuation`);
  });
}

/** Scores (prompt → continuation) pairs on a T5: encoder input = prompt, decoder labels = continuation. */
export function scoreT5(model: T5Model, requests: ScoreRequest[], opts: ScoreOptions = {}): ScoreResult[] {
  const batchSize = opts.batchSize ?? 16;
  const incremental = opts.incremental ?? model.installedPatches().some((p) => p.incremental);
  const results: ScoreResult[] = [];
  for (let start = 0; start < requests.length; start += batchSize) {
    const batch = requests.slice(start, start + batchSize);
    checkRequests(batch);
    results.push(...(incremental ? scoreIncremental(model, batch) : scoreTeacherForced(model, batch)));
  }
  return results;
}

function scoreTeacherForced(model: T5Model, batch: ScoreRequest[]): ScoreResult[] {
  const start = model.config.decoderStartTokenId;
  return tidy(() => noGrad(() => {
    const enc = padBatch(batch.map((r) => r.prompt), 'right', model.config.padTokenId);
    const dec = padBatch(batch.map((r) => [start, ...r.continuation.slice(0, -1)]), 'right', model.config.padTokenId);
    const { hidden } = model.forward({
      inputIds: enc.ids, attentionMask: enc.mask, decoderInputIds: dec.ids, decoderAttentionMask: dec.mask, logits: 'none',
    });
    const rows: number[] = [];
    const cols: number[] = [];
    const targets: number[] = [];
    batch.forEach((r, b) => r.continuation.forEach((tok, j) => {
      rows.push(b);
      cols.push(j);
      targets.push(tok);
    }));
    const picked = hidden.index([tensor(rows, { dtype: 'int64', device: model.device }), tensor(cols, { dtype: 'int64', device: model.device })]);
    const logp = model.logitsFrom(picked).to('float32').logSoftmax(-1);
    const lp = logp.gather(1, tensor(targets, { dtype: 'int64', device: model.device }).unsqueeze(1)).squeeze(1).toFlatArray();
    const am = logp.argmax(-1).toFlatArray();
    let k = 0;
    return batch.map((r) => {
      const n = r.continuation.length;
      const out = resultOf(lp.slice(k, k + n), am.slice(k, k + n));
      k += n;
      return out;
    });
  }));
}

/** One decoder pass per continuation token on the cache (rows already finished get a masked pad token). */
function scoreIncremental(model: T5Model, batch: ScoreRequest[]): ScoreResult[] {
  const { padTokenId: pad, decoderStartTokenId: start } = model.config;
  const enc = padBatch(batch.map((r) => r.prompt), 'right', pad);
  const steps = Math.max(...batch.map((r) => r.continuation.length));
  const logprobs: number[][] = batch.map(() => []);
  const argmax: number[][] = batch.map(() => []);
  const decMask: number[][] = batch.map(() => [1]);
  let input: number[][] = batch.map(() => [start]);
  let past: T5Cache | undefined;
  try {
    for (let j = 0; j < steps; j++) {
      const next = tidy(() => noGrad(() => {
        const out = model.forward({
          inputIds: enc.ids, attentionMask: enc.mask, decoderInputIds: input, decoderAttentionMask: decMask,
          past, useCache: true, logits: 'last',
        });
        const logp = out.logits!.to('float32').logSoftmax(-1);
        const targets = batch.map((r) => r.continuation[Math.min(j, r.continuation.length - 1)]);
        const lp = logp.gather(1, tensor(targets, { dtype: 'int64', device: model.device }).unsqueeze(1)).squeeze(1).toFlatArray();
        return { lp, am: logp.argmax(-1).toFlatArray(), cache: keep(out.past!) };
      }));
      if (past) disposeSelfCache(past);
      past = next.cache;
      batch.forEach((r, b) => {
        if (j < r.continuation.length) {
          logprobs[b].push(next.lp[b]);
          argmax[b].push(next.am[b]);
        }
      });
      input = batch.map((r) => [j < r.continuation.length ? r.continuation[j] : pad]);
      batch.forEach((r, b) => decMask[b].push(j < r.continuation.length ? 1 : 0));
    }
  } finally {
    if (past) disposeT5Cache(past);
  }
  return batch.map((_, b) => resultOf(logprobs[b], argmax[b]));
}

/** Decoder log-probabilities of the first output token after each prompt: [B, V] float32. */
export function firstTokenLogprobsT5(model: T5Model, prompts: number[][]): Tensor {
  return tidy(() => noGrad(() => {
    const enc = padBatch(prompts, 'right', model.config.padTokenId);
    const { logits } = model.forward({ inputIds: enc.ids, attentionMask: enc.mask, logits: 'last' });
    return logits!.to('float32').logSoftmax(-1);
  }));
}

/** Generates decoder tokens for a batch of encoder prompts (unpadded ids); returns each row's new tokens. */
export function generateT5(model: T5Model, prompts: number[][], opts: GenerateOptions = {}): number[][] {
  if (prompts.length === 0 || prompts.some((p) => p.length === 0)) throw new Error('generate: every prompt needs at least one token');
  const maxNew = opts.maxNewTokens ?? 20;
  const sampling = opts.doSample ?? (opts.temperature !== undefined || opts.topK !== undefined || opts.topP !== undefined);
  const generator = opts.generator ?? (sampling ? new Generator(opts.seed ?? 0) : undefined);
  const eos = opts.eosTokenId === undefined ? model.config.eosTokenId : opts.eosTokenId;
  const enc = padBatch(prompts, 'right', model.config.padTokenId);
  const rows: number[][] = prompts.map(() => [model.config.decoderStartTokenId]);
  const out: number[][] = prompts.map(() => []);
  const done = prompts.map(() => false);
  let past: T5Cache | undefined;
  let pending = rows.map((r) => [...r]);
  try {
    for (let step = 0; step < maxNew && done.some((d) => !d); step++) {
      const { next, cache } = tidy(() => noGrad(() => {
        const r = model.forward({
          inputIds: enc.ids, attentionMask: enc.mask,
          decoderInputIds: opts.noCache ? rows : pending,
          past: opts.noCache ? undefined : past,
          useCache: !opts.noCache,
          logits: 'last',
        });
        return { next: chooseTokens(r.logits!, sampling, opts, generator), cache: r.past ? keep(r.past) : undefined };
      }));
      if (past) disposeSelfCache(past);
      past = cache;
      const emitted = next.map((tok, b) => (done[b] ? -1 : tok));
      emitted.forEach((tok, b) => {
        if (tok < 0) return;
        out[b].push(tok);
        if (eos !== null && tok === eos) done[b] = true;
      });
      opts.onStep?.(emitted, step);
      next.forEach((tok, b) => rows[b].push(tok));
      pending = next.map((tok) => [tok]);
    }
  } finally {
    if (past) disposeT5Cache(past);
  }
  return out;
}


export interface T5TextOptions {
  /**
   * Append the EOS id to every encoder input, as T5 tokenizers do (`</s>` after the text). Default true when the
   * config has an eos_token_id.
   */
  appendEos?: boolean;
}

/** A T5 and its tokenizer as the TextModel evaluation uses; installed patches take part. */
/** Encoder input of a T5 prompt: EOS appended unless present (what T5 tokenizers do to text). */
export function t5PromptIds(model: T5Model, ids: number[]): number[] {
  const eos = model.config.eosTokenId;
  return eos !== null && ids[ids.length - 1] !== eos ? [...ids, eos] : ids;
}

export class T5TextLM implements TextModel {
  private readonly appendEos: boolean;

  constructor(readonly model: T5Model, readonly tokenizer: Tokenizer, opts: T5TextOptions = {}) {
    this.appendEos = (opts.appendEos ?? true) && model.config.eosTokenId !== null;
  }

  /** Relative positions: no hard limit (long inputs warn, see T5Model). */
  get maxPositions(): number {
    return Infinity;
  }

  /** Encoder input ids of a prompt. */
  encodePrompt(text: string): number[] {
    const ids = this.tokenizer.encode(text);
    return this.appendEos ? t5PromptIds(this.model, ids) : ids;
  }

  score(requests: TextScoreRequest[], opts: ScoreOptions = {}): TextScoreResult[] {
    const prompts = new Map<string, number[]>();
    const answers = new Map<string, number[]>();
    const enc = (memo: Map<string, number[]>, t: string, f: (t: string) => number[]) => memo.get(t) ?? (memo.set(t, f(t)).get(t)!);
    // a continuation is scored as given (no EOS appended; callers strip the leading space T5 answers do not need)
    const encoded = requests.map((r) => ({
      prompt: enc(prompts, r.prompt, (t) => this.encodePrompt(t)),
      continuation: enc(answers, r.continuation, (t) => this.tokenizer.encode(t)),
    }));
    return scoreT5(this.model, encoded, opts).map((s, i) => ({ ...s, ids: encoded[i].continuation }));
  }

  generate(prompts: string[], opts: GenerateOptions = {}): TextGeneration[] {
    const ids = prompts.map((p) => this.encodePrompt(p));
    return generateT5(this.model, ids, opts).map((t) => {
      const eos = this.model.config.eosTokenId;
      const shown = eos !== null && t[t.length - 1] === eos ? t.slice(0, -1) : t;
      return { ids: t, text: this.tokenizer.decode(shown) };
    });
  }
}

/** Greedy or sampled T5 output for one text prompt, streaming decoded text (what `lmedit generate` prints). */
export function generateT5Text(text: T5TextLM, prompt: string, opts: GenerateOptions & { onText?: (delta: string) => void } = {}): string {
  const acc: number[] = [];
  let shown = '';
  const eos = text.model.config.eosTokenId;
  const [ids] = generateT5(text.model, [text.encodePrompt(prompt)], {
    ...opts,
    onStep: (toks, step) => {
      opts.onStep?.(toks, step);
      if (toks[0] >= 0 && toks[0] !== eos) acc.push(toks[0]);
      const t = text.tokenizer.decode(acc);
      // hold back a trailing replacement char: a multi-byte character may be split across tokens
      if (opts.onText && !t.endsWith('\uFFFD') && t.length > shown.length) {
        opts.onText(t.slice(shown.length));
        shown = t;
      }
    },
  });
  return text.tokenizer.decode(eos !== null && ids[ids.length - 1] === eos ? ids.slice(0, -1) : ids);
}
