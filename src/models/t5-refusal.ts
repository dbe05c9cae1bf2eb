// The registry entry for model_type 't5': it only refuses, so that loadModel on a T5 checkpoint says what the
// checkpoint is and what to use instead (loadT5Model, T5TextLM): an encoder-decoder is not a CausalLM (two stacks,
// two inputs, a cache that also holds the encoder side). Only registry.ts imports this file.
import type { Architecture } from './architecture.js';
import { t5NotCausalMessage } from './t5-model.js';
import { supportedModelTypes } from './registry.js';

function refusal(file: string): Error {
  const causal = supportedModelTypes().filter((t) => t !== 'bert');
  return new Error(`${file}: model_type "t5" is not a causal LM (loadModel supports: ${causal.join(', ')}): ${t5NotCausalMessage()}`);
}

const refuse = (): never => {
  throw refusal('config.json');
};

export const t5Refusal: Architecture<never> = {
  modelType: 't5',
  parseConfig(_raw, file) {
    throw refusal(file);
  },
  dims: refuse,
  templates: {
    layer: '', mlp: '', attn: '', rewriteModule: '', rewriteWeightLayout: 'out_in', mlpActivation: '', lnF: '', lmHead: '', embed: '', logits: '',
  },
  parameterShapes: refuse,
  canonicalName: refuse,
  modulePaths: refuse,
  forward: refuse,
  lmHead: refuse,
};
