// SERAC's inference wrapper (EasyEdit SERAC.generate / forward with supervised routing): a memory of edits shared by
// every edit of a session, each entry tagged with its edit id. A query is scored against every entry by the scope
// classifier; if the best entry's score exp(−scale·dist) exceeds 0.5 the counterfactual model answers
// `entry prompt + target_new + sep + query`, else the inner model (the base with whatever else is applied) answers
// the query unchanged. Hard routing, as EasyEdit at evaluation time (cls_sims > 0.5).
import { keep, noGrad, tidy, type Tensor } from '../../tensor/index.js';
import { textModelFor, type GenerateOptions, type ScoreOptions, type TextGeneration, type TextModel, type TextScoreRequest, type TextScoreResult } from '../../models/index.js';
import type { PatchState } from '../../models/patch.js';
import type { NormalizedRequest } from '../request.js';
import type { InferenceWrapper } from '../types.js';
import { counterfactualPrompt } from './nets.js';
import type { SeracEditor } from './train.js';

export const SERAC_STATE_FORMAT = 'lmedit-serac';

export interface SeracEntry {
  editId: string;
  caseId?: string | number;
  /** The edit prompt with the subject filled in (the classifier's key; EasyEdit cuts the label off the same way). */
  prompt: string;
  /** With its leading space. */
  targetNew: string;
}

export interface Route {
  /** Index into the memory of the best-matching entry (−1: empty memory). */
  entry: number;
  /** Its score exp(−scale·dist) in [0, 1]. */
  score: number;
  /** score > 0.5: the counterfactual model answers. */
  routed: boolean;
}

export class SeracWrapper implements InferenceWrapper {
  readonly kind = 'SERAC';
  private keys?: Tensor;
  private readonly cntrText: TextModel;

  constructor(readonly nets: SeracEditor, private entries: SeracEntry[] = []) {
    this.cntrText = textModelFor(nets.cntr, nets.tokenizer);
  }

  memory(): readonly SeracEntry[] {
    return this.entries;
  }

  /** Adds the requests as memory entries of `editId` (batch editing adds several). */
  add(requests: readonly NormalizedRequest[], editId: string): SeracEntry[] {
    const added = requests.map((r) => ({ editId, caseId: r.caseId, prompt: r.text, targetNew: r.targetNew }));
    this.entries.push(...added);
    this.dropKeys();
    return added;
  }

  /** The classifier's decision for each query. */
  route(queries: readonly string[]): Route[] {
    if (this.entries.length === 0) return queries.map(() => ({ entry: -1, score: 0, routed: false }));
    if (!this.keys) this.keys = keep(tidy(() => noGrad(() => this.nets.classifier.embed(this.entries.map((e) => e.prompt)))));
    const keys = this.keys;
    return tidy(() => noGrad(() => {
      const out: Route[] = [];
      for (let i = 0; i < queries.length; i += 64) {
        const ls = this.nets.classifier.logSims(this.nets.classifier.embed(queries.slice(i, i + 64)), keys);
        const best = ls.max(1);
        const v = best.values.toFlatArray();
        const at = best.indices.toFlatArray();
        v.forEach((x, j) => out.push({ entry: at[j], score: Math.exp(x), routed: Math.exp(x) > 0.5 }));
      }
      return out;
    }));
  }

  /** The counterfactual model's input for a routed query. */
  contextFor(query: string, entry: number): string {
    return counterfactualPrompt(this.entries[entry], query, this.nets.h.cntr_sep);
  }

  score(inner: TextModel, requests: TextScoreRequest[], opts?: ScoreOptions): TextScoreResult[] {
    if (this.entries.length === 0) return inner.score(requests, opts);
    const routes = this.route(requests.map((r) => r.prompt));
    const routed = requests.map((r, i) => ({ r, i })).filter(({ i }) => routes[i].routed);
    const plain = requests.map((r, i) => ({ r, i })).filter(({ i }) => !routes[i].routed);
    const out: TextScoreResult[] = new Array(requests.length);
    if (plain.length) inner.score(plain.map(({ r }) => r), opts).forEach((s, k) => { out[plain[k].i] = s; });
    if (routed.length) {
      const rewritten = routed.map(({ r, i }) => ({ prompt: this.contextFor(r.prompt, routes[i].entry), continuation: r.continuation }));
      // the counterfactual model has no patches of its own: teacher-forced scoring
      this.cntrText.score(rewritten, { ...opts, incremental: false }).forEach((s, k) => { out[routed[k].i] = s; });
    }
    return out;
  }

  generate(inner: TextModel, prompts: string[], opts?: GenerateOptions): TextGeneration[] {
    if (this.entries.length === 0) return inner.generate(prompts, opts);
    const routes = this.route(prompts);
    const out: TextGeneration[] = new Array(prompts.length);
    const plain = prompts.map((p, i) => ({ p, i })).filter(({ i }) => !routes[i].routed);
    const routed = prompts.map((p, i) => ({ p, i })).filter(({ i }) => routes[i].routed);
    if (plain.length) inner.generate(plain.map(({ p }) => p), opts).forEach((g, k) => { out[plain[k].i] = g; });
    // one prompt at a time: generate's batch shares its length budget
    for (const { p, i } of routed) out[i] = this.cntrText.generate([this.contextFor(p, routes[i].entry)], opts)[0];
    return out;
  }

  removeEdit(editId: string): void {
    this.entries = this.entries.filter((e) => e.editId !== editId);
    this.dropKeys();
  }

  editIds(): string[] {
    return [...new Set(this.entries.map((e) => e.editId))];
  }

  state(): PatchState {
    return { tensors: {}, meta: structuredClone({ format: SERAC_STATE_FORMAT, version: 1, entries: this.entries }) };
  }

  /** Entries of a saved state (checked). */
  static entriesOf(state: PatchState): SeracEntry[] {
    const m = state.meta as { format?: string; version?: number; entries?: SeracEntry[] };
    if (m?.format !== SERAC_STATE_FORMAT) throw new Error(`not a SERAC wrapper state (format '${m?.format}')`);
    if (m.version !== 1) throw new Error(`SERAC wrapper state version ${m.version} is not supported (expected 1)`);
    if (!Array.isArray(m.entries)) throw new Error('SERAC wrapper state has no entries');
    return m.entries.map((e) => ({ ...e }));
  }

  private dropKeys(): void {
    this.keys?.dispose();
    this.keys = undefined;
  }

  dispose(): void {
    this.dropKeys();
    this.nets.dispose();
  }
}
