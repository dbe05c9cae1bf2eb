// MQuAKE-style multi-hop records (MQuAKE-CF-3k, MQuAKE-T; Zhong et al., arXiv 2305.14795): several rewrites whose
// combination changes the answer of multi-hop questions. One case per record:
//   requested_rewrite[0] → request (prompt with "{}", subject, target_new.str → targetNew, target_true.str → groundTruth)
//   requested_rewrite[1..] → additionalRequests (applied together with request)
//   requested_rewrite[0].question → rephrases (the question form of the first edit; optional)
//   questions → portability.multi_hop, each answered new_answer after the edits and answer before them, with the
//               aliases new_answer_alias / answer_alias kept on each probe (answerAliases / answerAliasesBefore:
//               MQuAKE's multi-hop accuracy accepts any of them, src/eval/multihop.ts)
// single_hops and new_single_hops are not kept.
import type { EditCase } from '../cases.js';
import type { EditRequest } from '../../methods/request.js';
import { booleanFlags, Fields } from './schema.js';
import type { AliasedProbe } from '../multihop.js';

/** Parses one MQuAKE record. */
export function mquakeCase(r: unknown, index: number, where: string): EditCase {
  const f = new Fields(where);
  const o = f.record(r);
  const caseId = f.caseId(o.case_id, 'case_id', index);
  const rewrites = f.list(o.requested_rewrite, 'requested_rewrite');
  if (rewrites.length === 0) f.fail('requested_rewrite', 'is an empty list');
  const requests: EditRequest[] = rewrites.map((rw, k) => {
    const path = `requested_rewrite[${k}]`;
    const w = f.object(rw, path);
    return f.request(
      {
        prompt: f.string(w.prompt, `${path}.prompt`),
        subject: f.string(w.subject, `${path}.subject`),
        targetNew: f.string(f.object(w.target_new, `${path}.target_new`).str, `${path}.target_new.str`),
        groundTruth: f.string(f.object(w.target_true, `${path}.target_true`).str, `${path}.target_true.str`),
        caseId,
      },
      { prompt: `${path}.prompt`, subject: `${path}.subject`, targetNew: `${path}.target_new.str` },
    );
  });
  const question = f.string(f.object(rewrites[0], 'requested_rewrite[0]').question, 'requested_rewrite[0].question', true);
  const groundTruth = f.string(o.new_answer, 'new_answer');
  const groundTruthBefore = f.string(o.answer, 'answer');
  const answerAliases = f.strings(o.new_answer_alias, 'new_answer_alias', true);
  const answerAliasesBefore = f.strings(o.answer_alias, 'answer_alias', true);
  const probe = (prompt: string): AliasedProbe => ({ prompt, groundTruth, groundTruthBefore, answerAliases, answerAliasesBefore });
  const c: EditCase = {
    caseId,
    request: requests[0],
    rephrases: question ? [question] : [],
    locality: {},
    portability: { multi_hop: f.strings(o.questions, 'questions').map(probe) },
    flags: booleanFlags(o),
  };
  if (requests.length > 1) c.additionalRequests = requests.slice(1);
  return c;
}
