// zsRE in MEND's format (zsre_mend_eval.json, zsre_mend_train*.json; ../shared/data/zsre-mend-1k), mapped as
// EasyEdit's ZsreDataset and examples/run_zsre_llama2.py do:
//   src → request.prompt (the subject written in it)   alt → targetNew   answers[0] → groundTruth
//   rephrase → rephrases   loc / loc_ans → locality.neighborhood (an NQ question; loc keeps its "nq question: " prefix)
//   portability {"New Question", "New Answer"} (zsre_mend_eval_portability_gpt4.json) → portability.one_hop
// Records with alt == "" are left out, as EasyEdit does (counted by loadCases as skipped.emptyTarget); pred and cond
// (MEND/SERAC training inputs) are not read. ROME's own zsRE loader instead inserts the *true* answer; that variant is
// not this one.
import { NEIGHBORHOOD, type EditCase } from '../cases.js';
import { booleanFlags, Fields } from './schema.js';

/** The fields that identify a zsRE record. */
export const ZSRE_FIELDS = ['src', 'alt', 'answers'];

/** Parses one zsRE record; `undefined` for a record without a new target (alt == ""). */
export function zsreCase(r: unknown, index: number, where: string): EditCase | undefined {
  const f = new Fields(where);
  const o = f.record(r);
  const targetNew = f.string(o.alt, 'alt');
  if (targetNew === '') return undefined;
  const answers = f.list(o.answers, 'answers');
  if (answers.length === 0) f.fail('answers', 'is an empty list (answers[0] is the true answer)');
  const caseId = f.caseId(o.case_id, 'case_id', index);
  const request = f.request(
    { prompt: f.string(o.src, 'src'), subject: f.string(o.subject, 'subject'), targetNew, groundTruth: f.string(answers[0], 'answers[0]'), caseId },
    { prompt: 'src', subject: 'subject', targetNew: 'alt' },
  );
  const rephrase = f.string(o.rephrase, 'rephrase', true);
  const loc = f.string(o.loc, 'loc', true);
  const c: EditCase = {
    caseId,
    request,
    rephrases: rephrase ? [rephrase] : [],
    locality: loc === undefined ? {} : { [NEIGHBORHOOD]: [{ prompt: loc, groundTruth: f.string(o.loc_ans, 'loc_ans') }] },
    portability: {},
    flags: booleanFlags(o),
  };
  const port = f.object(o.portability, 'portability', true);
  if (port) {
    c.portability.one_hop = [{ prompt: f.string(port['New Question'], 'portability.New Question'), groundTruth: f.string(port['New Answer'], 'portability.New Answer') }];
  }
  return c;
}
