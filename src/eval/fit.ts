// Cases whose probes do not fit the model's context window: every prompt + answer of a case is measured, so one that
// overflows would stop a whole run midway. They are found before any edit, named, and either refused or (with
// --skip-invalid) dropped and counted.
import type { Tokenizer } from '../io/tokenizer.js';
import { withLeadingSpace } from '../methods/request.js';
import type { EditCase } from './cases.js';
import { editPrompt } from './measure.js';

/** The first probe of the case that overflows `maxPositions` tokens, described; undefined when all fit. */
export function overflowOf(tok: Tokenizer, c: EditCase, maxPositions: number): string | undefined {
  if (!Number.isFinite(maxPositions)) return undefined;
  const r = c.request;
  const probes: [string, string, string][] = [
    ['prompt', editPrompt(c), r.targetNew], ...(r.groundTruth ? [['prompt', editPrompt(c), r.groundTruth] as [string, string, string]] : []),
    ...c.rephrases.map((p, i): [string, string, string] => [`rephrase[${i}]`, p, r.targetNew]),
    ...Object.entries(c.locality).flatMap(([k, l]) => l.map((p, i): [string, string, string] => [`locality.${k}[${i}]`, p.prompt, p.groundTruth])),
    ...Object.entries(c.portability).flatMap(([k, l]) => l.map((p, i): [string, string, string] => [`portability.${k}[${i}]`, p.prompt, p.groundTruth])),
  ];
  for (const [where, prompt, answer] of probes) {
    const n = tok.encode(prompt).length + tok.encode(withLeadingSpace(answer)).length;
    if (n > maxPositions) return `case ${c.caseId} ${where}: ${n} tokens, more than the model's ${maxPositions} positions`;
  }
  return undefined;
}

/** Splits cases into those that fit and the descriptions of those that do not. */
export function casesThatFit(tok: Tokenizer, cases: EditCase[], maxPositions: number): { fit: EditCase[]; overflow: string[] } {
  const fit: EditCase[] = [];
  const overflow: string[] = [];
  for (const c of cases) {
    const o = overflowOf(tok, c, maxPositions);
    if (o) overflow.push(o);
    else fit.push(c);
  }
  return { fit, overflow };
}
