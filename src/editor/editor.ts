// The Editor: a model, a method and its hparams. edit() applies edits and returns per-request diagnostics; nothing is
// rolled back silently: restore() returns to the original weights, rollback(id) undoes one edit, save() writes a
// loadable checkpoint with a record of the edits, saveDelta() a compact edit pack (see pack.ts).
import { join } from 'node:path';
import { keep, noGrad, tidy, type Tensor } from '../tensor/index.js';
import { loadModel, saveModel, scoreContinuations, type CausalLM, type LoadOptions, type SaveOptions } from '../models/index.js';
import { loadTokenizer, type Tokenizer } from '../io/tokenizer.js';
import { readHparamsFile, validateHparams } from '../methods/hparams.js';
import { normalizeRequests, type EditRequest, type NormalizedRequest } from '../methods/request.js';
import type { EditDiagnostics, EditMethod, SecondMomentProvider, WeightDelta } from '../methods/types.js';
import { applyDelta, deltaNorm, disposeDelta } from '../methods/delta.js';
import { methodFor } from './methods.js';
import { writePack, type PackManifest } from './pack.js';
import { DiskValueCache, scopedValueCache, type ValueCache } from '../methods/value-cache.js';
import { defaultStatsDir, modelFingerprint } from '../stats/index.js';

export interface EditorOptions {
  /** alg_name: ROME, R-ROME, MEMIT, FT-L, FT-M, … */
  method: string;
  /** An hparams file (YAML/JSON) or the fields themselves. */
  hparams: string | Record<string, unknown>;
  /** Fields that replace the file's (`--set field=value`); validated the same way, named in `hparamsSource`. */
  overrides?: Record<string, unknown>;
  /** Second-moment statistics for methods that need them (src/stats StatsCache). */
  stats?: SecondMomentProvider;
  /** Seed for the method's random choices (context templates). Default 0. */
  seed?: number;
  log?: (message: string) => void;
  /**
   * Reuse optimised values (ROME's v*, MEMIT's z) computed earlier on the unedited model: a ValueCache, or a
   * directory for a DiskValueCache shared across runs. Entries are scoped by the model's content fingerprint, and the
   * cache is consulted only while no edit is applied (after load or restore()). Off by default.
   */
  valueCache?: ValueCache | string;
}

/** How the model answered one request before and after its edit (ROME's probability comparison). */
export interface PromptCheck {
  /** Mean log-probability of the new target's tokens after the prompt. */
  targetNew: number;
  /** Same for the true answer, when the request gives one. */
  groundTruth?: number;
}

export interface RequestReport extends EditDiagnostics {
  before: PromptCheck;
  after: PromptCheck;
  /** After the edit the new target is more likely than the true one (needs groundTruth). */
  success?: boolean;
  /** ‖ΔW‖_F of this edit's deltas. */
  deltaNorm: number;
}

export interface EditRecord {
  id: string;
  method: string;
  requests: NormalizedRequest[];
  deltas: WeightDelta[];
  reports: RequestReport[];
  statsKeys: string[];
  seconds: number;
  active: boolean;
  /**
   * 'state': parameters set to saved values (adoptState, e.g. a resumed sequential run) rather than computed by the
   * method; its deltas are the dense differences to the original values.
   */
  kind?: 'edit' | 'state';
}

export class Editor {
  readonly method: EditMethod;
  readonly methodName: string;
  readonly hparams: Record<string, any>;
  readonly hparamsSource: string;
  readonly history: EditRecord[] = [];
  private readonly originals = new Map<string, Tensor>();
  private nextId = 1;
  /** Weights differ from the loaded ones (an edit was applied; rollback() subtracts, which is not bit-exact). */
  private modified = false;
  private scopedCache?: ValueCache;

  constructor(readonly model: CausalLM, readonly tokenizer: Tokenizer, readonly options: EditorOptions) {
    const { method, defaults } = methodFor(options.method);
    this.method = method;
    this.methodName = options.method.toUpperCase();
    const { raw, source } = typeof options.hparams === 'string'
      ? (({ raw: r, file }) => ({ raw: r, source: file }))(readHparamsFile(options.hparams))
      : { raw: options.hparams, source: 'hparams' };
    const overrides = options.overrides ?? {};
    const keys = Object.keys(overrides);
    this.hparamsSource = keys.length ? `${source} with ${keys.map((k) => `${k}=${JSON.stringify(overrides[k])}`).join(', ')}` : source;
    this.hparams = validateHparams({ ...defaults, ...raw, ...overrides }, method.schema, this.hparamsSource);
    method.check(model, this.hparams, this.hparamsSource);
  }

  /** Loads a model (directory or cached repo id) and its tokenizer, then builds an Editor. */
  static open(modelPath: string, options: EditorOptions & LoadOptions): Editor {
    const model = loadModel(modelPath, options);
    return new Editor(model, loadTokenizer(model.source.dir, model.source.rawConfig), options);
  }

  /**
   * Applies edits and keeps them. A 'sequential' method (ROME) edits the requests one after another; a 'batch'
   * method (MEMIT, FT) in one computation. Returns one record per computation.
   */
  edit(requests: EditRequest | EditRequest[]): EditRecord[] {
    const normalized = normalizeRequests(Array.isArray(requests) ? requests : [requests]);
    const groups = this.method.batching === 'sequential' ? normalized.map((r) => [r]) : [normalized];
    return groups.map((g) => this.editGroup(g));
  }

  private editGroup(requests: NormalizedRequest[]): EditRecord {
    const before = this.check(requests);
    const started = performance.now();
    const result = this.method.compute(this.model, requests, this.hparams, {
      tokenizer: this.tokenizer, stats: this.options.stats, seed: this.options.seed ?? 0, log: this.options.log,
      valueCache: this.modified ? undefined : this.valueCache(),
    });
    for (const d of result.deltas) {
      this.rememberOriginal(d.param);
      applyDelta(this.model, d);
      this.modified = true;
    }
    const seconds = (performance.now() - started) / 1000;
    const after = this.check(requests);
    const norm = result.deltas.reduce((s, d) => s + deltaNorm(d) ** 2, 0) ** 0.5;
    const reports = requests.map((r, i): RequestReport => {
      const diag = result.diagnostics.find((d) => d.prompt === r.text && d.targetNew === r.targetNew) ?? {
        caseId: r.caseId, prompt: r.text, targetNew: r.targetNew, seconds: seconds / requests.length,
      };
      return {
        ...diag,
        before: before[i],
        after: after[i],
        success: after[i].groundTruth === undefined ? undefined : after[i].targetNew > after[i].groundTruth,
        deltaNorm: norm,
      };
    });
    const record: EditRecord = {
      id: `edit-${this.nextId++}`, method: this.methodName, requests, deltas: result.deltas, reports,
      statsKeys: [...new Set(result.statsKeys)], seconds, active: true,
    };
    this.history.push(record);
    return record;
  }

  /** Values looked up in the value cache so far (0 without one). */
  get valueCacheHits(): number {
    return this.scopedCache?.hits ?? 0;
  }

  private valueCache(): ValueCache | undefined {
    const c = this.options.valueCache;
    if (c === undefined) return undefined;
    if (!this.scopedCache) {
      const fp = modelFingerprint(this.model.source.dir, { cacheDir: defaultStatsDir() });
      this.scopedCache = typeof c === 'string' ? new DiskValueCache(join(c, fp)) : scopedValueCache(c, fp);
    }
    return this.scopedCache;
  }

  /** Mean target log-probabilities on each request's own prompt. */
  private check(requests: NormalizedRequest[]): PromptCheck[] {
    const tok = this.tokenizer;
    const reqs = requests.flatMap((r) => [
      { prompt: tok.encode(r.text), continuation: tok.encode(r.targetNew) },
      ...(r.groundTruth ? [{ prompt: tok.encode(r.text), continuation: tok.encode(r.groundTruth) }] : []),
    ]);
    const scores = scoreContinuations(this.model, reqs);
    let k = 0;
    return requests.map((r) => ({ targetNew: scores[k++].mean, groundTruth: r.groundTruth ? scores[k++].mean : undefined }));
  }

  private rememberOriginal(param: string): void {
    if (!this.originals.has(param)) this.originals.set(param, this.model.snapshot([param]).get(param)!);
  }

  /** Undoes one edit by subtracting its deltas (exact for additive updates, in any order). */
  rollback(editId: string): void {
    const record = this.history.find((r) => r.id === editId);
    if (!record) throw new Error(`no edit '${editId}' (edits: ${this.history.map((r) => r.id).join(', ') || 'none'})`);
    if (!record.active) throw new Error(`edit '${editId}' was already rolled back`);
    for (const d of record.deltas) applyDelta(this.model, d, -1);
    record.active = false;
  }

  /** Returns every touched parameter to its original value and marks all edits inactive. */
  restore(): void {
    for (const [name, value] of this.originals) this.model.setParameter(name, value);
    for (const r of this.history) r.active = false;
    this.modified = false;
  }

  /** Names of the parameters that edits have changed since the Editor was made (restore() resets them). */
  get touchedParameters(): string[] {
    return [...this.originals.keys()];
  }

  /**
   * Sets parameters to saved values and records that as one active 'state' record standing for `requests` (its
   * deltas: the dense differences to the original values): how a resumed sequential run gets back the weights its
   * earlier edits left. restore() returns to the original weights exactly; save() and saveDelta() include it.
   */
  adoptState(values: Map<string, Tensor>, requests: EditRequest[]): EditRecord {
    const normalized = normalizeRequests(requests);
    const deltas: WeightDelta[] = [];
    for (const [name, value] of values) {
      this.rememberOriginal(name);
      const original = this.originals.get(name)!;
      if (value.shape.join() !== original.shape.join()) throw new Error(`adoptState: '${name}' has shape [${value.shape}], the model's is [${original.shape}]`);
      const current = this.model.snapshot([name]).get(name)!;
      try {
        deltas.push({ param: name, dense: tidy(() => noGrad(() => keep(value.to({ dtype: 'float32' }).sub(current.to({ dtype: 'float32' }))))) });
      } finally {
        current.dispose();
      }
      this.model.setParameter(name, value);
      this.modified = true;
    }
    const record: EditRecord = {
      id: `edit-${this.nextId++}`, method: this.methodName, requests: normalized, deltas, reports: [], statsKeys: [],
      seconds: 0, active: true, kind: 'state',
    };
    this.history.push(record);
    return record;
  }

  /** Edits currently applied. */
  get activeEdits(): EditRecord[] {
    return this.history.filter((r) => r.active);
  }

  /** Writes the edited model as a Hugging Face checkpoint plus lmedit_edits.json (edits and hparams). */
  save(dir: string, opts: SaveOptions = {}): void {
    saveModel(this.model, dir, { ...opts, extraJson: { ...opts.extraJson, 'lmedit_edits.json': this.describe() } });
  }

  /** Writes the active edits as a compact edit pack (see pack.ts); `lmedit apply` replays it on the same base model. */
  saveDelta(file: string): PackManifest {
    return writePack(file, this.model, this.methodName, this.hparams,
      this.activeEdits.map((r) => ({ id: r.id, requests: r.requests.map(({ index: _i, ...rest }) => rest), deltas: r.deltas })));
  }

  /** A JSON-able account of the active edits and the settings that produced them. */
  describe(): Record<string, unknown> {
    return {
      base_model: this.model.source.dir,
      method: this.methodName,
      hparams: this.hparams,
      hparams_source: this.hparamsSource,
      seed: this.options.seed ?? 0,
      edits: this.activeEdits.map((r) => ({
        id: r.id,
        stats_keys: r.statsKeys,
        seconds: r.seconds,
        requests: r.requests.map(({ index: _i, ...rest }) => rest),
        reports: r.reports.map(({ extra: _e, ...rest }) => rest),
        params: r.deltas.map((d) => d.param),
      })),
    };
  }

  /** Frees the deltas and snapshots (not the model). */
  dispose(): void {
    for (const r of this.history) r.deltas.forEach(disposeDelta);
    for (const t of this.originals.values()) t.dispose();
    this.originals.clear();
  }
}
