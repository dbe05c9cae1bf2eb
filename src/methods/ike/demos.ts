// IKE's prompt (Zheng et al. 2023, §3; EasyEdit easyeditor/models/ike/util.py::encode_ike_facts and
// evaluate/evaluate.py::compute_icl_edit_quality): demonstrations, each
//   "New Fact: {prompt} {target_new}\nPrompt: {x} {answer}\n\n"
// joined with nothing, then the fact being asked about and the query:
//   "New Fact: {prompt} {target_new}\nPrompt: {query}"
// Every pool record gives three demonstrations: copy (its own prompt → its new target), update (a paraphrase → the
// new target) and retain (a neighbour prompt → its original answer), which teach the model to apply a stated fact
// where it is in scope and to ignore it elsewhere.
import { withLeadingSpace, type NormalizedRequest } from '../request.js';

/** The main locality list's name (src/eval/cases.ts NEIGHBORHOOD: CounterFact's neighbourhood prompts). */
const NEIGHBORHOOD_KEY = 'neighborhood';

export type DemonstrationKind = 'copy' | 'update' | 'retain';

export interface Demonstration {
  kind: DemonstrationKind;
  /** Position of its record in the pool. */
  record: number;
  /** The record's case id, when it has one. */
  caseId?: string | number;
  /** The demonstration as it goes into the context (ends with a blank line). */
  text: string;
}

/** A new fact as stated: the prompt with the new target (EasyEdit's `prompt + ' ' + target_new`). */
export function factText(r: Pick<NormalizedRequest, 'text' | 'targetNew'>): string {
  return `${r.text}${withLeadingSpace(r.targetNew)}`;
}

/** One demonstration: a stated fact, then a prompt completed with the answer the model should give. */
export function demonstrationText(fact: string, prompt: string, answer: string): string {
  return `New Fact: ${fact}\nPrompt: ${prompt}${withLeadingSpace(answer)}\n\n`;
}

/** The text the model continues: the demonstrations, then the new fact and the query. */
export function ikePrompt(demonstrations: readonly string[], fact: string, query: string): string {
  return `${demonstrations.join('')}New Fact: ${fact}\nPrompt: ${query}`;
}

/** What demonstrations are retrieved for (EasyEdit ike_main.py's query_sentence): the edit asked on its own prompt. */
export function retrievalQuery(r: Pick<NormalizedRequest, 'text' | 'targetNew'>): string {
  return `New Fact: ${factText(r)}\nPrompt: ${r.text}\n\n`;
}

/** The locality probe a retain demonstration uses: the first neighbourhood probe, else the first of any list. */
function neighbour(r: NormalizedRequest): { prompt: string; groundTruth: string } | undefined {
  const lists = r.locality ?? {};
  return lists[NEIGHBORHOOD_KEY]?.[0] ?? Object.values(lists).find((l) => l.length > 0)?.[0];
}

/**
 * The demonstrations of one pool record, in EasyEdit's order copy, update, retain. A record with several
 * paraphrases or neighbours gives one of each kind, from the first (EasyEdit's records have one; the IKE repo draws
 * one at random); one without paraphrases or locality probes gives only those it can.
 */
export function recordDemonstrations(r: NormalizedRequest, record: number): Demonstration[] {
  const fact = factText(r);
  const out: Demonstration[] = [{ kind: 'copy', record, caseId: r.caseId, text: demonstrationText(fact, r.text, r.targetNew) }];
  const paraphrase = r.rephrasePrompts?.[0];
  if (paraphrase !== undefined) out.push({ kind: 'update', record, caseId: r.caseId, text: demonstrationText(fact, paraphrase, r.targetNew) });
  const n = neighbour(r);
  if (n !== undefined) out.push({ kind: 'retain', record, caseId: r.caseId, text: demonstrationText(fact, n.prompt, n.groundTruth) });
  return out;
}

/** Every demonstration of a pool, record by record (EasyEdit's stored_sentences). */
export function poolDemonstrations(pool: readonly NormalizedRequest[]): Demonstration[] {
  return pool.flatMap((r, i) => recordDemonstrations(r, i));
}
