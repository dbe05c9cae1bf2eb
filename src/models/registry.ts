// config.json `model_type` → architecture. Adding an architecture = one file + one line here.
import type { Architecture } from './architecture.js';
import { gpt2 } from './gpt2.js';
import { gptj } from './gptj.js';
import { gptNeox } from './gpt_neox.js';
import { llama, mistral } from './llama.js';
import { qwen2 } from './qwen2.js';
import { opt } from './opt.js';
import { bertRefusal } from './bert-refusal.js';
import { t5Refusal } from './t5-refusal.js';

const REGISTRY = new Map<string, Architecture>(
  [gpt2, gptj, gptNeox, llama, mistral, qwen2, opt].map((a) => [a.modelType, a]),
);

/** Types loadModel only refuses with a pointer to their own loader, not listed as supported (BERT: loadBertModel; T5: loadT5Model). */
const REFUSED = new Map<string, Architecture>([bertRefusal, t5Refusal].map((a) => [a.modelType, a]));

export function registerArchitecture(arch: Architecture): void {
  REGISTRY.set(arch.modelType, arch);
}

export function architectureFor(modelType: unknown, file: string): Architecture {
  const arch = typeof modelType === 'string' ? REGISTRY.get(modelType) ?? REFUSED.get(modelType) : undefined;
  if (arch === undefined) {
    throw new Error(`${file}: model_type ${JSON.stringify(modelType)} is not supported (supported: ${[...REGISTRY.keys()].join(', ')})`);
  }
  return arch;
}

export function supportedModelTypes(): string[] {
  return [...REGISTRY.keys()];
}
