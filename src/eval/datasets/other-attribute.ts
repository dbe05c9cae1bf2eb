// Other-attribute locality for a knowledge-base dataset (kbgpt's kb.json): for each case, prompts about the edited
// subject's *other* attributes, with their true values. An edit of Roderick Zielinski's birth city should leave his
// employer alone; these probes measure that (the seed paper's "Other Attribution" locality). Attributes that any case
// of the dataset edits for the same person are left out, so that in a sequential run no probe's truth is itself edited.
// The result is an add-on list (addons.ts) merged like any other.
import { readJson, type EditCase } from '../cases.js';
import { DatasetError } from './schema.js';

export interface KbPerson { id: number; name: string; attributes: Record<string, string> }
export interface Kb { people: KbPerson[]; templates: Record<string, { template: string; held_out: boolean }[]> }

export const OTHER_ATTRIBUTE = 'other_attribute';

export function readKb(file: string): Kb {
  let kb: any;
  try {
    kb = readJson(file);
  } catch (e) {
    throw new DatasetError((e as Error).message, { cause: e });
  }
  if (!kb || !Array.isArray(kb.people) || typeof kb.templates !== 'object') {
    throw new DatasetError(`${file}: not a knowledge base (expected fields 'people' (a list) and 'templates' (relation → templates))`);
  }
  kb.people.forEach((p: any, i: number) => {
    if (typeof p?.name !== 'string' || typeof p?.attributes !== 'object') throw new DatasetError(`${file}: people[${i}] needs 'name' and 'attributes'`);
  });
  return kb as Kb;
}

/**
 * Add-on entries (by case_id) with one `locality.other_attribute` probe per other attribute of the case's subject:
 * the relation's first training template, the subject's true value. `allCases` (the whole dataset) decides which
 * attributes are edited somewhere and so left out.
 */
export function otherAttributeAddons(kbFile: string, cases: readonly EditCase[], allCases: readonly EditCase[]): unknown[] {
  const kb = readKb(kbFile);
  const byName = new Map(kb.people.map((p) => [p.name, p]));
  const edited = new Map<string, Set<string>>();
  for (const c of allCases) {
    const rel = relationOf(kb, c);
    if (rel) edited.set(c.request.subject, (edited.get(c.request.subject) ?? new Set()).add(rel));
  }
  return cases.map((c) => {
    const person = byName.get(c.request.subject);
    const probes = person ? Object.entries(person.attributes).flatMap(([rel, value]) => {
      if (edited.get(c.request.subject)?.has(rel)) return [];
      const t = (kb.templates[rel] ?? []).find((x) => !x.held_out);
      return t ? [{ prompt: t.template.replace('{}', person.name), ground_truth: value }] : [];
    }) : [];
    return { case_id: c.caseId, locality: { [OTHER_ATTRIBUTE]: probes } };
  });
}

/** The relation a case edits: the one with a template that gives its prompt (else whose true value it names). */
function relationOf(kb: Kb, c: EditCase): string | undefined {
  const { prompt, subject, groundTruth } = c.request as { prompt: string; subject: string; groundTruth?: string };
  for (const [rel, ts] of Object.entries(kb.templates)) if (ts.some((t) => t.template === prompt || t.template.replace('{}', subject) === prompt)) return rel;
  const person = kb.people.find((p) => p.name === subject);
  return person ? Object.entries(person.attributes).find(([, v]) => v === groundTruth)?.[0] : undefined;
}
