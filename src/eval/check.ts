// The quick before/after check of an edit on its own prompt (what `lmedit edit` and the demo print): the mean
// log-probability of the new target and of the true answer after the edit prompt, measured on the edited model's
// text-level scorer (so it sees weight edits, patches and inference wrappers alike). Success = the new target is more
// likely than the true answer afterwards (ROME's efficacy on one prompt).
import type { EditableModel } from '../models/index.js';
import type { TextModel } from '../models/index.js';
import type { Editor, EditRecord, RequestReport } from '../editor/editor.js';
import type { EditRequest, NormalizedRequest } from '../methods/request.js';
import { normalizeRequests } from '../methods/request.js';

/** How the model answered one request. */
export interface PromptCheck {
  /** Mean log-probability of the new target's tokens after the prompt. */
  targetNew: number;
  /** Same for the true answer, when the request gives one. */
  groundTruth?: number;
}

export interface CheckedReport extends RequestReport {
  before: PromptCheck;
  after: PromptCheck;
  /** After the edit the new target is more likely than the true one (needs groundTruth). */
  success?: boolean;
}

export interface CheckedRecord extends EditRecord {
  reports: CheckedReport[];
}

/** Mean target log-probabilities on each request's own prompt. */
export function checkRequests(model: TextModel, requests: NormalizedRequest[]): PromptCheck[] {
  const reqs = requests.flatMap((r) => [
    { prompt: r.text, continuation: r.targetNew },
    ...(r.groundTruth ? [{ prompt: r.text, continuation: r.groundTruth }] : []),
  ]);
  const scores = model.score(reqs);
  let k = 0;
  return requests.map((r) => ({ targetNew: scores[k++].mean, groundTruth: r.groundTruth ? scores[k++].mean : undefined }));
}

/** editor.edit with each request checked on the edited model before and after its own edit. */
export function editWithChecks(editor: Editor<EditableModel>, requests: EditRequest | EditRequest[]): CheckedRecord[] {
  const list = Array.isArray(requests) ? requests : [requests];
  const groups = editor.method.batching === 'sequential' ? list.map((r) => [r]) : [list];
  return groups.map((g) => {
    const normalized = normalizeRequests(g);
    const before = checkRequests(editor.edited, normalized);
    const [record] = editor.edit(editor.method.batching === 'sequential' ? g[0] : g);
    const after = checkRequests(editor.edited, normalized);
    return {
      ...record,
      reports: record.reports.map((r, i) => ({
        ...r, before: before[i], after: after[i],
        success: after[i].groundTruth === undefined ? undefined : after[i].targetNew > after[i].groundTruth,
      })),
    };
  });
}
