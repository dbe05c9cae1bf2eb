// Trained editors (MEND, KE, SERAC): methods whose edit is computed by a network trained beforehand on edit records
// (docs/training.md). A method that trains implements TrainedMethod beside EditMethod: `create` builds a fresh,
// seeded editor for a base model, and the one trainer (src/train) optimises it on a split of edit records with Adam,
// checkpoints and early stopping. The trained editor is a directory:
//
//   editors/<name>/editor.safetensors   its tensors (every group's parameters and its buffers) and a manifest:
//                                        method, hparams, the base model's fingerprint, training summary
//   editors/<name>/train-log.jsonl       one JSON line per logged step and validation
//   editors/<name>/curves.{svg,png}      training curves (src/report/training.ts)
//
// A method's `open` reads its editor through `loadTrainedEditor(hparams.archive, …)` (EasyEdit's field for a trained
// editor's path), which refuses an editor trained for another base model or by another method.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tensor } from '../tensor/index.js';
import { noGrad } from '../tensor/index.js';
import type { EditableModel, LanguageModel } from '../models/index.js';
import type { Tokenizer } from '../io/tokenizer.js';
import { readTensorFile, writeTensorFile } from '../io/tensor-file.js';
import { modelFingerprint } from '../stats/fingerprint.js';
import type { NormalizedRequest } from './request.js';

/**
 * One training record: an edit (prompt → targetNew) with the probes its losses read: `rephrasePrompts` (the
 * generalisation / "outer" inputs MEND's edit loss is taken on; SERAC's in-scope examples) and `locality` (inputs whose
 * predictions must not move: the KL term, SERAC's out-of-scope examples).
 */
export type TrainRecord = NormalizedRequest;

/** Trainable tensors that share one Adam and one learning rate (MEND: the hypernetwork at `lr`, edit rates at `lr_lr`). */
export interface ParamGroup {
  name: string;
  /** name → tensor (requires grad); names are unique across all groups and buffers. */
  params: Map<string, Tensor>;
  lr: number;
  /** Gradient ascent for this group (KE's Lagrange multipliers of its constrained training). */
  maximize?: boolean;
}

export interface StepContext {
  /** Optimisation step, from 0. */
  step: number;
  /** A seeded stream for this step only (the same on a resumed run). */
  rand: () => number;
  /** Training records other than the batch's, for locality inputs drawn with `rand`. */
  pool: readonly TrainRecord[];
}

export interface StepLoss {
  /** Scalar to minimise (requires grad). The trainer calls backward, clips and steps. */
  loss: Tensor;
  /** Numbers logged with the step (edit loss, locality KL, edit success in the batch, …). */
  metrics: Record<string, number>;
}

export interface TrainableEditor {
  groups(): ParamGroup[];
  /** Tensors saved with the editor but not optimised (running normalisation statistics); `loss` may update them. */
  buffers(): Map<string, Tensor>;
  loss(batch: TrainRecord[], ctx: StepContext): StepLoss;
  /**
   * Validation metrics over records, without grad. Must include the hparams' `early_stop_key` (default
   * `edit_success`, higher is better) — each record edited alone against the unedited base.
   */
  validate(records: TrainRecord[]): Record<string, number>;
  /** JSON the editor needs to be rebuilt besides its hparams (e.g. the modules it edits). */
  meta(): Record<string, unknown>;
  dispose(): void;
}

/** What a trained method adds to its EditMethod. */
export interface TrainedMethod<H = any> {
  /** alg_name (MEND, KE, SERAC). */
  name: string;
  /** A fresh editor for `model`, initialised from `seed` (every random draw of initialisation comes from it). */
  /** `model`: a CausalLM, or a T5Model for methods with encoderDecoder. */
  create(model: EditableModel, hparams: H, ctx: { tokenizer: Tokenizer; seed: number }): TrainableEditor;
}

export const EDITOR_FORMAT = 'lmedit-editor';
export const EDITOR_FILE = 'editor.safetensors';

export interface EditorManifest {
  method: string;
  hparams: Record<string, unknown>;
  /** The base model the editor was trained for. */
  base: { fingerprint: string; modelType: string; source: string };
  meta: Record<string, unknown>;
  /** Steps, best validation, seconds, peak memory (src/train). */
  training?: Record<string, unknown>;
}

/** All named tensors of an editor: every group's parameters, then its buffers. */
export function editorTensors(editor: TrainableEditor): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const add = (name: string, t: Tensor) => {
    if (out.has(name)) throw new Error(`trained editor: tensor name '${name}' is used twice`);
    out.set(name, t);
  };
  for (const g of editor.groups()) for (const [n, t] of g.params) add(n, t);
  for (const [n, t] of editor.buffers()) add(n, t);
  return out;
}

/** Copies `saved` into the editor's tensors by name (shapes checked; every tensor must be present, none extra). */
export function restoreEditorTensors(editor: TrainableEditor, saved: ReadonlyMap<string, Tensor>, source: string): void {
  const own = editorTensors(editor);
  for (const name of saved.keys()) if (!own.has(name)) throw new Error(`${source}: tensor '${name}' is not part of this editor (trained with other hparams?)`);
  noGrad(() => {
    for (const [name, t] of own) {
      const s = saved.get(name);
      if (!s) throw new Error(`${source}: tensor '${name}' is missing`);
      if (s.shape.join(',') !== t.shape.join(',')) throw new Error(`${source}: tensor '${name}' has shape [${s.shape}], the editor expects [${t.shape}] (trained with other hparams?)`);
      t.copy_(s);
    }
  });
}

/** Writes the editor directory's tensor file atomically. */
export function saveTrainedEditor(dir: string, editor: TrainableEditor, manifest: EditorManifest, tensors?: ReadonlyMap<string, Tensor>): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, EDITOR_FILE);
  writeTensorFile(file, EDITOR_FORMAT, { ...manifest, meta: { ...manifest.meta, ...editor.meta() } }, tensors ?? editorTensors(editor));
  return file;
}

export function baseIdentity(model: LanguageModel): EditorManifest['base'] {
  return { fingerprint: modelFingerprint(model.source.dir), modelType: model.modelType, source: model.source.dir };
}

export interface LoadedEditor {
  file: string;
  manifest: EditorManifest;
}

/**
 * Reads a trained editor for `model` into a freshly created editor: refuses a missing directory, another method's
 * editor, and one trained for another base model (by content fingerprint).
 */
export function loadTrainedEditor(archive: string | null | undefined, method: string, model: LanguageModel, editor: TrainableEditor): LoadedEditor {
  if (!archive) throw new Error(`${method}: no trained editor given (set the hparams field 'archive' or pass --editor DIR; train one with 'lmedit train --method ${method}')`);
  const file = fs.existsSync(archive) && fs.statSync(archive).isDirectory() ? path.join(archive, EDITOR_FILE) : archive;
  if (!fs.existsSync(file)) throw new Error(`${method}: trained editor ${file} does not exist (train one with 'lmedit train --method ${method} --out ${archive}')`);
  const read = readTensorFile(file, EDITOR_FORMAT);
  try {
    const m = read.manifest as unknown as EditorManifest;
    if (m.method?.toUpperCase() !== method.toUpperCase()) throw new Error(`${file}: this editor was trained for method ${m.method}, not ${method}`);
    const fp = modelFingerprint(model.source.dir);
    if (m.base?.fingerprint !== fp) {
      throw new Error(`${file}: this ${method} editor was trained for another base model (${m.base?.source ?? '?'}, fingerprint ${m.base?.fingerprint ?? '?'}); `
        + `${model.source.dir} has fingerprint ${fp}. Train an editor for this model.`);
    }
    restoreEditorTensors(editor, read.tensors, file);
    return { file, manifest: m };
  } finally {
    for (const t of read.tensors.values()) t.dispose();
  }
}
