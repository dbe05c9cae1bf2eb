// Evaluation cases: one edit request plus every probe the metrics read. All dataset loaders (src/eval/datasets/)
// produce this shape; the flat CounterFact format (prompt, subject, target_new, ground_truth, rephrase_prompt,
// locality_prompt, locality_ground_truth, optional portability) is read here, as used by
// ../shared/data/counterfact-mend, factgpt/facts.json ("records") and kbgpt/edits.json ("cases").
// Errors name the file, record and field.
import { readFileSync } from 'node:fs';
import type { EditRequest } from '../methods/request.js';

/** A prompt and the answer expected there. */
export interface Probe {
  prompt: string;
  /** Locality: the answer the unedited model gives. Portability: the answer that should follow the edit. */
  groundTruth: string;
  /**
   * Portability only: the answer before the edit (ROME's protocol compares against it; for subject-alias lists it
   * defaults to the request's true answer, see SAME_FACT_PORTABILITY in measure.ts).
   */
  groundTruthBefore?: string;
}

/** The name of the main locality key (CounterFact's neighbourhood prompts; flat format's locality_prompt). */
export const NEIGHBORHOOD = 'neighborhood';

export interface EditCase {
  caseId: string | number;
  request: EditRequest;
  /** Paraphrases of the edit prompt (Generalization; ROME's PS). */
  rephrases: string[];
  /** Named locality probe lists ('neighborhood', 'distracting', 'other_attribution', …): answers must not change. */
  locality: Record<string, Probe[]>;
  /** Named portability probe lists ('one_hop', 'subject_alias', 'reversed_relation', …): answers must follow the edit. */
  portability: Record<string, Probe[]>;
  /** Prompts for generation metrics (fluency, consistency); ROME's generation_prompts. */
  generationPrompts?: string[];
  /** Reference texts for the TF-IDF consistency metric (ROME: snippets about other subjects with the new target). */
  referenceTexts?: string[];
  /**
   * Edits applied together with `request` (multi-hop data such as MQuAKE, where a case holds several rewrites); the
   * probes measure them jointly. Only the single setting supports them.
   */
  additionalRequests?: EditRequest[];
  /** Flags the dataset provides (known_prompt, …), passed through for filtering. */
  flags: Record<string, boolean>;
}

/** Reads a string field; errors name the place and the field. */
export function str(r: any, key: string, where: string, optional = false): string | undefined {
  const v = r[key];
  if (v === undefined || v === null) {
    if (optional) return undefined;
    throw new Error(`${where}: field '${key}' is missing`);
  }
  if (typeof v !== 'string') throw new Error(`${where}: field '${key}' must be a string, got ${JSON.stringify(v)}`);
  return v;
}

/** Reads a JSON file; errors name it. */
export function readJson(file: string): any {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read: ${(e as Error).message}`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** Number of probes of a case (for sizing work). */
export function probeCount(c: EditCase): number {
  const lists = [...Object.values(c.locality), ...Object.values(c.portability)];
  return 1 + c.rephrases.length + lists.reduce((a, l) => a + l.length, 0);
}

/** Parses one flat-format record (also used by loaders of formats that extend it). */
export function flatCase(r: any, i: number, where: string): EditCase {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new Error(`${where}: not an object`);
  const prompt = str(r, 'prompt', where)!;
  const subject = str(r, 'subject', where)!;
  const locPrompt = str(r, 'locality_prompt', where, true);
  const portability: EditCase['portability'] = {};
  const port = r.portability ?? {};
  if (typeof port !== 'object' || Array.isArray(port)) throw new Error(`${where}: field 'portability' must be an object of named probes`);
  for (const [name, p] of Object.entries(port)) {
    const list = Array.isArray(p) ? p : [p];
    portability[name] = list.map((pp: any, j) => {
      const w = `${where} portability.${name}${Array.isArray(p) ? `[${j}]` : ''}`;
      if (pp === null || typeof pp !== 'object') throw new Error(`${w}: not an object`);
      return { prompt: str(pp, 'prompt', w)!, groundTruth: str(pp, 'ground_truth', w)!, groundTruthBefore: str(pp, 'ground_truth_before_edit', w, true) };
    });
  }
  const flags: Record<string, boolean> = {};
  for (const [k, v] of Object.entries(r)) if (typeof v === 'boolean') flags[k] = v;
  const caseId = r.case_id ?? i;
  const rephrase = str(r, 'rephrase_prompt', where, true);
  return {
    caseId,
    request: { prompt, subject, targetNew: str(r, 'target_new', where)!, groundTruth: str(r, 'ground_truth', where)!, caseId },
    rephrases: rephrase ? [rephrase] : [],
    locality: locPrompt ? { [NEIGHBORHOOD]: [{ prompt: locPrompt, groundTruth: str(r, 'locality_ground_truth', where)! }] } : {},
    portability,
    flags,
  };
}

/** Reads the cases of a flat-format file (a list, or an object with `records` / `cases`). */
export function readFlatCases(file: string): EditCase[] {
  const data = readJson(file);
  const records: any[] = Array.isArray(data) ? data : data?.records ?? data?.cases;
  if (!Array.isArray(records)) throw new Error(`${file}: expected a list of records (or an object with 'records' or 'cases')`);
  return records.map((r, i) => flatCase(r, i, `${file}: record ${i}`));
}
