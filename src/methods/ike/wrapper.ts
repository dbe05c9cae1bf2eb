// IKE's inference wrapper: a memory of new facts, each tagged with the edit that added it and carrying the
// demonstrations retrieved for it. A query is answered by the model given
//   demonstrations of the fact + "New Fact: {fact}\nPrompt: {query}"
// With one fact in memory that fact is used for every query (EasyEdit's evaluation: the edit's own fact precedes
// every probe, locality probes included). With several (sequential editing, which EasyEdit's IKE does not have), the
// fact most similar to the query is used (ties to the earliest). Continuations are scored unchanged.
import type { GenerateOptions, ScoreOptions, TextGeneration, TextModel, TextScoreRequest, TextScoreResult } from '../../models/index.js';
import type { PatchState } from '../../models/patch.js';
import { createRetriever, retrieverSpec, type Embedder, type Retriever, type RetrieverSpec } from '../../retrieval/index.js';
import type { NormalizedRequest } from '../request.js';
import type { InferenceWrapper } from '../types.js';
import { factText, ikePrompt, retrievalQuery, type Demonstration } from './demos.js';
import { selectDemonstrations, type SelectionSettings } from './selection.js';
import { DEMO_ORDERS, DEMO_SELECTIONS } from './hparams.js';

export const IKE_STATE_FORMAT = 'lmedit-ike';

export interface IkeSettings extends SelectionSettings {
  retriever: RetrieverSpec;
}

/** A new fact in the memory. */
export interface IkeFact {
  editId: string;
  caseId?: string | number;
  /** The edit prompt with the subject filled in. */
  prompt: string;
  /** With its leading space. */
  targetNew: string;
  /** Indices into the demonstrations, in context order. */
  demonstrations: number[];
}

export class IkeWrapper implements InferenceWrapper {
  readonly kind = 'IKE';
  private demoIndex?: Retriever;
  private factIndex?: Retriever;

  constructor(
    readonly settings: IkeSettings,
    readonly demonstrations: readonly Demonstration[],
    private facts: IkeFact[] = [],
    private readonly embedder?: Embedder,
    /** An encoder this wrapper loaded and frees on dispose (the same object as `embedder`). */
    private readonly ownedEncoder?: { dispose(): void },
  ) {}

  /** The facts in memory, oldest first. */
  memory(): readonly IkeFact[] {
    return this.facts;
  }

  /** Adds the requests' facts under `editId`, with their demonstrations retrieved now; returns the facts added. */
  addFacts(requests: readonly NormalizedRequest[], editId: string): IkeFact[] {
    this.demoIndex ??= createRetriever(this.settings.retriever, this.demonstrations.map((d) => d.text), this.embedder);
    const added = requests.map((r) => ({
      editId,
      caseId: r.caseId,
      prompt: r.text,
      targetNew: r.targetNew,
      demonstrations: selectDemonstrations(this.demonstrations, this.demoIndex!, retrievalQuery(r), this.settings),
    }));
    this.facts.push(...added);
    this.factIndex = undefined;
    return added;
  }

  /** The fact a query is answered with: the only one, else the most similar; none with an empty memory. */
  factFor(query: string): IkeFact | undefined {
    if (this.facts.length <= 1) return this.facts[0];
    this.factIndex ??= createRetriever(this.settings.retriever, this.facts.map((f) => factText({ text: f.prompt, targetNew: f.targetNew })), this.embedder);
    return this.facts[this.factIndex.topK(query, 1)[0].index];
  }

  /** The text the inner model sees for a query (the query itself with an empty memory). */
  contextFor(query: string): string {
    const fact = this.factFor(query);
    if (!fact) return query;
    const demos = fact.demonstrations.map((i) => this.demonstrations[i].text);
    return ikePrompt(demos, factText({ text: fact.prompt, targetNew: fact.targetNew }), query);
  }

  score(inner: TextModel, requests: TextScoreRequest[], opts?: ScoreOptions): TextScoreResult[] {
    if (this.facts.length === 0) return inner.score(requests, opts);
    const rewritten = requests.map((r) => ({ prompt: this.contextFor(r.prompt), continuation: r.continuation }));
    rewritten.forEach((r, i) => {
      const n = inner.tokenizer.encode(r.prompt).length + inner.tokenizer.encode(r.continuation).length;
      if (n > inner.maxPositions) throw this.overflow(inner, requests[i].prompt, `with its continuation is ${n} tokens, more than the model's ${inner.maxPositions} positions`);
    });
    return inner.score(rewritten, opts);
  }

  generate(inner: TextModel, prompts: string[], opts?: GenerateOptions): TextGeneration[] {
    if (this.facts.length === 0) return inner.generate(prompts, opts);
    const rewritten = prompts.map((p) => this.contextFor(p));
    rewritten.forEach((p, i) => {
      // at least one position must be left to generate into
      const n = inner.tokenizer.encode(p).length;
      if (n >= inner.maxPositions) throw this.overflow(inner, prompts[i], `is ${n} tokens, which leaves none of the model's ${inner.maxPositions} positions to generate into`);
    });
    return inner.generate(rewritten, opts);
  }

  private overflow(inner: TextModel, query: string, what: string): Error {
    const k = this.factFor(query)?.demonstrations.length ?? 0;
    return new Error(`IKE: the query ${JSON.stringify(query)} (${inner.tokenizer.encode(query).length} tokens) with its context ` +
      `(${k} demonstrations and the new fact) ${what}; lower k (nothing is truncated)`);
  }

  removeEdit(editId: string): void {
    this.facts = this.facts.filter((f) => f.editId !== editId);
    this.factIndex = undefined;
  }

  editIds(): string[] {
    return [...new Set(this.facts.map((f) => f.editId))];
  }

  state(): PatchState {
    return {
      tensors: {},
      meta: structuredClone({ format: IKE_STATE_FORMAT, version: 1, settings: this.settings, demonstrations: this.demonstrations, facts: this.facts }),
    };
  }

  /** Rebuilds a wrapper from `state()`; an embedding retriever needs its embedder again. */
  static fromState(state: PatchState, embedder?: Embedder, source = 'IKE state', owned?: { dispose(): void }): IkeWrapper {
    const m = state.meta as Record<string, any>;
    if (m?.format !== IKE_STATE_FORMAT || m.version !== 1 || !Array.isArray(m.demonstrations) || !Array.isArray(m.facts)) {
      throw new Error(`${source}: not an IKE wrapper state (expected format '${IKE_STATE_FORMAT}' version 1 with demonstrations and facts)`);
    }
    const s = m.settings ?? {};
    if (!Number.isInteger(s.k) || !DEMO_SELECTIONS.includes(s.selection) || !DEMO_ORDERS.includes(s.order) || typeof s.seed !== 'number') {
      throw new Error(`${source}: settings must hold k, selection, order and seed, got ${JSON.stringify(s)}`);
    }
    const settings: IkeSettings = { k: s.k, selection: s.selection, order: s.order, seed: s.seed, retriever: retrieverSpec(s.retriever, `${source}: settings.retriever`) };
    const n = m.demonstrations.length;
    m.facts.forEach((f: IkeFact, i: number) => {
      if (typeof f.editId !== 'string' || typeof f.prompt !== 'string' || typeof f.targetNew !== 'string' ||
        !Array.isArray(f.demonstrations) || f.demonstrations.some((d) => !Number.isInteger(d) || d < 0 || d >= n)) {
        throw new Error(`${source}: fact ${i} is malformed (editId, prompt, targetNew, demonstrations in 0..${n - 1})`);
      }
    });
    return new IkeWrapper(settings, structuredClone(m.demonstrations), structuredClone(m.facts), embedder, owned);
  }

  dispose(): void {
    this.demoIndex = undefined;
    this.factIndex = undefined;
    this.ownedEncoder?.dispose();
  }
}
