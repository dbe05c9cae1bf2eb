// The seed paper's portability and locality add-ons (Yao et al., arXiv 2305.13172: Subject Replace, Reversed
// Relation, One Hop, Other Attribution, …), given per edit as named probe lists. EasyEdit has no reader for these
// files (its README passes them as extra keys of portability_inputs / locality_inputs), so the shape is ours:
//   [{ case_id?, portability?: { <name>: [{ prompt, ground_truth, ground_truth_before_edit? }] },
//                locality?: { <name>: [{ prompt, ground_truth }] } }, ...]
// (a single object instead of a list per name is accepted; answers may be nested lists as in KnowEdit). Entries with
// case_id are matched to cases by id; a list without case_ids is aligned with the cases by position. Probes are
// appended to the case's lists of the same name.
// Distracting Neighbor (arXiv 2305.17553, EasyEdit README) is built from the cases themselves: distractingNeighbors.
import { NEIGHBORHOOD, readJson, type EditCase } from '../cases.js';
import { normalizeRequest } from '../../methods/request.js';
import { DatasetError, Fields } from './schema.js';

export interface MergeAddonsOptions {
  /** Ignore entries whose case_id is not among the cases (an add-on file for a whole dataset, cases a sample of it). */
  ignoreUnknown?: boolean;
}

/** Returns the cases with the add-on probes of `addons` (the parsed content of `file`, named in errors) merged in. */
export function mergeAddons(cases: EditCase[], addons: unknown, file: string, opts: MergeAddonsOptions = {}): EditCase[] {
  if (!Array.isArray(addons)) throw new DatasetError(`${file}: expected a list of add-on entries, got ${addons === null ? 'null' : typeof addons}`);
  const entries = addons.map((a, i) => {
    const f = new Fields(`${file}: entry ${i}`);
    const o = f.record(a);
    return {
      caseId: o.case_id === undefined || o.case_id === null ? undefined : f.caseId(o.case_id, 'case_id', i),
      portability: f.probeLists(o.portability, 'portability', { dropEmpty: false }),
      locality: f.probeLists(o.locality, 'locality', { dropEmpty: false }),
    };
  });
  const byId = entries.some((e) => e.caseId !== undefined);
  const target: (number | undefined)[] = [];
  if (byId) {
    const index = new Map<string, number>();
    cases.forEach((c, k) => {
      const id = String(c.caseId);
      if (index.has(id)) throw new DatasetError(`${file}: the cases hold case id ${id} twice; add-ons cannot be matched by id`);
      index.set(id, k);
    });
    entries.forEach((e, i) => {
      if (e.caseId === undefined) throw new DatasetError(`${file}: entry ${i}: field 'case_id' is missing (other entries have one; give it to all or to none)`);
      const k = index.get(String(e.caseId));
      if (k === undefined && !opts.ignoreUnknown) throw new DatasetError(`${file}: entry ${i}: case_id ${JSON.stringify(e.caseId)} is not among the ${cases.length} cases`);
      target.push(k);
    });
  } else {
    if (entries.length !== cases.length) {
      throw new DatasetError(`${file}: ${entries.length} entries without case_id cannot be aligned with ${cases.length} cases by position`);
    }
    entries.forEach((_, i) => target.push(i));
  }
  const out = cases.map((c) => ({ ...c, locality: { ...c.locality }, portability: { ...c.portability } }));
  entries.forEach((e, i) => {
    const k = target[i];
    if (k === undefined) return;
    for (const [name, probes] of Object.entries(e.portability)) out[k].portability[name] = [...(out[k].portability[name] ?? []), ...probes];
    for (const [name, probes] of Object.entries(e.locality)) out[k].locality[name] = [...(out[k].locality[name] ?? []), ...probes];
  });
  return out;
}

/** Reads an add-on file and merges it into the cases. */
export function loadAddons(cases: EditCase[], file: string, opts: MergeAddonsOptions = {}): EditCase[] {
  let data: unknown;
  try {
    data = readJson(file);
  } catch (e) {
    throw new DatasetError((e as Error).message, { cause: e });
  }
  return mergeAddons(cases, data, file, opts);
}

/**
 * The seed paper's Distracting Neighbor locality (after CounterFact+, arXiv 2305.17553; EasyEdit README): each
 * neighbourhood prompt preceded by the edit statement, "<filled edit prompt> <new target>. <neighbour prompt>", with
 * the neighbour's own answer, which must survive the distraction. Returns the cases with `locality.distracting` set
 * (cases without neighbourhood probes are returned unchanged).
 */
export function distractingNeighbors(cases: EditCase[], from = NEIGHBORHOOD): EditCase[] {
  return cases.map((c, i) => {
    const neighbours = c.locality[from];
    if (!neighbours?.length) return c;
    const statement = `${normalizeRequest(c.request, i).text} ${c.request.targetNew.trim()}.`;
    const distracting = neighbours.map((p) => ({ prompt: `${statement} ${p.prompt}`, groundTruth: p.groundTruth }));
    return { ...c, locality: { ...c.locality, distracting } };
  });
}
