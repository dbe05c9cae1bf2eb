// MeLLo's loop (princeton-nlp/MQuAKE run_mello.ipynb), per question, up to max_hops rounds:
//   1. the model continues the transcript, stopping at "Retrieved fact:" (the notebook's stop sequence): it writes
//      the self-check of the previous round's retrieved fact (if any), then a subquestion and a tentative answer;
//   2. if the last line of what it wrote is "Final answer: X", X is the answer;
//   3. otherwise the line before it must be "Subquestion: …" (else the question fails), and the top-1 edited fact for
//      the subquestion is appended as "Retrieved fact: <fact>." to the transcript, and the next round begins.
// lmedit rebuilds the transcript itself each round from the task prompt, the question and the parsed generations
// (TextModel.generate returns only new text; nothing the model echoes is trusted), and cuts each generation at the
// first "Retrieved fact:" the model writes itself. A generation is also cut at a blank line (the start of another
// example, where the notebook's API model would have stopped on its own) and at a decoded end-of-text token.
import type { GenerateOptions, TextModel } from '../../models/index.js';
import { CONTRADICTS, FINAL, INTERMEDIATE, NO_CONTRADICTION, QUESTION, RETRIEVED, SUBQUESTION, GENERATED } from './prompt.js';

export interface MelloHop {
  /** What the model generated this round (after cutting). */
  generation: string;
  subquestion?: string;
  /** The tentative answer to the subquestion ("Generated answer: …"). */
  generatedAnswer?: string;
  /** The edited fact retrieved for the subquestion. */
  retrievedFact?: string;
  /** The model's self-check of this round's retrieved fact, read from the next round's generation. */
  contradiction?: boolean;
  /** The intermediate answer the self-check gave. */
  intermediate?: string;
}

export type MelloOutcome = 'answer' | 'no-subquestion' | 'hop-limit';

export interface MelloTrace {
  question: string;
  hops: MelloHop[];
  /** The final answer; undefined when the loop failed. */
  answer?: string;
  outcome: MelloOutcome;
  /** The transcript as last sent to the model, plus its last generation. */
  transcript: string;
}

export interface LoopSettings {
  maxHops: number;
  maxNewTokens: number;
  taskPrompt: string;
}

/** Cuts a generation at the first "Retrieved fact:", at the first blank line and at an end-of-text token. */
export function cutGeneration(text: string): string {
  let t = text;
  const eot = t.indexOf('<|endoftext|>');
  if (eot >= 0) t = t.slice(0, eot);
  const r = t.indexOf(RETRIEVED.trim());
  if (r >= 0) t = t.slice(0, r);
  const b = t.search(/\n\s*\n/);
  if (b >= 0) t = t.slice(0, b);
  return t;
}

/** The first transcript of a question (the notebook's `task_prompt + "\n\nQustion: " + q`, its typo corrected). */
export function firstTranscript(taskPrompt: string, question: string): string {
  return taskPrompt === '' ? `${QUESTION}${question}\n` : `${taskPrompt}\n\n${QUESTION}${question}\n`;
}

function selfCheck(generation: string): { contradiction?: boolean; intermediate?: string } {
  for (const line of generation.split('\n')) {
    const l = line.trim();
    const contradiction = l.startsWith(NO_CONTRADICTION) ? false : l.startsWith(CONTRADICTS) ? true : undefined;
    if (contradiction !== undefined) {
      const i = l.indexOf(INTERMEDIATE);
      return { contradiction, intermediate: i >= 0 ? l.slice(i + INTERMEDIATE.length).trim() : undefined };
    }
  }
  return {};
}

/**
 * Runs MeLLo on one question with `retrieve` giving the top-1 edited fact for a subquestion. Generation is greedy
 * (the notebook's temperature 0) unless `opts` says otherwise.
 */
export function runMello(inner: TextModel, question: string, retrieve: (subquestion: string) => string | undefined, s: LoopSettings, opts: GenerateOptions = {}): MelloTrace {
  let transcript = firstTranscript(s.taskPrompt, question);
  const hops: MelloHop[] = [];
  for (let i = 0; i < s.maxHops; i++) {
    const room = inner.maxPositions - inner.tokenizer.encode(transcript).length;
    if (room <= 0) return { question, hops, outcome: 'hop-limit', transcript };
    const raw = inner.generate([transcript], { ...opts, maxNewTokens: Math.min(s.maxNewTokens, room), eosTokenId: opts.eosTokenId })[0].text;
    const generation = cutGeneration(raw);
    if (hops.length > 0) Object.assign(hops[hops.length - 1], selfCheck(generation));
    const lines = generation.trim().split('\n').map((l) => l.trim());
    const last = lines[lines.length - 1] ?? '';
    if (last.startsWith(FINAL)) {
      hops.push({ generation });
      return { question, hops, answer: last.slice(FINAL.length).trim(), outcome: 'answer', transcript: transcript + generation };
    }
    const sub = lines.length >= 2 ? lines[lines.length - 2] : '';
    if (!sub.startsWith(SUBQUESTION)) {
      hops.push({ generation });
      return { question, hops, outcome: 'no-subquestion', transcript: transcript + generation };
    }
    const subquestion = sub.slice(SUBQUESTION.length).trim();
    const generatedAnswer = last.startsWith(GENERATED) ? last.slice(GENERATED.length).trim() : undefined;
    const fact = retrieve(subquestion);
    hops.push({ generation, subquestion, generatedAnswer, retrievedFact: fact });
    // rebuilt from the parts: the generation (without anything after its last line) and the retrieved fact
    const body = generation.replace(/\s+$/, '');
    transcript = `${transcript}${body}\n${RETRIEVED}${fact ?? ''}.\n`;
  }
  return { question, hops, outcome: 'hop-limit', transcript };
}
