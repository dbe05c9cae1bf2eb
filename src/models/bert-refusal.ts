// The registry entry for model_type 'bert': it only refuses, so that loadModel on a BERT checkpoint says what the
// checkpoint is and what to use instead (loadBertModel, BertEmbedder), not just that the type is unsupported.
// Only registry.ts imports this file (it reads the registry lazily, when the error is raised).
import type { Architecture } from './architecture.js';
import { bertNotCausalMessage } from './bert.js';
import { supportedModelTypes } from './registry.js';

function refusal(file: string): Error {
  const causal = supportedModelTypes().filter((t) => t !== 'bert');
  return new Error(`${file}: model_type "bert" is not supported (supported: ${causal.join(', ')}): ${bertNotCausalMessage()}`);
}

const refuse = (): never => {
  throw refusal('config.json');
};

export const bertRefusal: Architecture<never> = {
  modelType: 'bert',
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
