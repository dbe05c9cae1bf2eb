// MemPrompt (Madaan et al., EMNLP 2022, "Memory-assisted prompt editing to improve GPT-3 after deployment";
// madaan/memprompt, not in EasyEdit). No weight changes: an edit adds a (question → feedback) entry to the session's
// one memory, and a query whose normalised form is near a stored question is answered with that feedback in the prompt
// (memory.ts: keys and matching; wrapper.ts: the prompt; docs/memprompt.md).
import type { EditMethod, MethodSession } from '../types.js';
import { memorySession } from '../memory-session.js';
import { checkMemPromptHparams, MEMPROMPT_SCHEMA, type MemPromptHparams } from './hparams.js';
import { memPromptSettings, MemPromptWrapper } from './wrapper.js';

export { MemPromptWrapper, MEMPROMPT_STATE_FORMAT, memPromptSettings, fill, type MemPromptSettings } from './wrapper.js';
export { MemPromptMemory, normalizeKey, levenshtein, type MemoryEntry, type MemoryHit, type MatchSettings } from './memory.js';
export { MEMPROMPT_SCHEMA, MEMPROMPT_RETRIEVERS, type MemPromptHparams } from './hparams.js';

export const memprompt: EditMethod<MemPromptHparams> = {
  name: 'MEMPROMPT',
  schema: MEMPROMPT_SCHEMA,
  batching: 'sequential',
  encoderDecoder: true, // text in, text out: the wrapper never looks inside the model

  check(_model, h, source) {
    checkMemPromptHparams(h, source);
  },

  open(_model, h): MethodSession {
    return memorySession(new MemPromptWrapper(memPromptSettings(h)), (w): w is MemPromptWrapper => w instanceof MemPromptWrapper, (w, requests, editId) => w.addEdits(requests, editId),
      (e, r) => ({ caseId: e.caseId, prompt: e.question, targetNew: r.targetNew, extra: { key: e.key, feedback: e.feedback } }),
    );
  },

  loadWrapper(state) {
    return MemPromptWrapper.fromState(state);
  },
};
