// The two kinds of extra text a WISE edit trains on (EasyEdit easyeditor/models/wise/utils.py):
//   context templates  get_context_templates(length_params=[[5,5],[10,5]]): greedy continuations (num_beams 1, one
//                      sequence each) of "I", "You", "Because", "Yes", "Q: " with 5 and then 10 new tokens, from the
//                      unedited model, decoded without special tokens; the templates are '{}' and each text + ' {}'.
//   an irrelevant prompt  tokenize's loc_prompt, the batch's last row, on which the side memory must stay silent.
//                      EasyEdit takes these from the caller (its README: zsRE train questions with answers); lmedit
//                      draws one per request from a text file of non-evaluated text (WikiText-2 test by default): the
//                      first sentence of a paragraph line, chosen by a hash of the session seed and the request, so a
//                      resumed run draws what an uninterrupted one does.
import { readFileSync } from 'node:fs';
import { generate, type CausalLM } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import { stringSeed } from '../../util/random.js';
import type { NormalizedRequest } from '../request.js';

const SEEDS = ['I', 'You', 'Because', 'Yes', 'Q: '];
const LENGTHS = [5, 10];
/** Longest irrelevant prompt, in tokens (WikiText sentences run long; zsRE's loc prompts are ~10-20 tokens). */
export const LOC_MAX_TOKENS = 40;

function eosOf(model: CausalLM): number | null {
  const e = model.source.rawConfig.eos_token_id;
  return typeof e === 'number' ? e : Array.isArray(e) && typeof e[0] === 'number' ? e[0] : null;
}

/** EasyEdit's WISE context templates, from greedy generation on the model as it is now (call it unedited). */
export function wiseContextTemplates(model: CausalLM, tok: Tokenizer): string[] {
  const eos = eosOf(model);
  const prompts = SEEDS.map((s) => tok.encode(s));
  const out = ['{}'];
  for (const n of LENGTHS) {
    const gen = generate(model, prompts, { maxNewTokens: n, doSample: false });
    gen.forEach((g, i) => out.push(`${tok.decode([...prompts[i], ...g].filter((t) => t !== eos))} {}`));
  }
  return out;
}

/** Candidate irrelevant prompts of a text file: the first sentence of every paragraph line (not headings), 5-40 words. */
export function locCandidates(file: string): string[] {
  const out: string[] = [];
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('=')) continue;
    const end = line.indexOf(' . ');
    const sentence = end < 0 ? line : line.slice(0, end + 2);
    const words = sentence.split(/\s+/).length;
    if (words >= 5 && words <= 40) out.push(sentence);
  }
  if (out.length === 0) throw new Error(`WISE: ${file} holds no usable irrelevant prompt (lines of 5-40 words)`);
  return out;
}

/** The irrelevant prompt of one request (seeded by the session seed and the request's text and target). */
export function locPromptFor(candidates: string[], seed: number, r: NormalizedRequest): string {
  return candidates[stringSeed(seed, `loc\u0000${r.text}\u0000${r.targetNew}`) % candidates.length];
}
