// The session of a memory-based editor (IKE, MemPrompt, MeLLo): one inference wrapper holds every edit's items; an
// edit adds the requests' items to it under the edit id and returns it; a loaded or replayed model's wrapper of the
// same kind is adopted so that later edits extend it. The wrapper belongs to the edited model once an edit used it
// (EditedModel.dispose frees it), so the session's dispose frees it only when no edit ever returned it.
import type { NormalizedRequest } from './request.js';
import type { EditDiagnostics, InferenceWrapper, MethodSession } from './types.js';

/**
 * `add` puts the requests' items (one per request) into the wrapper under the edit id and returns them; `describe`
 * gives each item's diagnostics (`seconds` is filled in).
 */
export function memorySession<W extends InferenceWrapper, T>(
  initial: W, isOwn: (w: InferenceWrapper) => w is W,
  add: (wrapper: W, requests: NormalizedRequest[], editId: string) => T[],
  describe: (item: T, request: NormalizedRequest) => Omit<EditDiagnostics, 'seconds'>,
): MethodSession {
  let wrapper = initial;
  let given = false;
  return {
    adopt(edited) {
      const found = edited.inferenceWrappers().find(isOwn);
      if (found && found !== wrapper) {
        wrapper.dispose();
        wrapper = found;
        given = true;
      }
    },
    compute(requests, c) {
      given = true;
      const started = performance.now();
      const added = add(wrapper, requests, c.editId);
      const seconds = (performance.now() - started) / 1000 / Math.max(1, added.length);
      return { deltas: [], wrapper, statsKeys: [], diagnostics: added.map((item, i) => ({ ...describe(item, requests[i]), seconds })) };
    },
    dispose: () => {
      if (!given) wrapper.dispose();
    },
  };
}
