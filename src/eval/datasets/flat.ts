// EasyEdit's flat format (counterfact-edit/train/val.json; ../shared/data/counterfact-mend, kbgpt/edits.json,
// factgpt/facts.json): parsed by flatCase in ../cases.ts, with the checks every loader makes added here (the case id's
// type, a request the editor accepts) and its errors turned into DatasetErrors.
import { flatCase, type EditCase } from '../cases.js';
import { DatasetError, Fields } from './schema.js';

/** Parses one flat-format record. */
export function flatFormatCase(r: unknown, index: number, where: string): EditCase {
  const f = new Fields(where);
  const o = f.record(r);
  f.caseId(o.case_id, 'case_id', index);
  let c: EditCase;
  try {
    c = flatCase(o, index, where);
  } catch (e) {
    throw new DatasetError((e as Error).message, { cause: e });
  }
  f.request(c.request, { prompt: 'prompt', subject: 'subject', targetNew: 'target_new' });
  return c;
}
