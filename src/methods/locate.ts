// Where a fact is looked up: the subject's token positions in a prompt, and the representations of a module at
// those positions (kmeng01/rome repr_tools.py: get_words_idxs_in_templates, get_reprs_at_word_tokens).
import { cat, noGrad, tensor, tidy, type Tensor } from '../tensor/index.js';
import { padBatch, type CausalLM } from '../models/index.js';
import type { Tokenizer } from '../io/tokenizer.js';

export type FactToken = 'subject_last' | 'subject_first' | 'subject_first_after_last' | 'last';

/**
 * Token index of the subject in `template.replace('{}', subject)`, computed as the reference does: prefix (its
 * trailing space moved onto the subject), subject and suffix are tokenized separately and their lengths added.
 * 'subject_last' is the subject's last token; 'last' the prompt's last token.
 */
export function lookupIndex(tok: Tokenizer, template: string, subject: string, strategy: FactToken): number {
  if (template.split('{}').length !== 2) throw new Error(`lookupIndex: template must contain exactly one '{}': '${template}'`);
  if (strategy === 'last') return tok.encode(template.replace('{}', subject)).length - 1;
  const at = template.indexOf('{}');
  let prefix = template.slice(0, at);
  const suffix = template.slice(at + 2);
  let word = subject;
  if (prefix.length > 0) {
    if (!prefix.endsWith(' ')) throw new Error(`lookupIndex: the text before the subject must end with a space: '${template}'`);
    prefix = prefix.slice(0, -1);
    word = ` ${subject.trim()}`;
  }
  const prefixLen = prefix.length > 0 ? tok.encode(prefix).length : 0;
  const wordLen = tok.encode(word).length;
  const suffixLen = suffix.length > 0 ? tok.encode(suffix).length : 0;
  switch (strategy) {
    case 'subject_last': return prefixLen + wordLen - 1;
    case 'subject_first': return prefixLen;
    case 'subject_first_after_last': return prefixLen + wordLen - (suffixLen === 0 ? 1 : 0);
    default: throw new Error(`unknown fact_token '${strategy as string}'`);
  }
}

export interface TextAtIndex {
  /** Token ids of the full text. */
  ids: number[];
  /** Position to read. */
  index: number;
}

/**
 * Input and/or output of `module` at one position of each text, batched with right padding (as the reference).
 * Returns [n, width] tensors owned by the caller's scope.
 */
export function representationsAt(
  model: CausalLM,
  module: string,
  items: TextAtIndex[],
  opts: { input?: boolean; output?: boolean; batchSize?: number } = {},
): { input?: Tensor; output?: Tensor } {
  const batchSize = opts.batchSize ?? 32;
  const ins: Tensor[] = [];
  const outs: Tensor[] = [];
  for (let s = 0; s < items.length; s += batchSize) {
    const chunk = items.slice(s, s + batchSize);
    const r = tidy(() => noGrad(() => {
      const { ids, mask } = padBatch(chunk.map((c) => c.ids));
      const { traces } = model.forward({
        inputIds: ids, attentionMask: mask, logits: 'none',
        trace: [{ module, retainInput: opts.input ?? false, retainOutput: opts.output ?? false }],
      });
      const at = [tensor(chunk.map((_, i) => i), { dtype: 'int64' }), tensor(chunk.map((c) => c.index), { dtype: 'int64' })];
      const t = traces.get(module)!;
      return { input: t.input?.index(at), output: t.output?.index(at) };
    }));
    if (r.input) ins.push(r.input);
    if (r.output) outs.push(r.output);
  }
  return {
    input: ins.length === 0 ? undefined : ins.length === 1 ? ins[0] : cat(ins, 0),
    output: outs.length === 0 ? undefined : outs.length === 1 ? outs[0] : cat(outs, 0),
  };
}
