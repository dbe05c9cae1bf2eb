// Context templates: short texts the model itself generates, prepended to the prompt so that the key and value
// generalise beyond one wording (kmeng01/rome rome_main.py get_context_templates; kmeng01/memit memit_main.py;
// util/generate.py generate_fast: top-k 5 sampling, `max_out_len` counts the prompt's tokens too).
import { Generator } from '../../tensor/index.js';
import { generate, type CausalLM } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';

/** Samples `count` continuations of each prompt to `maxTotalTokens` tokens (prompt included); returns full texts. */
export function sampleTexts(model: CausalLM, tok: Tokenizer, prompts: number[][], count: number, maxTotalTokens: number, generator: Generator): string[] {
  const batch = prompts.flatMap((p) => Array.from({ length: count }, () => p));
  const outs = generate(model, batch, { maxNewTokens: Math.max(0, maxTotalTokens - Math.min(...batch.map((p) => p.length))), doSample: true, topK: 5, generator, eosTokenId: null });
  return outs.map((ids, i) => tok.decode([...batch[i], ...ids], { skipSpecialTokens: true }).normalize('NFKD').replaceAll('\n\n', ' '));
}

/**
 * ROME: ["{}"] followed by, for each [length, count], `count` samples of `length` tokens from the start-of-text
 * token, each turned into "<text>. {}" (braces in generated text are removed so each template has one '{}').
 */
export function sampleContextTemplates(model: CausalLM, tok: Tokenizer, lengthParams: number[][], seed: number): string[] {
  const start = tok.bosTokenId ?? tok.eosTokenId;
  if (start === null) throw new Error('context templates: the tokenizer has neither a BOS nor an EOS token to start from');
  const generator = new Generator(seed);
  const templates = ['{}'];
  for (const [length, count] of lengthParams) {
    if (!Number.isInteger(length) || length < 2 || !Number.isInteger(count) || count < 0) {
      throw new Error(`context_template_length_params: expected [max tokens >= 2, count >= 0] pairs, got [${length}, ${count}]`);
    }
    if (count === 0) continue;
    for (const text of sampleTexts(model, tok, [[start]], count, length, generator)) templates.push(`${text.replace(/[{}]/g, '')}. {}`);
  }
  return templates;
}

/** MEMIT: [["{}"], [one 10-token sample from each of "The", "Therefore", "Because", "I", "You", + ". {}"]]. */
export function sampleMemitTemplates(model: CausalLM, tok: Tokenizer, seed: number): string[][] {
  const generator = new Generator(seed);
  const seeds = ['The', 'Therefore', 'Because', 'I', 'You'].map((w) => tok.encode(w));
  const texts = sampleTexts(model, tok, seeds, 1, 10, generator);
  return [['{}'], texts.map((t) => `${t.replace(/[{}]/g, ' ')}. {}`)];
}

/** Checks user-given templates: each needs exactly one '{}' (the place of the prompt). */
export function checkTemplates(templates: string[], source: string): string[] {
  if (templates.length === 0) throw new Error(`${source}: context_templates is empty`);
  templates.forEach((t, i) => {
    if (t.split('{}').length !== 2) throw new Error(`${source}: context template ${i} must contain exactly one '{}': ${JSON.stringify(t)}`);
  });
  return templates;
}
