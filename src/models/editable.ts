// The models editing runs on, causal or encoder-decoder, behind one set of functions: load by model_type, the
// text-level face, save, and the one pass every gradient-trained method needs — "the states that predict the target
// tokens after the prompt". A causal LM reads them from prompt ⧺ target (the positions from the prompt's last token
// on); a T5 reads the prompt in the encoder (EOS appended, as T5TextLM does) and the target in the decoder behind the
// decoder start token (positions 0 … n−1). Methods written on `targetStates` run on both without knowing which.
import { tensor, type Tensor } from '../tensor/index.js';
import type { Tokenizer } from '../io/tokenizer.js';
import { CausalLM, type ForwardOutput, type LanguageModel } from './model.js';
import { loadModel, type LoadOptions } from './load.js';
import { saveModel, type SaveOptions } from './save.js';
import { TextLM, type TextModel } from './text.js';
import { T5Model, isT5Checkpoint, loadT5Model, saveT5Model } from './t5-model.js';
import { T5TextLM, t5PromptIds } from './t5-text.js';
import { padBatch } from './batch.js';
import type { TraceSpec } from './trace.js';

/** A model the Editor can edit. */
export type EditableModel = CausalLM | T5Model;

export function isEncoderDecoder(model: LanguageModel): model is T5Model {
  return model instanceof T5Model;
}

/** The architecture family in words, for errors and reports. */
export function modelFamily(model: LanguageModel): 'causal' | 'encoder-decoder' {
  return isEncoderDecoder(model) ? 'encoder-decoder' : 'causal';
}

/** Loads a causal LM (the registry) or a T5 (model_type 't5') from a directory or a cached repo id. */
export function loadEditableModel(nameOrPath: string, opts: LoadOptions & { onWarning?: (m: string) => void } = {}): EditableModel {
  if (isT5Checkpoint(nameOrPath, opts.revision)) {
    return loadT5Model(nameOrPath, { dtype: opts.dtype, device: opts.device, revision: opts.revision, weightsFile: opts.weightsFile, onWarning: opts.onWarning });
  }
  return loadModel(nameOrPath, opts);
}

/** The TextModel evaluation talks to for a model (patches installed in it take part). */
export function textModelFor(model: LanguageModel, tokenizer: Tokenizer): TextModel {
  if (model instanceof T5Model) return new T5TextLM(model, tokenizer);
  if (model instanceof CausalLM) return new TextLM(model, tokenizer);
  throw new Error(`textModelFor: a ${model.modelType} model is neither a CausalLM nor a T5Model`);
}

/** Writes a Hugging Face checkpoint of either kind. */
export function saveEditableModel(model: LanguageModel, dir: string, opts: SaveOptions = {}): void {
  if (model instanceof T5Model) saveT5Model(model, dir, opts);
  else if (model instanceof CausalLM) saveModel(model, dir, opts);
  else throw new Error(`saveEditableModel: a ${model.modelType} model is neither a CausalLM nor a T5Model`);
}

export interface TargetPassOptions {
  trace?: TraceSpec[];
  parameterOverrides?: ReadonlyMap<string, Tensor>;
  withoutPatches?: boolean;
}

export interface TargetPass {
  /** Final-norm hidden states [B, T, d] of the sequence that predicts the targets (causal: prompt ⧺ target; T5: decoder). */
  hidden: Tensor;
  /** Per row, the positions of `hidden` (and of traced modules on that stack) whose outputs predict target token j. */
  positions: number[][];
  /** Per row, the position that reads the prompt's end: the prompt's last token (causal), the decoder start (T5). */
  promptLast: number[];
  /** The stack the positions index: 'causal' for a causal LM, 'decoder' for T5. */
  stack: 'causal' | 'decoder';
  out: ForwardOutput;
}

/**
 * One teacher-forced pass of prompt → target rows (right-padded). Run it inside tidy(). The target ids are what is
 * scored; a causal LM's row is prompt ⧺ target (the last position predicts nothing and is never read), a T5's encoder row
 * is the prompt with EOS and its decoder row start ⧺ target[:-1].
 */
export function targetStates(model: LanguageModel, prompts: number[][], targets: number[][], opts: TargetPassOptions = {}): TargetPass {
  if (prompts.length !== targets.length) throw new Error(`targetStates: ${prompts.length} prompts, ${targets.length} targets`);
  targets.forEach((t, i) => { if (t.length === 0) throw new Error(`targetStates: target ${i} is empty`); });
  if (model instanceof T5Model) {
    const c = model.config;
    const enc = padBatch(prompts.map((p) => t5PromptIds(model, p)), 'right', c.padTokenId);
    const dec = padBatch(targets.map((t) => [c.decoderStartTokenId, ...t.slice(0, -1)]), 'right', c.padTokenId);
    const out = model.forward({
      inputIds: enc.ids, attentionMask: enc.mask, decoderInputIds: dec.ids, decoderAttentionMask: dec.mask, logits: 'none', ...opts,
    });
    return { hidden: out.hidden, positions: targets.map((t) => t.map((_, j) => j)), promptLast: targets.map(() => 0), stack: 'decoder', out };
  }
  if (!(model instanceof CausalLM)) throw new Error(`targetStates: a ${model.modelType} model is neither a CausalLM nor a T5Model`);
  const { ids, mask } = padBatch(prompts.map((p, i) => [...p, ...targets[i]]));
  const out = model.forward({ inputIds: ids, attentionMask: mask, logits: 'none', ...opts });
  return {
    hidden: out.hidden,
    positions: prompts.map((p, i) => targets[i].map((_, j) => p.length - 1 + j)),
    promptLast: prompts.map((p) => p.length - 1),
    stack: 'causal',
    out,
  };
}

/** Gathers `hidden` [B, T, d] at each row's positions → one [n_i, d] tensor per row. */
export function rowsAt(hidden: Tensor, positions: number[][]): Tensor[] {
  return positions.map((pos, i) => hidden.select(0, i).index([tensor(pos, { dtype: 'int64', device: hidden.device })]));
}

export interface PrefixPass {
  hidden: Tensor;
  /** Per row, the position whose output predicts the token after prompt ⧺ prefix. */
  last: number[];
  out: ForwardOutput;
}

/** The position prefixStates reads for prompt → prefix (a causal LM's last token; a T5 decoder's position |prefix|). */
export function prefixLast(model: LanguageModel, prompt: number[], prefix: number[]): number {
  return model instanceof T5Model ? prefix.length : prompt.length + prefix.length - 1;
}

/**
 * One pass over prompt → prefix rows whose last position predicts the next token (greedy decoding, attribution at
 * the answer's position): a causal LM reads prompt ⧺ prefix (last = its final token); a T5 the prompt (+ EOS) in the
 * encoder and start ⧺ prefix in the decoder (last = prefix length). Run it inside tidy().
 */
export function prefixStates(model: LanguageModel, prompts: number[][], prefixes: number[][], opts: TargetPassOptions = {}): PrefixPass {
  if (model instanceof T5Model) {
    const c = model.config;
    const enc = padBatch(prompts.map((p) => t5PromptIds(model, p)), 'right', c.padTokenId);
    const dec = padBatch(prefixes.map((t) => [c.decoderStartTokenId, ...t]), 'right', c.padTokenId);
    const out = model.forward({ inputIds: enc.ids, attentionMask: enc.mask, decoderInputIds: dec.ids, decoderAttentionMask: dec.mask, logits: 'none', ...opts });
    return { hidden: out.hidden, last: prefixes.map((p, i) => prefixLast(model, prompts[i], p)), out };
  }
  if (!(model instanceof CausalLM)) throw new Error(`prefixStates: a ${model.modelType} model is neither a CausalLM nor a T5Model`);
  const rows = prompts.map((p, i) => [...p, ...prefixes[i]]);
  const { ids, mask } = padBatch(rows);
  const out = model.forward({ inputIds: ids, attentionMask: rows.every((r) => r.length === rows[0].length) ? undefined : mask, logits: 'none', ...opts });
  return { hidden: out.hidden, last: prompts.map((p, i) => prefixLast(model, p, prefixes[i])), out };
}
