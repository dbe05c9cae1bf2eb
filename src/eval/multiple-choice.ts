// Other-task locality (the seed paper's "Other Tasks", PIQA): multiple-choice accuracy by log-likelihood, before and
// after editing. Each choice is scored as the continuation " choice" after the question; the prediction is the
// choice with the highest total log-probability (lm-evaluation-harness's `acc`), and, for reference, the highest
// mean log-probability per token (`accNorm`, length-normalised).
//
// Files: JSON Lines, one item per line, either PIQA's own fields {goal, sol1, sol2, label} (the label may instead come
// from a sibling `<name>-labels.lst` with one integer per line, as PIQA ships them) or generic
// {question | prompt, choices: [..], label | answer: index}.
import { existsSync, readFileSync } from 'node:fs';
import type { Tokenizer } from '../io/tokenizer.js';
import { withLeadingSpace } from '../methods/request.js';
import { scoreText, type ScoreSource } from './measure.js';

export interface ChoiceItem {
  question: string;
  choices: string[];
  label: number;
}

export interface ChoiceResult {
  /** Percentage of items whose highest-total-log-probability choice is the label. */
  accuracy: number;
  /** The same by mean log-probability per token. */
  accuracyNorm: number;
  n: number;
  /** Per item: the chosen index (by total log-probability). */
  predictions: number[];
}

/** Reads a multiple-choice JSONL file; errors name the file, line and field. */
export function readMultipleChoice(file: string, opts: { n?: number; offset?: number } = {}): ChoiceItem[] {
  if (!existsSync(file)) throw new Error(`${file}: not found`);
  const lines = readFileSync(file, 'utf8').split('\n');
  const labelsFile = file.replace(/\.jsonl$/, '-labels.lst');
  const sideLabels = existsSync(labelsFile) ? readFileSync(labelsFile, 'utf8').split('\n').filter((l) => l.trim() !== '') : undefined;
  const items: ChoiceItem[] = [];
  let index = 0;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${file}: line ${i + 1}`;
    let r: any;
    try {
      r = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: not valid JSON: ${(e as Error).message}`, { cause: e });
    }
    if (r === null || typeof r !== 'object') throw new Error(`${where}: not an object`);
    const question = r.goal ?? r.question ?? r.prompt;
    const choices = 'sol1' in r ? [r.sol1, r.sol2] : r.choices;
    let label = r.label ?? r.answer;
    if (label === undefined && sideLabels) label = Number(sideLabels[index]);
    if (typeof question !== 'string' || question.trim() === '') throw new Error(`${where}: field 'goal'/'question'/'prompt' must be a non-empty string`);
    if (!Array.isArray(choices) || choices.length < 2 || !choices.every((c) => typeof c === 'string' && c.trim() !== '')) {
      throw new Error(`${where}: field 'choices' (or sol1/sol2) must be at least two non-empty strings`);
    }
    if (!Number.isInteger(label) || label < 0 || label >= choices.length) {
      throw new Error(`${where}: field 'label' must be a choice index 0..${choices.length - 1}${sideLabels ? ` (from ${labelsFile})` : ''}, got ${JSON.stringify(label)}`);
    }
    items.push({ question, choices, label });
    index++;
  });
  const offset = opts.offset ?? 0;
  return items.slice(offset, opts.n === undefined ? undefined : offset + opts.n);
}

/** Accuracy of the scorer's model on the items. */
export function multipleChoiceAccuracy(tok: Tokenizer, items: ChoiceItem[], scorer: ScoreSource): ChoiceResult {
  const reqs = items.flatMap((it) => it.choices.map((c) => ({ prompt: it.question, continuation: withLeadingSpace(c) })));
  const scores = scoreText(tok, scorer, reqs);
  let k = 0;
  let correct = 0;
  let correctNorm = 0;
  const predictions = items.map((it) => {
    const s = scores.slice(k, k + it.choices.length);
    k += it.choices.length;
    const best = (f: (x: (typeof s)[number]) => number) => s.reduce((bi, x, i) => (f(x) > f(s[bi]) ? i : bi), 0);
    const pick = best((x) => x.sum);
    if (pick === it.label) correct++;
    if (best((x) => x.mean) === it.label) correctNorm++;
    return pick;
  });
  const n = items.length;
  return { accuracy: n ? (100 * correct) / n : NaN, accuracyNorm: n ? (100 * correctNorm) / n : NaN, n, predictions };
}
