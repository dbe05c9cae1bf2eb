// The Editor: a model, a method session and its hparams. edit() computes edits with the method and applies them to the
// EditedModel (weights, patches, wrappers); nothing is rolled back silently: restore() undoes every edit, rollback(id)
// one, save() writes the edited model (persist.ts), saveState()/saveDelta() the edits alone (state-file.ts). The
// Editor never measures: evaluation does (src/eval).
import { join } from 'node:path';
import type { Tensor } from '../tensor/index.js';
import { isEncoderDecoder, loadEditableModel, type CausalLM, type EditableModel, type LoadOptions, type SaveOptions } from '../models/index.js';
import { loadTokenizer, type Tokenizer } from '../io/tokenizer.js';
import { checkAlgName, readHparamsFile, validateHparams } from '../methods/hparams.js';
import { normalizeRequests, type EditRequest, type NormalizedRequest } from '../methods/request.js';
import type { Edit, EditDiagnostics, EditMethod, MethodSession, SecondMomentProvider, WeightDelta } from '../methods/types.js';
import { deltaNorm } from '../methods/delta.js';
import { methodFor } from './methods.js';
import { requireCausal } from '../methods/architecture.js';
import { EditedModel } from './edited-model.js';
import { loadEditState, saveEditState, saveEditedModel, type SaveStateOptions } from './persist.js';
import type { StateFile, StateManifest } from './state-file.js';
import { assertFinite } from '../io/finite.js';
import { DiskValueCache, scopedValueCache, type ValueCache } from '../methods/value-cache.js';
import { defaultStatsDir, modelFingerprint } from '../stats/index.js';
import { conflictMessage, findConflicts, type ConflictOptions, type EditConflict } from './conflicts.js';

export type { ConflictOptions, EditConflict } from './conflicts.js';

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
  /** Demonstration / training pool for methods that need one (IKE), disjoint from the evaluated cases. */
  pool?: NormalizedRequest[];
  /** Edit this EditedModel (e.g. one loaded with its patches) instead of a fresh one over `model`. */
  edited?: EditedModel<any>;
  /**
   * Edit-conflict warnings (conflicts.ts): before an edit is applied, the earlier edits whose keys it reaches are
   * recorded in EditRecord.conflicts and named in one warning through `log`. Default: on, threshold 0.5.
   */
  conflicts?: ConflictOptions;
}

export interface RequestReport extends EditDiagnostics {
  /** ‖ΔW‖_F of this edit's deltas (0 for edits without weight changes). */
  deltaNorm: number;
}

export interface EditRecord {
  id: string;
  method: string;
  requests: NormalizedRequest[];
  deltas: WeightDelta[];
  /** The full edit as the method computed it (deltas, patches, wrapper). */
  edit: Edit;
  reports: RequestReport[];
  statsKeys: string[];
  seconds: number;
  active: boolean;
  /** Earlier edits whose keys this one reaches (conflicts.ts), found before it was applied; [] when none. */
  conflicts: EditConflict[];
  /**
   * 'state': parameters set to saved values (adoptState, e.g. a resumed sequential run) rather than computed by the
   * method.
   */
  kind?: 'edit' | 'state';
}

/** `M`: the model's class (see EditedModel); Editor.open defaults it to CausalLM, Editor.open<T5Model>(dir, …) for a T5. */
export class Editor<M extends EditableModel = EditableModel> {
  readonly method: EditMethod;
  readonly methodName: string;
  readonly hparams: Record<string, any>;
  readonly hparamsSource: string;
  readonly history: EditRecord[] = [];
  /** The base model with the active edits: what evaluation scores and what save() writes. */
  readonly edited: EditedModel<M>;
  private readonly session: MethodSession;
  private nextId = 1;
  private scopedCache?: ValueCache;

  constructor(readonly model: M, readonly tokenizer: Tokenizer, readonly options: EditorOptions) {
    const { method, defaults } = methodFor(options.method);
    this.method = method;
    this.methodName = options.method.toUpperCase();
    if (isEncoderDecoder(model) && !method.encoderDecoder) requireCausal(model, this.methodName);
    const { raw, source } = typeof options.hparams === 'string'
      ? (({ raw: r, file }) => ({ raw: r, source: file }))(readHparamsFile(options.hparams))
      : { raw: options.hparams, source: 'hparams' };
    const overrides = options.overrides ?? {};
    const keys = Object.keys(overrides);
    this.hparamsSource = keys.length ? `${source} with ${keys.map((k) => `${k}=${JSON.stringify(overrides[k])}`).join(', ')}` : source;
    checkAlgName({ ...raw, ...overrides }, options.method, this.hparamsSource);
    this.hparams = validateHparams({ ...defaults, ...raw, ...overrides }, method.schema, this.hparamsSource);
    method.check(model, this.hparams, this.hparamsSource);
    this.edited = options.edited ?? new EditedModel<M>(model, tokenizer);
    if (this.edited.base !== model) throw new Error('Editor: options.edited must wrap the same model');
    for (const a of this.edited.applied) this.nextId = Math.max(this.nextId, idNumber(a.id) + 1);
    this.session = method.open(model, this.hparams, {
      tokenizer, stats: options.stats, seed: options.seed ?? 0, log: options.log, pool: options.pool,
    });
  }

  /** Loads a model (directory or cached repo id) and its tokenizer, then builds an Editor. */
  static open<M extends EditableModel = CausalLM>(modelPath: string, options: EditorOptions & LoadOptions): Editor<M> {
    const model = loadEditableModel(modelPath, options) as M;
    return new Editor<M>(model, loadTokenizer(model.source.dir, model.source.rawConfig), options);
  }

  /**
   * Applies edits and keeps them. A 'sequential' method (ROME, GRACE) edits the requests one after another; a 'batch'
   * method (MEMIT, FT) in one computation. Returns one record per computation.
   */
  edit(requests: EditRequest | EditRequest[]): EditRecord[] {
    const normalized = normalizeRequests(Array.isArray(requests) ? requests : [requests]);
    const groups = this.method.batching === 'sequential' ? normalized.map((r) => [r]) : [normalized];
    return groups.map((g) => this.editGroup(g));
  }

  private editGroup(requests: NormalizedRequest[]): EditRecord {
    const id = `edit-${this.nextId++}`;
    const started = performance.now();
    const previous = this.edited.activeEdits.map((a) => a.edit);
    const edit = this.session.compute(requests, { editId: id, valueCache: this.edited.pristine ? this.valueCache() : undefined, previous });
    for (const d of edit.deltas) assertFiniteDelta(d, `${this.methodName} edit ${id}`);
    const earlier = this.activeEdits.map((r) => ({ id: r.id, edit: r.edit, requests: r.requests }));
    const conflicts = findConflicts(this.model, id, edit, earlier, this.options.conflicts);
    if (conflicts.length) this.options.log?.(conflictMessage(id, requests, conflicts, this.methodName));
    this.edited.apply(id, edit, { method: this.methodName, hparams: this.hparams, requests });
    const seconds = (performance.now() - started) / 1000;
    const norm = edit.deltas.reduce((s, d) => s + deltaNorm(d) ** 2, 0) ** 0.5;
    const reports = requests.map((r): RequestReport => ({
      ...(edit.diagnostics.find((d) => d.prompt === r.text && d.targetNew === r.targetNew) ?? {
        caseId: r.caseId, prompt: r.text, targetNew: r.targetNew, seconds: seconds / requests.length,
      }),
      deltaNorm: norm,
    }));
    const record: EditRecord = {
      id, method: this.methodName, requests, deltas: edit.deltas, edit, reports,
      statsKeys: [...new Set(edit.statsKeys)], seconds, active: true, conflicts,
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

  /** Undoes one edit of any kind; the others stay exactly as they were. */
  rollback(editId: string): void {
    const record = this.history.find((r) => r.id === editId);
    if (!record) throw new Error(`no edit '${editId}' (edits: ${this.history.map((r) => r.id).join(', ') || 'none'})`);
    if (!record.active) throw new Error(`edit '${editId}' was already rolled back`);
    this.edited.rollback(editId);
    record.active = false;
  }

  /** Undoes every edit: the loaded weights exactly, no patch, no wrapper. */
  restore(): void {
    this.edited.restore();
    for (const r of this.history) r.active = false;
  }

  /** Names of the parameters that edits have changed since the Editor was made (restore() resets them). */
  get touchedParameters(): string[] {
    return this.edited.touchedParameters;
  }

  /**
   * Sets parameters to saved values and records that as one active 'state' record standing for `requests`: how a
   * resumed sequential run gets back the weights its earlier edits left. The session first computes what must come
   * from the unedited model (ROME's context templates), so a resumed run equals an uninterrupted one.
   */
  adoptState(values: Map<string, Tensor>, requests: EditRequest[]): EditRecord {
    this.session.prepare?.();
    const normalized = normalizeRequests(requests);
    const id = `edit-${this.nextId++}`;
    const a = this.edited.adopt(id, values, { method: this.methodName, hparams: this.hparams, requests: normalized });
    const record: EditRecord = {
      id, method: this.methodName, requests: normalized, deltas: [], edit: a.edit, reports: [], statsKeys: [],
      seconds: 0, active: true, kind: 'state', conflicts: [],
    };
    this.history.push(record);
    return record;
  }

  /**
   * Replays a state file (an edit pack or a run checkpoint, saveState) onto this editor's model: its edits become
   * active records here, and this session adopts any patch it installs (a GRACE codebook continues to grow).
   */
  loadState(file: string | StateFile, opts: { force?: boolean } = {}): StateManifest {
    this.session.prepare?.();
    const before = this.edited.applied.length;
    const manifest = loadEditState(this.edited, file, opts);
    for (const a of this.edited.applied.slice(before)) {
      this.nextId = Math.max(this.nextId, idNumber(a.id) + 1);
      this.history.push({
        id: a.id, method: a.method, requests: a.requests, deltas: a.edit.deltas, edit: a.edit, reports: [], statsKeys: [],
        seconds: 0, active: true, kind: a.values ? 'state' : 'edit', conflicts: [],
      });
    }
    this.session.adopt?.(this.edited);
    return manifest;
  }

  /** Edits currently applied. */
  get activeEdits(): EditRecord[] {
    return this.history.filter((r) => r.active);
  }

  /** Writes the edited model (EditedModel.save): a Hugging Face checkpoint plus lmedit_state.safetensors. */
  save(dir: string, opts: SaveOptions = {}): void {
    saveEditedModel(this.edited, dir, { ...opts, describe: this.describe() });
  }

  /** Writes the active edits as one state file: an edit pack (deltas) or a checkpoint (values); see state-file.ts. */
  saveState(file: string, opts: SaveStateOptions = {}): StateManifest {
    return saveEditState(this.edited, file, opts);
  }

  /** The edit pack: saveState with weight deltas (`lmedit apply` replays it on the same base model). */
  saveDelta(file: string): StateManifest {
    return this.saveState(file, { weights: 'deltas', extra: { hparams: this.hparams, method: this.methodName } });
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
        kind: r.kind ?? 'edit',
        stats_keys: r.statsKeys,
        seconds: r.seconds,
        requests: r.requests.map(({ index: _i, ...rest }) => rest),
        reports: r.reports.map(({ extra: _e, ...rest }) => rest),
        params: r.deltas.map((d) => d.param),
        patches: (r.edit.patches ?? []).map((p) => `${p.kind} at ${p.module}`),
        wrapper: r.edit.wrapper?.kind,
      })),
    };
  }

  /** Frees the session, the edits and the saved originals (not the model). */
  dispose(): void {
    this.session.dispose();
    this.edited.dispose();
  }
}

function idNumber(id: string): number {
  const m = /^edit-(\d+)$/.exec(id);
  return m ? Number(m[1]) : 0;
}

function assertFiniteDelta(d: WeightDelta, what: string): void {
  for (const [k, t] of [['left', d.left], ['right', d.right], ['dense', d.dense]] as const) {
    if (t) assertFinite(t, `${what}: the computed update of '${d.param}' (${k})`);
  }
}
