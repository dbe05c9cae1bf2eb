// CounterFact in the original ROME/MEMIT format (counterfact.json, multi_counterfact.json;
// ../shared/data/counterfact-rome-sample), mapped as kmeng01/rome experiments/py/eval_utils_counterfact.py reads it:
//   requested_rewrite.prompt ("{} plays the sport of") → request.prompt    requested_rewrite.subject → subject
//   target_new.str → targetNew    target_true.str → groundTruth    paraphrase_prompts → rephrases
//   neighborhood_prompts → locality.neighborhood, answer target_true.str (ROME's NS: neighbours share the true object)
//   attribute_prompts → locality.attribute, answer target_new.str (other subjects whose answer is the new target)
//   generation_prompts → generationPrompts
// relation_id, the Wikidata ids and pararel_idx are not kept (the consistency metric's reference texts come from
// attribute_snippets.json, which this loader does not read).
import { NEIGHBORHOOD, type EditCase } from '../cases.js';
import { booleanFlags, Fields } from './schema.js';

/** Parses one ROME-format CounterFact record. */
export function counterfactRomeCase(r: unknown, index: number, where: string): EditCase {
  const f = new Fields(where);
  const o = f.record(r);
  const rw = f.object(o.requested_rewrite, 'requested_rewrite');
  const targetNew = f.string(f.object(rw.target_new, 'requested_rewrite.target_new').str, 'requested_rewrite.target_new.str');
  const groundTruth = f.string(f.object(rw.target_true, 'requested_rewrite.target_true').str, 'requested_rewrite.target_true.str');
  const caseId = f.caseId(o.case_id, 'case_id', index);
  const request = f.request(
    { prompt: f.string(rw.prompt, 'requested_rewrite.prompt'), subject: f.string(rw.subject, 'requested_rewrite.subject'), targetNew, groundTruth, caseId },
    { prompt: 'requested_rewrite.prompt', subject: 'requested_rewrite.subject', targetNew: 'requested_rewrite.target_new.str' },
  );
  const locality: EditCase['locality'] = {};
  const neighbours = f.strings(o.neighborhood_prompts, 'neighborhood_prompts', true);
  if (neighbours.length > 0) locality[NEIGHBORHOOD] = neighbours.map((prompt) => ({ prompt, groundTruth }));
  const attributes = f.strings(o.attribute_prompts, 'attribute_prompts', true);
  if (attributes.length > 0) locality.attribute = attributes.map((prompt) => ({ prompt, groundTruth: targetNew }));
  const c: EditCase = {
    caseId,
    request,
    rephrases: f.strings(o.paraphrase_prompts, 'paraphrase_prompts', true),
    locality,
    portability: {},
    flags: booleanFlags(o),
  };
  const generation = f.strings(o.generation_prompts, 'generation_prompts', true);
  if (generation.length > 0) c.generationPrompts = generation;
  return c;
}
