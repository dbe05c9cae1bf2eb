// The one file format for edit state: `lmedit_state.safetensors` in a saved edited model, an edit pack (`lmedit edit
// --delta`), and the checkpoint of a sequential run. One safetensors file; its metadata holds the JSON manifest
// (`lmedit_state`): the base model's fingerprint, the edits (requests, weight deltas or parameter values, the
// components they use), the components (installed patches, inference wrappers: kind, method, JSON state, tensor
// names) and a sha256 over the manifest and every tensor's bytes. Reading verifies the checksum (a tampered or
// truncated file is an error naming it) and that every tensor is finite; writing is atomic (temp file, rename).
import {
  ENGINE_TO_SAFETENSORS_DTYPE, SAFETENSORS_TO_ENGINE_DTYPE, readSafetensorsHeader, writeSafetensors, type TensorToWrite,
} from '../io/safetensors.js';
import { fromFile, type Tensor } from '../tensor/index.js';
import { assertFinite } from '../io/finite.js';
import { checksum, tensorBytes } from '../io/tensor-file.js';

export const STATE_FORMAT = 'lmedit-state';
export const STATE_VERSION = 1;
/** The state file inside a saved edited model's directory. */
export const STATE_FILE = 'lmedit_state.safetensors';

export interface ComponentEntry {
  type: 'patch' | 'wrapper';
  /** alg_name of the method whose loader rebuilds it. */
  method: string;
  kind: string;
  module?: string;
  /** The hparams the method was opened with (its loader gets them back). */
  hparams: Record<string, unknown>;
  meta: Record<string, unknown>;
  /** state tensor name → tensor name in the file */
  tensors: Record<string, string>;
}

export interface StateEdit {
  id: string;
  method: string;
  requests: unknown[];
  /** Weight deltas as tensor names (absent when the weights were merged into a checkpoint). */
  deltas: { param: string; left?: string; right?: string; dense?: string }[];
  /** Parameters set to saved values (a sequential run's accumulated weights): param → tensor name. */
  values?: Record<string, string>;
  /** The method's memory of this edit (Edit.memory): name → tensor name. */
  memory?: Record<string, string>;
  /** Indices into `components` of the patches and wrapper this edit uses. */
  components: number[];
  /** Anything else the writer wants kept (reports, timings). */
  info?: Record<string, unknown>;
}

export interface StateManifest {
  format: typeof STATE_FORMAT;
  version: number;
  /** The model the edits apply to (a saved edited model: the original base, before merging). */
  base: { fingerprint: string | null; modelType: string; source: string };
  /** 'merged': the weight edits are already in the checkpoint beside this file; 'separate': they are in this file. */
  weights: 'merged' | 'separate';
  /** Fingerprint of the checkpoint the weights were merged into (weights 'merged'). */
  merged?: { fingerprint: string };
  edits: StateEdit[];
  components: ComponentEntry[];
  /** Caller's metadata (a sequential run's case ids and settings). */
  extra?: Record<string, unknown>;
}

/** Writes the manifest and tensors (each in its own dtype) atomically, with the checksum. */
export function writeStateFile(file: string, manifest: StateManifest, tensors: Map<string, Tensor>): void {
  const bytes = new Map<string, Uint8Array>();
  for (const [name, t] of tensors) bytes.set(name, tensorBytes(t));
  const names = [...tensors.keys()].sort();
  const body = JSON.stringify(manifest);
  const entries: TensorToWrite[] = names.map((name) => ({
    name, dtype: ENGINE_TO_SAFETENSORS_DTYPE[tensors.get(name)!.dtype], shape: tensors.get(name)!.shape, data: bytes.get(name)!,
  }));
  writeSafetensors(file, entries, { format: STATE_FORMAT, lmedit_state: body, lmedit_sha256: checksum(body, names.map((n) => bytes.get(n)!)) });
}

export interface StateFile {
  file: string;
  manifest: StateManifest;
  /** Reads one tensor (the caller disposes it). */
  tensor(name: string): Tensor;
}

/** Reads and verifies a state file; every error names the file. */
export function readStateFile(file: string): StateFile {
  const header = readSafetensorsHeader(file);
  const meta = header.metadata;
  if (meta.format !== STATE_FORMAT || !meta.lmedit_state) {
    throw new Error(`${file} is not an lmedit state file (metadata format '${meta.format ?? ''}'; expected '${STATE_FORMAT}')`);
  }
  let manifest: StateManifest;
  try {
    manifest = JSON.parse(meta.lmedit_state) as StateManifest;
  } catch (e) {
    throw new Error(`${file}: the state manifest (metadata 'lmedit_state') is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (manifest.version !== STATE_VERSION) throw new Error(`${file}: state version ${manifest.version} is not supported (expected ${STATE_VERSION})`);
  const read = (name: string): Tensor => {
    const e = header.tensors.get(name);
    if (!e) throw new Error(`${file}: tensor '${name}' named in the manifest is missing`);
    const dtype = SAFETENSORS_TO_ENGINE_DTYPE[e.dtype];
    if (!dtype) throw new Error(`${file}: tensor '${name}' has dtype ${e.dtype}, which the engine cannot hold`);
    return fromFile(file, e.byteOffset, dtype, e.shape);
  };
  const names = [...header.tensors.keys()].sort();
  const all = names.map((n) => {
    const t = read(n);
    try {
      assertFinite(t, `${file}: tensor '${n}'`);
      return tensorBytes(t);
    } finally {
      t.dispose();
    }
  });
  if (checksum(meta.lmedit_state, all) !== meta.lmedit_sha256) {
    throw new Error(`${file}: checksum mismatch: the state manifest or its tensors were changed after lmedit wrote them (tampered or corrupted); refusing to load`);
  }
  checkManifestShape(file, manifest);
  return { file, manifest, tensor: read };
}

function checkManifestShape(file: string, m: StateManifest): void {
  if (!m.base || !Array.isArray(m.edits) || !Array.isArray(m.components)) throw new Error(`${file}: the state manifest lacks base, edits or components`);
  m.edits.forEach((e, i) => e.components.forEach((c) => {
    if (!Number.isInteger(c) || c < 0 || c >= m.components.length) throw new Error(`${file}: edit ${i} ('${e.id}') names component ${c}, which does not exist`);
  }));
}
