// Edit packs: the factors of an edit (ROME: u and v — kilobytes, not gigabytes; MEMIT: rank-n factors; FT: the
// dense delta of the touched matrices) in one safetensors file, with the base model's fingerprint. Applying a pack
// to another model is refused.
import { ENGINE_TO_SAFETENSORS_DTYPE, readSafetensorsHeader, writeSafetensors, type TensorToWrite } from '../io/safetensors.js';
import { fromFile, noGrad, type Tensor } from '../tensor/index.js';
import type { CausalLM } from '../models/index.js';
import type { WeightDelta } from '../methods/types.js';
import { applyDelta, disposeDelta } from '../methods/delta.js';
import { modelFingerprint } from '../stats/fingerprint.js';

export const PACK_FORMAT = 'lmedit-edit-pack';
export const PACK_VERSION = 1;

export interface PackEdit {
  id: string;
  requests: unknown[];
  /** Per delta: the parameter and the tensor names holding its factors (or dense delta). */
  deltas: { param: string; left?: string; right?: string; dense?: string }[];
}

export interface PackManifest {
  version: number;
  base: { fingerprint: string; modelType: string; source: string };
  method: string;
  hparams: Record<string, unknown>;
  edits: PackEdit[];
}

/** Writes the given edits' deltas (float32) and a manifest to `file` (atomically). */
export function writePack(file: string, model: CausalLM, method: string, hparams: Record<string, unknown>, edits: { id: string; requests: unknown[]; deltas: WeightDelta[] }[]): PackManifest {
  const tensors: TensorToWrite[] = [];
  const add = (name: string, t: Tensor): string => {
    tensors.push({ name, dtype: ENGINE_TO_SAFETENSORS_DTYPE.float32, shape: t.shape, data: () => noGrad(() => {
      const c = t.to({ dtype: 'float32', device: 'cpu', copy: true });
      try {
        return c.toBytes();
      } finally {
        c.dispose();
      }
    }) });
    return name;
  };
  const manifest: PackManifest = {
    version: PACK_VERSION,
    base: { fingerprint: modelFingerprint(model.source.dir), modelType: model.modelType, source: model.source.dir },
    method,
    hparams,
    edits: edits.map((e, i) => ({
      id: e.id,
      requests: e.requests,
      deltas: e.deltas.map((d, j) => (d.dense
        ? { param: d.param, dense: add(`e${i}.d${j}.dense`, d.dense) }
        : { param: d.param, left: add(`e${i}.d${j}.left`, d.left!), right: add(`e${i}.d${j}.right`, d.right!) })),
    })),
  };
  writeSafetensors(file, tensors, { format: PACK_FORMAT, lmedit_pack: JSON.stringify(manifest) });
  return manifest;
}

/** Reads a pack's manifest (validating that the file is one). */
export function readPackManifest(file: string): PackManifest {
  const header = readSafetensorsHeader(file);
  if (header.metadata.format !== PACK_FORMAT || !header.metadata.lmedit_pack) {
    throw new Error(`${file} is not an lmedit edit pack (metadata format '${header.metadata.format ?? ''}')`);
  }
  const manifest = JSON.parse(header.metadata.lmedit_pack) as PackManifest;
  if (manifest.version !== PACK_VERSION) throw new Error(`${file}: edit pack version ${manifest.version} is not supported (expected ${PACK_VERSION})`);
  return manifest;
}

/**
 * Adds every delta of the pack to the model. Refuses when the model's checkpoint is not the one the pack was made
 * from (fingerprint of config and weights), unless `force`.
 */
export function applyPack(file: string, model: CausalLM, opts: { force?: boolean } = {}): PackManifest {
  const manifest = readPackManifest(file);
  const fp = modelFingerprint(model.source.dir);
  if (fp !== manifest.base.fingerprint && !opts.force) {
    throw new Error(`edit pack ${file} was made for a different base model (pack: ${manifest.base.fingerprint} from ${manifest.base.source}; ` +
      `this model: ${fp} from ${model.source.dir}); refusing to apply`);
  }
  const header = readSafetensorsHeader(file);
  const read = (name: string): Tensor => {
    const e = header.tensors.get(name);
    if (!e) throw new Error(`${file}: tensor '${name}' named in the manifest is missing`);
    return fromFile(file, e.byteOffset, 'float32', e.shape);
  };
  for (const edit of manifest.edits) {
    for (const d of edit.deltas) {
      const delta: WeightDelta = d.dense ? { param: d.param, dense: read(d.dense) } : { param: d.param, left: read(d.left!), right: read(d.right!) };
      try {
        applyDelta(model, delta);
      } finally {
        disposeDelta(delta);
      }
    }
  }
  return manifest;
}
