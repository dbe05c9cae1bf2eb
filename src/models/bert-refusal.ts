// The registry entry for model_type 'bert': it only refuses, so that loadModel on a BERT checkpoint says what the
// checkpoint is and what to use instead (loadBertModel, BertEmbedder), not just that the type is unsupported.
// Only registry.ts imports this file (it reads the registry lazily, when the error is raised).
import { bertNotCausalMessage } from './bert.js';
import { refusingArchitecture } from './refusal.js';
import { supportedModelTypes } from './registry.js';

export const bertRefusal = refusingArchitecture('bert', (file) =>
  `${file}: model_type "bert" is not supported (supported: ${supportedModelTypes().filter((t) => t !== 'bert').join(', ')}): ${bertNotCausalMessage()}`);
