// KnowEdit records (HF zjunlp/KnowEdit: ZsRE-test-all, wiki_counterfact, wiki_recent, WikiBio), read as EasyEdit's
// KnowEditDataset and examples/run_knowedit_llama2.py do:
//   subject (WikiBio: concept) → request.subject    prompt (WikiBio: text) → request.prompt
//   target_new (WikiBio: labels) → targetNew        ground_truth (optional) → groundTruth
//   rephrase_prompt (ZsRE; optional) → rephrases
//   portability.Reasoning → portability.reasoning             locality.Relation_Specificity → locality.relation_specificity
//   portability.Subject_Aliasing → portability.subject_aliasing   locality.Forgetfulness → locality.forgetfulness
//   portability.Logical_Generalization → portability.logical_generalization
// (any other key is kept, lower-cased). Probe items are {prompt, ground_truth}; answers (and targets) may be str,
// [str] or [[str, alias, ...]]: the first non-empty string is taken, as the scripts' ground_truth[0][0] does, and
// probes left without a prompt or an answer are dropped, as the scripts' empty entries are skipped. Aliases are not
// kept. Sanitation and ConvSent (other shapes) are not read.
import type { EditCase } from '../cases.js';
import { booleanFlags, Fields, type JsonObject } from './schema.js';

/** Parses one KnowEdit record. */
export function knoweditCase(r: unknown, index: number, where: string): EditCase {
  const f = new Fields(where);
  const o = f.record(r);
  const [subjectKey, promptKey, targetKey] = [either(o, 'subject', 'concept'), either(o, 'prompt', 'text'), either(o, 'target_new', 'labels')];
  const targetNew = f.firstString(o[targetKey], targetKey) ?? f.fail(targetKey, o[targetKey] === undefined ? 'is missing' : 'holds no non-empty string');
  const caseId = f.caseId(o.case_id, 'case_id', index);
  const request = f.request(
    { prompt: f.string(o[promptKey], promptKey), subject: f.string(o[subjectKey], subjectKey), targetNew, groundTruth: f.firstString(o.ground_truth, 'ground_truth'), caseId },
    { prompt: promptKey, subject: subjectKey, targetNew: targetKey },
  );
  if (request.groundTruth === undefined) delete request.groundTruth;
  const rephrase = o.rephrase_prompt;
  const lower = (name: string) => name.toLowerCase();
  return {
    caseId,
    request,
    rephrases: typeof rephrase === 'string' ? (rephrase.trim() ? [rephrase] : []) : f.strings(rephrase, 'rephrase_prompt', true),
    locality: f.probeLists(o.locality, 'locality', { rename: lower, dropEmpty: true }),
    portability: f.probeLists(o.portability, 'portability', { rename: lower, dropEmpty: true }),
    flags: booleanFlags(o),
  };
}

/** The key a record uses for a field that has an alternative name (WikiBio's concept / text / labels). */
function either(o: JsonObject, main: string, alternative: string): string {
  return o[main] === undefined && o[alternative] !== undefined ? alternative : main;
}
