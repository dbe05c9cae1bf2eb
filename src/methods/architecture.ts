// Which architectures a method edits. Most methods are written on a causal LM's single stack (ROME's key is the
// subject's last token in the one residual stream); those that also edit an encoder-decoder set
// `encoderDecoder: true` (types.ts). requireCausal is the clear error the others give when handed a T5.
import { CausalLM, modelFamily, type LanguageModel } from '../models/index.js';

export function requireCausal(model: LanguageModel, method: string): CausalLM {
  if (model instanceof CausalLM) return model;
  throw new Error(`${method} edits causal language models only; ${model.source.dir} is a ${model.modelType} ` +
    `(${modelFamily(model)}) model. Methods that edit an encoder-decoder: ${encoderDecoderMethods().join(', ')} (README, "Architectures")`);
}

let listing: (() => string[]) | undefined;

/** Registered by the method registry (which imports every method) so that this file needs none of them. */
export function setEncoderDecoderListing(fn: () => string[]): void {
  listing = fn;
}

export function encoderDecoderMethods(): string[] {
  return listing?.() ?? [];
}
