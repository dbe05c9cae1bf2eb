// Registry entries that only refuse: loadModel on a checkpoint that is not a causal LM (BERT, T5) says what the
// checkpoint is and what to load it with, instead of just "unsupported". The message is built when the error is raised.
import type { Architecture } from './architecture.js';

export function refusingArchitecture(modelType: string, message: (file: string) => string): Architecture<never> {
  const refuse = (): never => {
    throw new Error(message('config.json'));
  };
  return {
    modelType,
    parseConfig(_raw, file) {
      throw new Error(message(file));
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
}
