// The registry entry for model_type 't5': it only refuses, so that loadModel on a T5 checkpoint says what the
// checkpoint is and what to use instead (loadT5Model, T5TextLM): an encoder-decoder is not a CausalLM (two stacks,
// two inputs, a cache that also holds the encoder side). Only registry.ts imports this file.
import { t5NotCausalMessage } from './t5-model.js';
import { refusingArchitecture } from './refusal.js';
import { supportedModelTypes } from './registry.js';

export const t5Refusal = refusingArchitecture('t5', (file) =>
  `${file}: model_type "t5" is not a causal LM (loadModel supports: ${supportedModelTypes().filter((t) => t !== 't5').join(', ')}): ${t5NotCausalMessage()}`);
