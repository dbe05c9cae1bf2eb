// The MLP activation a patch applies like the model's own (T-Patcher's neurons, WISE's router, CaliNet's slots): the
// four forms the supported architectures use, and the model's, read from its config as Hugging Face's ACT2FN does.
import type { Tensor } from '../tensor/index.js';
import type { LanguageModel } from '../models/index.js';

export type Activation = 'gelu_tanh' | 'gelu' | 'silu' | 'relu';

/** Hugging Face activation names → the form (gelu_new, gelu_pytorch_tanh and gelu_fast are the tanh approximation). */
const BY_NAME: Record<string, Activation> = {
  gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', gelu_fast: 'gelu_tanh', gelu: 'gelu', silu: 'silu', swish: 'silu', relu: 'relu',
};

export function applyActivation(t: Tensor, a: Activation): Tensor {
  switch (a) {
    case 'gelu_tanh': return t.gelu('tanh');
    case 'gelu': return t.gelu('none');
    case 'silu': return t.silu();
    case 'relu': return t.relu();
  }
}

/** The form of a Hugging Face activation name, or undefined. */
export function activationNamed(name: string): Activation | undefined {
  return BY_NAME[name];
}

/**
 * The model's MLP activation (config activation_function or hidden_act; GPT-2/GPT-J gelu_new, NeoX gelu, OPT relu,
 * else silu; a T5's feed_forward_proj without its `gated-` prefix, gated-gelu being the tanh GELU as HF maps it).
 */
export function modelActivation(model: LanguageModel, method: string): Activation {
  const raw = model.source.rawConfig;
  if (model.modelType === 't5') {
    const proj = String(raw.feed_forward_proj ?? 'relu');
    const act = proj === 'gated-gelu' ? 'gelu_new' : proj.replace(/^gated-/, '');
    const form = BY_NAME[act];
    if (!form) throw new Error(`${method}: the T5's feed_forward_proj '${proj}' is not supported`);
    return form;
  }
  const name = String(raw.activation_function ?? raw.hidden_act ?? (model.modelType === 'gpt_neox' ? 'gelu' : model.modelType === 'opt' ? 'relu' : model.modelType.startsWith('gpt') ? 'gelu_new' : 'silu'));
  const a = BY_NAME[name];
  if (!a) throw new Error(`${method}: the model's MLP activation '${name}' is not supported (${Object.keys(BY_NAME).join(', ')})`);
  return a;
}
