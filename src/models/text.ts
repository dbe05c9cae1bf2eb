// The text-level face of a language model: score a continuation after a prompt, generate after a prompt, both as
// strings. Evaluation talks to models only through this (an EditedModel with an inference wrapper — IKE's
// demonstrations, a retrieved memory — rewrites the text before the weights see it, so token ids are not enough).
// `TextLM` is the plain implementation over a causal LM and its tokenizer: prompt and continuation are encoded
// separately, exactly as the token-level scorer is fed everywhere else.
import type { Tokenizer } from '../io/tokenizer.js';
import type { CausalLM } from './model.js';
import { scoreContinuations, type ScoreOptions, type ScoreResult } from './score.js';
import { generate, type GenerateOptions } from './generate.js';

export interface TextScoreRequest {
  prompt: string;
  /** Scored after the prompt as given (callers add the leading space answers need). */
  continuation: string;
}

export interface TextScoreResult extends ScoreResult {
  /** Token ids of the continuation that were scored. */
  ids: number[];
}

export interface TextGeneration {
  /** New token ids (not the prompt's). */
  ids: number[];
  /** Their decoded text. */
  text: string;
}

export interface TextModel {
  readonly tokenizer: Tokenizer;
  /** Tokens the model can attend to at once (Infinity when unlimited). */
  readonly maxPositions: number;
  score(requests: TextScoreRequest[], opts?: ScoreOptions): TextScoreResult[];
  generate(prompts: string[], opts?: GenerateOptions): TextGeneration[];
}

/** A causal LM and its tokenizer as a TextModel; whatever is installed in the model (patches) takes part. */
export class TextLM implements TextModel {
  constructor(readonly model: CausalLM, readonly tokenizer: Tokenizer) {}

  get maxPositions(): number {
    return this.model.arch.learnedPositions ? this.model.dims.maxPositions : Infinity;
  }

  score(requests: TextScoreRequest[], opts: ScoreOptions = {}): TextScoreResult[] {
    // a case's probes share prompts and answers: encode each distinct text once
    const memo = new Map<string, number[]>();
    const enc = (t: string) => memo.get(t) ?? (memo.set(t, this.tokenizer.encode(t)).get(t)!);
    const encoded = requests.map((r) => ({ prompt: enc(r.prompt), continuation: enc(r.continuation) }));
    encoded.forEach((e, i) => {
      const n = e.prompt.length + e.continuation.length;
      if (n > this.maxPositions) {
        throw new Error(`score request ${i}: prompt ${JSON.stringify(clip(requests[i].prompt))} plus continuation is ${n} tokens, more than the model's ${this.maxPositions} positions`);
      }
    });
    return scoreContinuations(this.model, encoded, opts).map((s, i) => ({ ...s, ids: encoded[i].continuation }));
  }

  generate(prompts: string[], opts: GenerateOptions = {}): TextGeneration[] {
    const ids = prompts.map((p) => this.tokenizer.encode(p));
    const room = Math.min(...ids.map((x) => this.maxPositions - x.length));
    if (room <= 0) throw new Error(`generate: a prompt already fills the model's ${this.maxPositions} positions`);
    const maxNewTokens = Math.min(opts.maxNewTokens ?? 20, room);
    return generate(this.model, ids, { ...opts, maxNewTokens }).map((t) => ({ ids: t, text: this.tokenizer.decode(t) }));
  }
}

function clip(s: string, n = 60): string {
  return s.length <= n ? s : `${s.slice(0, n)}…`;
}
