// MemPrompt's inference wrapper: one memory of (question → feedback) entries shared by every edit, each tagged with
// the edit that added it. A query with a hit is rewritten with the prompt template (the original's
// `f"{question} | {clarification}"`, openai_wrapper.py::enrich_with_memory) before the inner model sees it; a query
// without one passes unchanged. Continuations are scored unchanged.
import type { GenerateOptions, ScoreOptions, TextGeneration, TextModel, TextScoreRequest, TextScoreResult } from '../../models/index.js';
import type { PatchState } from '../../models/patch.js';
import type { NormalizedRequest } from '../request.js';
import type { InferenceWrapper } from '../types.js';
import { MEMPROMPT_RETRIEVERS, type MemPromptHparams } from './hparams.js';
import { MemPromptMemory, normalizeKey, type MatchSettings, type MemoryEntry, type MemoryHit } from './memory.js';

export const MEMPROMPT_STATE_FORMAT = 'lmedit-memprompt';

export interface MemPromptSettings extends MatchSettings {
  promptTemplate: string;
  feedbackTemplate: string;
}

export function memPromptSettings(h: MemPromptHparams): MemPromptSettings {
  return {
    retriever: h.retriever, fuzzyThreshold: h.fuzzy_threshold, fuzzyNormalized: h.fuzzy_normalized, scoreThreshold: h.score_threshold,
    bm25: { k1: h.bm25_k1, b: h.bm25_b }, promptTemplate: h.prompt_template, feedbackTemplate: h.feedback_template,
  };
}

/** Fills `{name}` placeholders in one pass (a value containing a placeholder is not expanded again). */
export function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (m, name: string) => (name in values ? values[name] : m));
}

export class MemPromptWrapper implements InferenceWrapper {
  readonly kind = 'MEMPROMPT';
  readonly memory: MemPromptMemory;

  constructor(readonly settings: MemPromptSettings, entries: MemoryEntry[] = []) {
    this.memory = new MemPromptMemory(settings, entries);
  }

  /** Adds one entry per request under `editId`: key = the filled edit prompt, feedback = the new fact. */
  addEdits(requests: readonly NormalizedRequest[], editId: string): MemoryEntry[] {
    const added = requests.map((r) => ({
      editId, caseId: r.caseId, question: r.text, key: normalizeKey(r.text),
      feedback: fill(this.settings.feedbackTemplate, { prompt: r.text, target_new: r.targetNew.trim() }),
    }));
    this.memory.add(added);
    return added;
  }

  lookup(query: string): MemoryHit | undefined {
    return this.memory.lookup(query);
  }

  /** The text the inner model sees for a query. */
  contextFor(query: string): string {
    const hit = this.memory.lookup(query);
    return hit ? fill(this.settings.promptTemplate, { question: query, feedback: hit.entry.feedback }) : query;
  }

  score(inner: TextModel, requests: TextScoreRequest[], opts?: ScoreOptions): TextScoreResult[] {
    const rewritten = requests.map((r) => ({ prompt: this.contextFor(r.prompt), continuation: r.continuation }));
    return inner.score(rewritten, opts);
  }

  generate(inner: TextModel, prompts: string[], opts?: GenerateOptions): TextGeneration[] {
    return inner.generate(prompts.map((p) => this.contextFor(p)), opts);
  }

  removeEdit(editId: string): void {
    this.memory.removeEdit(editId);
  }

  editIds(): string[] {
    return [...new Set(this.memory.all().map((e) => e.editId))];
  }

  state(): PatchState {
    return { tensors: {}, meta: structuredClone({ format: MEMPROMPT_STATE_FORMAT, version: 1, settings: this.settings, entries: this.memory.all() }) };
  }

  static fromState(state: PatchState, source = 'MemPrompt state'): MemPromptWrapper {
    const m = state.meta as Record<string, any>;
    if (m?.format !== MEMPROMPT_STATE_FORMAT || m.version !== 1 || !Array.isArray(m.entries)) {
      throw new Error(`${source}: not a MemPrompt wrapper state (expected format '${MEMPROMPT_STATE_FORMAT}' version 1 with entries)`);
    }
    const s = m.settings ?? {};
    if (!MEMPROMPT_RETRIEVERS.includes(s.retriever) || typeof s.fuzzyThreshold !== 'number' || typeof s.promptTemplate !== 'string' || typeof s.feedbackTemplate !== 'string') {
      throw new Error(`${source}: malformed settings ${JSON.stringify(s)}`);
    }
    m.entries.forEach((e: MemoryEntry, i: number) => {
      if (typeof e.editId !== 'string' || typeof e.question !== 'string' || typeof e.key !== 'string' || typeof e.feedback !== 'string') {
        throw new Error(`${source}: entry ${i} is malformed (editId, question, key, feedback)`);
      }
    });
    return new MemPromptWrapper(structuredClone(s), structuredClone(m.entries));
  }

  dispose(): void {
    // nothing held beyond plain data
  }
}
