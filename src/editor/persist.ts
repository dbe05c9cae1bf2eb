// Saving and loading edited models in the one state format (state-file.ts):
//   saveEditedModel(dir)   a Hugging Face checkpoint with every weight edit merged (loadable by transformers as a plain
//                          model) + lmedit_state.safetensors for patches and wrappers; loadEditedModel(dir) rebuilds
//                          them, so outputs are identical
//   saveEditState(file)    the edits as a separate file: weight deltas (an edit pack: kilobytes for ROME) or the touched
//                          parameters' current values (a sequential run's checkpoint, bit-exact), plus components;
//                          loadEditState replays it onto the base model it was made for (fingerprint checked)
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cat, keep, noGrad, type Tensor } from '../tensor/index.js';
import { loadEditableModel, saveEditableModel, type CausalLM, type EditableModel, type LoadOptions, type ModulePatch, type SaveOptions } from '../models/index.js';
import { loadTokenizer } from '../io/tokenizer.js';
import type { Edit, InferenceWrapper, WeightDelta } from '../methods/types.js';
import { normalizeRequests, type EditRequest } from '../methods/request.js';
import { modelFingerprint } from '../stats/fingerprint.js';
import { methodFor } from './methods.js';
import { EditedModel, type AppliedEdit } from './edited-model.js';
import {
  STATE_FILE, STATE_FORMAT, STATE_VERSION, readStateFile, writeStateFile,
  type ComponentEntry, type StateEdit, type StateFile, type StateManifest,
} from './state-file.js';

type Component = { type: 'patch'; c: ModulePatch; owner: AppliedEdit } | { type: 'wrapper'; c: InferenceWrapper; owner: AppliedEdit };

/** The distinct patches and wrappers of the active edits, in first-use order. */
function componentsOf(em: EditedModel<EditableModel>): Component[] {
  const out: Component[] = [];
  for (const a of em.activeEdits) {
    for (const p of a.edit.patches ?? []) if (!out.some((x) => x.c === p)) out.push({ type: 'patch', c: p, owner: a });
    const w = a.edit.wrapper;
    if (w && !out.some((x) => x.c === w)) out.push({ type: 'wrapper', c: w, owner: a });
  }
  return out;
}

function componentEntries(components: Component[], tensors: Map<string, Tensor>): ComponentEntry[] {
  return components.map((x, i) => {
    const st = x.c.state();
    const names: Record<string, string> = {};
    for (const [k, t] of Object.entries(st.tensors)) {
      names[k] = `c${i}.${k}`;
      tensors.set(names[k], t);
    }
    return {
      type: x.type, method: x.owner.method, kind: x.c.kind, module: x.type === 'patch' ? x.c.module : undefined,
      hparams: x.owner.hparams, meta: st.meta, tensors: names,
    };
  });
}

function editEntry(a: AppliedEdit, i: number, components: Component[], tensors: Map<string, Tensor>, withWeights: boolean): StateEdit {
  const ref = (name: string, t: Tensor) => {
    tensors.set(name, t);
    return name;
  };
  return {
    id: a.id, method: a.method, requests: a.requests.map(({ index: _i, ...r }) => r), info: a.info,
    deltas: withWeights ? a.edit.deltas.map((d, j) => (d.dense
      ? { param: d.param, dense: ref(`e${i}.d${j}.dense`, d.dense) }
      : { param: d.param, left: ref(`e${i}.d${j}.left`, d.left!), right: ref(`e${i}.d${j}.right`, d.right!) })) : [],
    values: withWeights && a.values ? Object.fromEntries([...a.values].map(([p, t]) => [p, ref(`e${i}.v.${p}`, t)])) : undefined,
    memory: a.edit.memory ? Object.fromEntries(Object.entries(a.edit.memory).map(([k, t]) => [k, ref(`e${i}.m.${k}`, t)])) : undefined,
    components: components.flatMap((x, k) => (a.edit.patches?.includes(x.c as ModulePatch) || a.edit.wrapper === x.c ? [k] : [])),
  };
}

function componentsUsed(a: AppliedEdit): boolean {
  return (a.edit.patches?.length ?? 0) > 0 || a.edit.wrapper !== undefined;
}

function baseOf(em: EditedModel<EditableModel>): StateManifest['base'] {
  return { fingerprint: modelFingerprint(em.base.source.dir), modelType: em.base.modelType, source: em.base.source.dir };
}

export interface SaveStateOptions {
  /** 'deltas' (default): each edit's weight deltas; 'values': the touched parameters' current values, bit-exact. */
  weights?: 'deltas' | 'values';
  /** Kept in the manifest (a run's settings and case ids). */
  extra?: Record<string, unknown>;
  /** The base model's fingerprint when the caller knows it (saves hashing the checkpoint again). */
  baseFingerprint?: string;
}

/** Writes the active edits as a state file (an edit pack or a run checkpoint), atomically. */
export function saveEditState(em: EditedModel<EditableModel>, file: string, opts: SaveStateOptions = {}): StateManifest {
  const tensors = new Map<string, Tensor>();
  const components = componentsOf(em);
  const byValues = opts.weights === 'values';
  // by values, the weight edits are one record of the touched parameters' current values (standing for the requests
  // of every edit it covers); edits with patches or wrappers are kept one by one
  const kept = byValues ? em.activeEdits.filter((a) => componentsUsed(a)) : em.activeEdits;
  const edits = kept.map((a, i) => editEntry(a, i, components, tensors, !byValues));
  const snapshot = byValues ? em.base.snapshot(em.touchedParameters) : new Map<string, Tensor>();
  const owned: Tensor[] = [];
  try {
    if (byValues && snapshot.size > 0) {
      const covered = em.activeEdits.filter((a) => !componentsUsed(a));
      edits.unshift({
        id: 'weights', method: em.activeEdits[0]?.method ?? 'unknown', deltas: [], components: [],
        requests: covered.flatMap((a) => a.requests.map(({ index: _i, ...r }) => r)),
        values: Object.fromEntries([...snapshot].map(([p, t]) => { tensors.set(`w.${p}`, t); return [p, `w.${p}`]; })),
        memory: mergedMemory(covered, tensors, owned),
      });
    }
    const manifest: StateManifest = {
      format: STATE_FORMAT, version: STATE_VERSION,
      base: { fingerprint: opts.baseFingerprint ?? modelFingerprint(em.base.source.dir), modelType: em.base.modelType, source: em.base.source.dir },
      weights: 'separate', edits, components: componentEntries(components, tensors), extra: opts.extra,
    };
    writeStateFile(file, manifest, tensors);
    return manifest;
  } finally {
    for (const t of snapshot.values()) t.dispose();
    for (const t of owned) t.dispose();
  }
}

/** The memory of edits merged into one record: each name's matrices concatenated column-wise, in edit order. */
function mergedMemory(edits: AppliedEdit[], tensors: Map<string, Tensor>, owned: Tensor[]): Record<string, string> | undefined {
  const parts = new Map<string, Tensor[]>();
  for (const a of edits) for (const [k, t] of Object.entries(a.edit.memory ?? {})) parts.set(k, [...(parts.get(k) ?? []), t]);
  if (parts.size === 0) return undefined;
  const out: Record<string, string> = {};
  for (const [k, ts] of parts) {
    const merged = noGrad(() => cat(ts, 1));
    owned.push(merged);
    tensors.set(`w.m.${k}`, merged);
    out[k] = `w.m.${k}`;
  }
  return out;
}

/** Rebuilds the components of a state file (patches and wrappers, through their methods' loaders). */
function rebuildComponents(sf: StateFile, em: EditedModel<EditableModel>): (ModulePatch | InferenceWrapper)[] {
  return sf.manifest.components.map((c, i) => {
    const where = `${sf.file}: component ${i} (${c.method} ${c.type} '${c.kind}')`;
    let method;
    try {
      method = methodFor(c.method).method;
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`, { cause: e });
    }
    const tensors = Object.fromEntries(Object.entries(c.tensors).map(([k, name]) => [k, sf.tensor(name)]));
    const loader = c.type === 'patch' ? method.loadPatch : method.loadWrapper;
    if (!loader) throw new Error(`${where}: method ${c.method} cannot rebuild a ${c.type}`);
    try {
      return loader({ tensors, meta: c.meta }, em.base, c.hparams);
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`, { cause: e });
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
  });
}

/** Applies the edits of a state file to an EditedModel over the base model it was made for. */
export function loadEditState(em: EditedModel<EditableModel>, source: string | StateFile, opts: { force?: boolean; weights?: boolean } = {}): StateManifest {
  const sf = typeof source === 'string' ? readStateFile(source) : source;
  const file = sf.file;
  const m = sf.manifest;
  if (m.weights !== 'separate') throw new Error(`${file} belongs to a saved edited model (its weight edits are merged into the checkpoint beside it): load that directory with EditedModel.load`);
  const fp = modelFingerprint(em.base.source.dir);
  if (m.base.fingerprint !== null && fp !== m.base.fingerprint && !opts.force) {
    throw new Error(`${file} was made for a different base model (state: ${m.base.fingerprint} from ${m.base.source}; this model: ${fp} from ${em.base.source.dir}); refusing to apply`);
  }
  if (m.base.modelType !== em.base.modelType) throw new Error(`${file} was made for a ${m.base.modelType} model; this one is ${em.base.modelType}`);
  replay(sf, em, rebuildComponents(sf, em), opts.weights ?? true);
  return m;
}

function replay(sf: StateFile, em: EditedModel<EditableModel>, components: (ModulePatch | InferenceWrapper)[], weights: boolean): void {
  for (const e of sf.manifest.edits) {
    const requests = e.requests.length ? normalizeRequests(e.requests as EditRequest[]) : [];
    const hparams = sf.manifest.components[e.components[0]]?.hparams ?? {};
    const info = { method: e.method, hparams, requests, info: e.info };
    if (weights && e.values && Object.keys(e.values).length) {
      const values = new Map(Object.entries(e.values).map(([p, name]) => [p, sf.tensor(name)]));
      const memory = readMemory(sf, e);
      try {
        em.adopt(e.id, values, info, memory);
      } finally {
        for (const t of [...values.values(), ...Object.values(memory ?? {})]) t.dispose();
      }
      continue;
    }
    const deltas: WeightDelta[] = !weights ? [] : e.deltas.map((d) => (d.dense
      ? { param: d.param, dense: keep(sf.tensor(d.dense)) }
      : { param: d.param, left: keep(sf.tensor(d.left!)), right: keep(sf.tensor(d.right!)) }));
    const edit: Edit = { deltas, diagnostics: [], statsKeys: [] };
    const memory = readMemory(sf, e);
    if (memory) edit.memory = Object.fromEntries(Object.entries(memory).map(([k, t]) => [k, keep(t)]));
    for (const k of e.components) {
      const c = components[k];
      if (sf.manifest.components[k].type === 'patch') (edit.patches ??= []).push(c as ModulePatch);
      else edit.wrapper = c as InferenceWrapper;
    }
    em.apply(e.id, edit, info);
  }
}

function readMemory(sf: StateFile, e: StateEdit): Record<string, Tensor> | undefined {
  return e.memory ? Object.fromEntries(Object.entries(e.memory).map(([k, name]) => [k, sf.tensor(name)])) : undefined;
}

/**
 * Saves the edited model: a Hugging Face checkpoint of the base with the weight edits merged (a pure weight edit
 * needs nothing else) and lmedit_state.safetensors with the patches, wrappers and the record of the edits.
 */
export function saveEditedModel(em: EditedModel<EditableModel>, dir: string, opts: SaveOptions & { describe?: Record<string, unknown> } = {}): void {
  const base = baseOf(em);
  saveEditableModel(em.base, dir, {
    ...opts,
    extraJson: { ...opts.extraJson, ...(opts.describe ? { 'lmedit_edits.json': opts.describe } : {}) },
    afterWrite: (tmp) => {
      opts.afterWrite?.(tmp);
      const tensors = new Map<string, Tensor>();
      const components = componentsOf(em);
      const manifest: StateManifest = {
        format: STATE_FORMAT, version: STATE_VERSION, base, weights: 'merged', merged: { fingerprint: modelFingerprint(tmp) },
        edits: em.activeEdits.map((a, i) => editEntry(a, i, components, tensors, false)),
        components: componentEntries(components, tensors),
      };
      writeStateFile(join(tmp, STATE_FILE), manifest, tensors);
    },
  });
}

/** Loads a directory saved by saveEditedModel (or any plain checkpoint) as an EditedModel with identical outputs. */
export function loadEditedModel<M extends EditableModel = CausalLM>(dir: string, opts: LoadOptions = {}): EditedModel<M> {
  const base = loadEditableModel(dir, opts) as M;
  const em = new EditedModel<M>(base, loadTokenizer(base.source.dir, base.source.rawConfig));
  const file = join(base.source.dir, STATE_FILE);
  if (!existsSync(file)) return em;
  try {
    const sf = readStateFile(file);
    const m = sf.manifest;
    if (m.weights !== 'merged' || !m.merged) throw new Error(`${file}: a separate state file (an edit pack or run checkpoint) inside a model directory; apply it to its base model instead`);
    const fp = modelFingerprint(base.source.dir);
    if (fp !== m.merged.fingerprint) {
      throw new Error(`${file} was written for another checkpoint (state: ${m.merged.fingerprint}; the weights in ${resolve(dir)}: ${fp}): the weights were replaced or the file was copied from another model; refusing to load`);
    }
    replay(sf, em, rebuildComponents(sf, em), false);
    return em;
  } catch (e) {
    em.dispose();
    base.dispose();
    throw e;
  }
}
