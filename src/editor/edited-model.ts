// EditedModel: a base model plus its active edits, whatever their kind — weight deltas (applied in place, originals
// kept), installed module patches, inference wrappers. It is the only thing evaluation talks to (text-level score and
// generate, tokens through the wrappers), and it owns undo: rollback(id) of any one edit and restore() of all, bit-exact
// for weights (rebuilt from the saved originals and the remaining edits in their order). save(dir) writes a Hugging
// Face checkpoint with the deltas merged plus lmedit_state.safetensors for patches and wrappers; EditedModel.load
// rebuilds the same outputs. saveState/loadState write the same format as a separate file (edit packs, run
// checkpoints): weight edits as deltas or parameter values, replayed onto the base model they were made for.
import { keep, noGrad, type Tensor } from '../tensor/index.js';
import {
  textModelFor, type EditableModel, type ForwardInput, type LanguageModel, type ForwardOutput, type GenerateOptions, type ModulePatch, type ScoreOptions,
  type TextGeneration, type TextModel, type TextScoreRequest, type TextScoreResult,
} from '../models/index.js';
import type { Tokenizer } from '../io/tokenizer.js';
import type { Edit, InferenceWrapper } from '../methods/types.js';
import type { NormalizedRequest } from '../methods/request.js';
import { applyDelta, disposeDelta } from '../methods/delta.js';
import { assertFinite } from '../io/finite.js';

/** One edit as the EditedModel holds it. */
export interface AppliedEdit {
  id: string;
  /** alg_name of the method that computed it, and the hparams it ran with (saved; loaders get them back). */
  method: string;
  hparams: Record<string, unknown>;
  requests: NormalizedRequest[];
  edit: Edit;
  /** Parameters set to saved values instead of deltas (a resumed run's accumulated weights). */
  values?: Map<string, Tensor>;
  active: boolean;
  /** Free-form record kept with the edit in saved state (reports, timings). */
  info?: Record<string, unknown>;
}

export interface ApplyInfo {
  method: string;
  hparams: Record<string, unknown>;
  requests: NormalizedRequest[];
  info?: Record<string, unknown>;
}

/**
 * `M` is the base model's class: CausalLM (every causal architecture) or T5Model (an encoder-decoder).
 * Loaders that read the class from a checkpoint take it as a type argument, as a typed view of what was loaded.
 */
export class EditedModel<M extends EditableModel = EditableModel> implements TextModel {
  readonly applied: AppliedEdit[] = [];
  private readonly originals = new Map<string, Tensor>();
  private readonly uninstallers = new Map<ModulePatch, () => void>();
  private wrappers: InferenceWrapper[] = [];
  private readonly plain: TextModel;
  /** Weights differ from the loaded ones. */
  private weightsChanged = false;

  constructor(readonly base: M, readonly tokenizer: Tokenizer) {
    this.plain = textModelFor(base, tokenizer);
  }

  // ---- the model, as evaluation sees it --------------------------------------------------------------------
  get maxPositions(): number {
    return this.plain.maxPositions;
  }
  /** Token-level forward of the base with its weight edits and patches (wrappers act on text only). */
  forward(input: ForwardInput): ForwardOutput {
    return (this.base as LanguageModel).forward(input);
  }
  score(requests: TextScoreRequest[], opts?: ScoreOptions): TextScoreResult[] {
    return this.outermost().score(requests, opts);
  }
  generate(prompts: string[], opts?: GenerateOptions): TextGeneration[] {
    return this.outermost().generate(prompts, opts);
  }
  /** The text model with the first `n` wrappers (all by default) around the patched base. */
  private outermost(n = this.wrappers.length): TextModel {
    if (n === 0) return this.plain;
    const inner = this.outermost(n - 1);
    const w = this.wrappers[n - 1];
    return {
      tokenizer: this.tokenizer,
      maxPositions: inner.maxPositions,
      score: (r, o) => w.score(inner, r, o),
      generate: (p, o) => w.generate(inner, p, o),
    };
  }

  // ---- state ----------------------------------------------------------------------------------------------
  get activeEdits(): AppliedEdit[] {
    return this.applied.filter((a) => a.active);
  }
  /** True when nothing is applied and the weights are the loaded ones (value caches are valid only then). */
  get pristine(): boolean {
    return !this.weightsChanged && this.uninstallers.size === 0 && this.wrappers.length === 0;
  }
  /** Parameters edits have changed since load (restore() returns them). */
  get touchedParameters(): string[] {
    return [...this.originals.keys()];
  }
  patches(): ModulePatch[] {
    return this.base.installedPatches();
  }
  inferenceWrappers(): readonly InferenceWrapper[] {
    return this.wrappers;
  }

  // ---- applying and undoing ------------------------------------------------------------------------------
  /** Applies a computed edit under `id`: deltas into the weights, patches installed once, the wrapper added once. */
  apply(id: string, edit: Edit, info: ApplyInfo): AppliedEdit {
    if (this.applied.some((a) => a.id === id)) throw new Error(`an edit with id '${id}' was already applied`);
    for (const d of edit.deltas) {
      this.rememberOriginal(d.param);
      applyDelta(this.base, d);
      this.weightsChanged = true;
    }
    for (const p of edit.patches ?? []) this.installPatch(p);
    if (edit.wrapper && !this.wrappers.includes(edit.wrapper)) this.wrappers.push(edit.wrapper);
    const a: AppliedEdit = { id, ...info, edit, active: true };
    this.applied.push(a);
    return a;
  }

  /** Sets parameters to saved values, recorded as one edit (a resumed run's accumulated weights). */
  adopt(id: string, values: Map<string, Tensor>, info: ApplyInfo, memory?: Record<string, Tensor>): AppliedEdit {
    const kept = new Map<string, Tensor>();
    for (const [name, value] of values) {
      const p = this.base.parameter(name);
      if (value.shape.join() !== p.shape.join()) throw new Error(`adopt: '${name}' has shape [${value.shape}], the model's is [${p.shape}]`);
      assertFinite(value, `adopted value of '${name}'`);
      this.rememberOriginal(name);
      kept.set(name, keep(noGrad(() => value.to({ dtype: p.dtype, device: p.device, copy: true }))));
    }
    for (const [name, value] of kept) this.base.setParameter(name, value);
    this.weightsChanged = true;
    const edit: Edit = { deltas: [], diagnostics: [], statsKeys: [] };
    if (memory) edit.memory = Object.fromEntries(Object.entries(memory).map(([k, t]) => [k, keep(noGrad(() => t.clone()))]));
    const a: AppliedEdit = { id, ...info, edit, values: kept, active: true };
    this.applied.push(a);
    return a;
  }

  /** Undoes one edit; the others stay exactly as they were (weights rebuilt from the originals, in edit order). */
  rollback(id: string): void {
    const a = this.applied.find((x) => x.id === id);
    if (!a) throw new Error(`no edit '${id}' (edits: ${this.applied.map((x) => x.id).join(', ') || 'none'})`);
    if (!a.active) throw new Error(`edit '${id}' was already rolled back`);
    a.active = false;
    const params = new Set([...a.edit.deltas.map((d) => d.param), ...(a.values?.keys() ?? [])]);
    this.rebuildWeights(params);
    for (const p of a.edit.patches ?? []) {
      p.removeEdit?.(id);
      if (!this.activeEdits.some((x) => x.edit.patches?.includes(p))) this.uninstallPatch(p);
    }
    const w = a.edit.wrapper;
    if (w) {
      w.removeEdit?.(id);
      if (!this.activeEdits.some((x) => x.edit.wrapper === w)) this.wrappers = this.wrappers.filter((x) => x !== w);
    }
  }

  /** Undoes every edit: the loaded weights exactly, no patch, no wrapper. */
  restore(): void {
    for (const [name, value] of this.originals) this.base.setParameter(name, value);
    for (const a of this.activeEdits) {
      for (const p of a.edit.patches ?? []) p.removeEdit?.(a.id);
      a.edit.wrapper?.removeEdit?.(a.id);
      a.active = false;
    }
    for (const p of [...this.uninstallers.keys()]) this.uninstallPatch(p);
    this.wrappers = [];
    this.weightsChanged = false;
  }

  private rebuildWeights(params: Set<string>): void {
    for (const name of params) {
      this.base.setParameter(name, this.originals.get(name)!);
      for (const a of this.activeEdits) {
        const v = a.values?.get(name);
        if (v) this.base.setParameter(name, v);
        for (const d of a.edit.deltas) if (d.param === name) applyDelta(this.base, d);
      }
    }
    this.weightsChanged = this.activeEdits.some((a) => a.edit.deltas.length > 0 || (a.values?.size ?? 0) > 0);
  }

  private rememberOriginal(param: string): void {
    if (!this.originals.has(param)) this.originals.set(param, this.base.snapshot([param]).get(param)!);
  }

  private installPatch(p: ModulePatch): void {
    if (this.uninstallers.has(p)) return;
    if (this.base.isInstalled(p)) throw new Error(`the ${p.kind} patch at '${p.module}' is installed in the model but not through this EditedModel`);
    this.uninstallers.set(p, this.base.install(p));
  }

  private uninstallPatch(p: ModulePatch): void {
    this.uninstallers.get(p)?.();
    this.uninstallers.delete(p);
  }

  /** Frees deltas, saved values, originals and the components (not the base model). */
  dispose(): void {
    const components = new Set<{ dispose(): void }>();
    for (const a of this.applied) {
      a.edit.deltas.forEach(disposeDelta);
      for (const v of a.values?.values() ?? []) v.dispose();
      for (const m of Object.values(a.edit.memory ?? {})) m.dispose();
      for (const p of a.edit.patches ?? []) components.add(p);
      if (a.edit.wrapper) components.add(a.edit.wrapper);
    }
    for (const p of [...this.uninstallers.keys()]) this.uninstallPatch(p);
    for (const c of components) c.dispose();
    for (const t of this.originals.values()) t.dispose();
    this.originals.clear();
    this.wrappers = [];
  }
}
