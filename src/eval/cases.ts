// Edit cases in EasyEdit's flat CounterFact format (prompt, subject, target_new, ground_truth, rephrase_prompt,
// locality_prompt, locality_ground_truth, optional portability), as used by ../shared/data/counterfact-mend,
// factgpt/facts.json ("records") and kbgpt/edits.json ("cases"). Errors name the file, record and field.
import { readFileSync } from 'node:fs';
import type { EditRequest } from '../methods/request.js';

export interface EditCase {
  caseId: string | number;
  request: EditRequest;
  rephrase?: string;
  locality?: { prompt: string; groundTruth: string };
  /** Named portability probes: prompt, the answer expected after the edit, and the one before it when given. */
  portability: Record<string, { prompt: string; groundTruth: string; groundTruthBefore?: string }>;
  /** Flags the dataset provides (known_prompt, …), passed through for filtering. */
  flags: Record<string, boolean>;
}

function str(r: any, key: string, where: string, optional = false): string | undefined {
  const v = r[key];
  if (v === undefined || v === null) {
    if (optional) return undefined;
    throw new Error(`${where}: field '${key}' is missing`);
  }
  if (typeof v !== 'string') throw new Error(`${where}: field '${key}' must be a string, got ${JSON.stringify(v)}`);
  return v;
}

/** Reads the cases of a flat-format file (a list, or an object with `records` / `cases`). */
export function readFlatCases(file: string): EditCase[] {
  let data: any;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: cannot read JSON: ${(e as Error).message}`, { cause: e });
  }
  const records: any[] = Array.isArray(data) ? data : data.records ?? data.cases;
  if (!Array.isArray(records)) throw new Error(`${file}: expected a list of records (or an object with 'records' or 'cases')`);
  return records.map((r, i) => {
    const where = `${file}: record ${i}`;
    if (r === null || typeof r !== 'object') throw new Error(`${where}: not an object`);
    const prompt = str(r, 'prompt', where)!;
    const subject = str(r, 'subject', where)!;
    const locPrompt = str(r, 'locality_prompt', where, true);
    const portability: EditCase['portability'] = {};
    for (const [name, p] of Object.entries(r.portability ?? {})) {
      const pp = p as any;
      const w = `${where} portability.${name}`;
      portability[name] = { prompt: str(pp, 'prompt', w)!, groundTruth: str(pp, 'ground_truth', w)!, groundTruthBefore: str(pp, 'ground_truth_before_edit', w, true) };
    }
    const flags: Record<string, boolean> = {};
    for (const [k, v] of Object.entries(r)) if (typeof v === 'boolean') flags[k] = v;
    return {
      caseId: r.case_id ?? i,
      request: { prompt, subject, targetNew: str(r, 'target_new', where)!, groundTruth: str(r, 'ground_truth', where)!, caseId: r.case_id ?? i },
      rephrase: str(r, 'rephrase_prompt', where, true),
      locality: locPrompt ? { prompt: locPrompt, groundTruth: str(r, 'locality_ground_truth', where)! } : undefined,
      portability,
      flags,
    };
  });
}
