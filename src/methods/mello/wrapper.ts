// MeLLo's inference wrapper: the edited facts as sentences ("{prompt} {target_new}", the notebook's new_facts), each
// tagged with its edit, and the loop of loop.ts around the inner model. With no fact in memory queries pass through.
//   generate  runs the loop on each prompt (a question) and returns the final answer (" X"; "" when the loop failed);
//             the traces of the last call are kept (lastTraces) for inspection;
//   score     runs the loop, then scores the continuation after the transcript followed by "Final answer:" (what
//             the model would have written next had it answered) — teacher-forced protocols get MeLLo's context.
import type { GenerateOptions, ScoreOptions, TextGeneration, TextModel, TextScoreRequest, TextScoreResult } from '../../models/index.js';
import type { PatchState } from '../../models/patch.js';
import { createRetriever, retrieverSpec, type Retriever, type RetrieverSpec } from '../../retrieval/index.js';
import { withLeadingSpace, type NormalizedRequest } from '../request.js';
import type { InferenceWrapper } from '../types.js';
import { runMello, type LoopSettings, type MelloTrace } from './loop.js';
import { FINAL } from './prompt.js';

export const MELLO_STATE_FORMAT = 'lmedit-mello';

export interface MelloSettings extends LoopSettings {
  retriever: RetrieverSpec;
}

export interface MelloFact {
  editId: string;
  caseId?: string | number;
  sentence: string;
}

export class MelloWrapper implements InferenceWrapper {
  readonly kind = 'MELLO';
  private index?: Retriever;
  /** The traces of the last generate/score call, one per prompt. */
  lastTraces: MelloTrace[] = [];

  constructor(readonly settings: MelloSettings, private facts: MelloFact[] = []) {}

  memory(): readonly MelloFact[] {
    return this.facts;
  }

  addFacts(requests: readonly NormalizedRequest[], editId: string): MelloFact[] {
    const added = requests.map((r) => ({ editId, caseId: r.caseId, sentence: `${r.text}${withLeadingSpace(r.targetNew)}` }));
    this.facts.push(...added);
    this.index = undefined;
    return added;
  }

  /** The top-1 edited fact for a subquestion (ties to the earliest). */
  retrieve(subquestion: string): string | undefined {
    if (this.facts.length === 0) return undefined;
    this.index ??= createRetriever(this.settings.retriever, this.facts.map((f) => f.sentence));
    return this.facts[this.index.topK(subquestion, 1)[0].index].sentence;
  }

  trace(inner: TextModel, question: string, opts?: GenerateOptions): MelloTrace {
    return runMello(inner, question, (q) => this.retrieve(q), this.settings, opts);
  }

  generate(inner: TextModel, prompts: string[], opts?: GenerateOptions): TextGeneration[] {
    if (this.facts.length === 0) return inner.generate(prompts, opts);
    this.lastTraces = prompts.map((p) => this.trace(inner, p, { ...opts, doSample: opts?.doSample ?? false }));
    return this.lastTraces.map((t) => {
      const text = t.answer === undefined ? '' : withLeadingSpace(t.answer);
      return { ids: text === '' ? [] : inner.tokenizer.encode(text), text };
    });
  }

  score(inner: TextModel, requests: TextScoreRequest[], opts?: ScoreOptions): TextScoreResult[] {
    if (this.facts.length === 0) return inner.score(requests, opts);
    this.lastTraces = requests.map((r) => this.trace(inner, r.prompt));
    return inner.score(requests.map((r, i) => {
      const t = this.lastTraces[i];
      const base = t.outcome === 'answer' ? t.transcript.slice(0, t.transcript.lastIndexOf(FINAL)) : `${t.transcript.replace(/\s+$/, '')}\n`;
      return { prompt: `${base}${FINAL.trimEnd()}`, continuation: r.continuation };
    }), opts);
  }

  removeEdit(editId: string): void {
    this.facts = this.facts.filter((f) => f.editId !== editId);
    this.index = undefined;
  }

  editIds(): string[] {
    return [...new Set(this.facts.map((f) => f.editId))];
  }

  state(): PatchState {
    return { tensors: {}, meta: structuredClone({ format: MELLO_STATE_FORMAT, version: 1, settings: this.settings, facts: this.facts }) };
  }

  static fromState(state: PatchState, source = 'MeLLo state'): MelloWrapper {
    const m = state.meta as Record<string, any>;
    if (m?.format !== MELLO_STATE_FORMAT || m.version !== 1 || !Array.isArray(m.facts)) {
      throw new Error(`${source}: not a MeLLo wrapper state (expected format '${MELLO_STATE_FORMAT}' version 1 with facts)`);
    }
    const s = m.settings ?? {};
    if (!Number.isInteger(s.maxHops) || !Number.isInteger(s.maxNewTokens) || typeof s.taskPrompt !== 'string') throw new Error(`${source}: malformed settings`);
    m.facts.forEach((f: MelloFact, i: number) => {
      if (typeof f.editId !== 'string' || typeof f.sentence !== 'string') throw new Error(`${source}: fact ${i} is malformed (editId, sentence)`);
    });
    const settings: MelloSettings = { maxHops: s.maxHops, maxNewTokens: s.maxNewTokens, taskPrompt: s.taskPrompt, retriever: retrieverSpec(s.retriever, `${source}: settings.retriever`) };
    return new MelloWrapper(settings, structuredClone(m.facts));
  }

  dispose(): void {
    this.index = undefined;
  }
}
