// MeLLo (Zhong et al., EMNLP 2023, "MQuAKE: Assessing Knowledge Editing in Language Models via Multi-Hop
// Questions"; princeton-nlp/MQuAKE run_mello.ipynb). No weight changes: an edit adds its fact as a sentence to the
// session's one memory; a question is answered by the model decomposing it into subquestions, each checked against
// the top-1 retrieved edited fact (loop.ts; the prompt in prompt.ts; docs/mello.md). It needs a model that follows
// the few-shot format; see docs/mello.md for what it measures on the small fixtures.
import type { EditMethod, MethodSession } from '../types.js';
import { memorySession } from '../memory-session.js';
import { checkMelloHparams, MELLO_SCHEMA, type MelloHparams } from './hparams.js';
import { taskPrompt } from './prompt.js';
import { MelloWrapper, type MelloSettings } from './wrapper.js';

export { MelloWrapper, MELLO_STATE_FORMAT, type MelloFact, type MelloSettings } from './wrapper.js';
export { runMello, cutGeneration, firstTranscript, type MelloTrace, type MelloHop, type MelloOutcome, type LoopSettings } from './loop.js';
export { BUILTIN_PROMPT, taskPrompt } from './prompt.js';
export { MELLO_SCHEMA, type MelloHparams } from './hparams.js';

export function melloSettings(h: MelloHparams): MelloSettings {
  return {
    maxHops: h.max_hops, maxNewTokens: h.max_new_tokens, taskPrompt: taskPrompt(h.prompt_file, h.prompt_examples),
    retriever: h.retriever === 'tfidf' ? { kind: 'tfidf' } : { kind: 'bm25', k1: h.bm25_k1, b: h.bm25_b },
  };
}

export const mello: EditMethod<MelloHparams> = {
  name: 'MELLO',
  schema: MELLO_SCHEMA,
  batching: 'sequential',
  encoderDecoder: true, // text in, text out: the wrapper never looks inside the model

  check(_model, h, source) {
    checkMelloHparams(h, source);
    taskPrompt(h.prompt_file, h.prompt_examples);
  },

  open(_model, h): MethodSession {
    return memorySession(new MelloWrapper(melloSettings(h)), (w): w is MelloWrapper => w instanceof MelloWrapper, (w, requests, editId) => w.addFacts(requests, editId),
      (f, r) => ({ caseId: f.caseId, prompt: r.text, targetNew: r.targetNew, extra: { sentence: f.sentence } }),
    );
  },

  loadWrapper(state) {
    return MelloWrapper.fromState(state);
  },
};
