// MeLLo's few-shot task prompt. The format is MQuAKE's prompts/MeLLo-prompt.txt: examples separated by a blank line,
// each "Question: …", then per hop "Subquestion: …", "Generated answer: …", "Retrieved fact: …." and the self-check
// "Retrieved fact contradicts to generated answer, so the intermediate answer is: …" (or "does not contradict"),
// ending with "Final answer: …". The examples below are lmedit's own, about invented people (the original's are about
// real ones); prompt_file in the hparams reads another file of the same format (the original's, for one).
import { readFileSync } from 'node:fs';

export const QUESTION = 'Question: ';
export const SUBQUESTION = 'Subquestion: ';
export const GENERATED = 'Generated answer: ';
export const RETRIEVED = 'Retrieved fact: ';
export const FINAL = 'Final answer: ';
export const CONTRADICTS = 'Retrieved fact contradicts to generated answer';
export const NO_CONTRADICTION = 'Retrieved fact does not contradict to generated answer';
export const INTERMEDIATE = 'so the intermediate answer is: ';

export const BUILTIN_PROMPT = [
  'Question: What is the official language of the country where Mira Castell was born?',
  'Subquestion: Where was Mira Castell born?',
  'Generated answer: Mira Castell was born in Lyon.',
  'Retrieved fact: Mira Castell was born in Osaka.',
  'Retrieved fact contradicts to generated answer, so the intermediate answer is: Osaka',
  'Subquestion: Which country is Osaka in?',
  'Generated answer: Osaka is a city in Japan.',
  'Retrieved fact: Tomas Brenner was born in Vienna.',
  'Retrieved fact does not contradict to generated answer, so the intermediate answer is: Japan',
  'Subquestion: What is the official language of Japan?',
  'Generated answer: The official language of Japan is Japanese.',
  'Retrieved fact: Ilse Varga works for Nokia.',
  'Retrieved fact does not contradict to generated answer, so the intermediate answer is: Japanese',
  'Final answer: Japanese',
  '',
  'Question: In which country was Pavel Ostrow born?',
  'Subquestion: Where was Pavel Ostrow born?',
  'Generated answer: Pavel Ostrow was born in Prague.',
  'Retrieved fact: Lena Hart was born in Madrid.',
  'Retrieved fact does not contradict to generated answer, so the intermediate answer is: Prague',
  'Subquestion: Which country is Prague in?',
  'Generated answer: Prague is a city in the Czech Republic.',
  'Retrieved fact: Prague is a city in the Czech Republic.',
  'Retrieved fact does not contradict to generated answer, so the intermediate answer is: the Czech Republic',
  'Final answer: the Czech Republic',
].join('\n');

/** The task prompt: a file's text or the built-in one, cut to its first `examples` examples (-1: all). */
export function taskPrompt(file: string | null, examples: number): string {
  const text = (file === null ? BUILTIN_PROMPT : readFileSync(file, 'utf8')).trim();
  if (examples < 0) return text;
  return text.split(/\n\s*\n/).slice(0, examples).join('\n\n');
}
