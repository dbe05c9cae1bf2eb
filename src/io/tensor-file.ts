// A named bundle of tensors with a JSON manifest in one safetensors file: a trained editor's weights
// (editors/<name>/editor.safetensors) and the trainer's checkpoint. Written atomically (temp file, rename) with a
// sha256 over the manifest and every tensor's bytes; reading verifies it, so a truncated or edited file is an error
// naming the file, never a silently different editor.
import { createHash } from 'node:crypto';
import {
  ENGINE_TO_SAFETENSORS_DTYPE, SAFETENSORS_TO_ENGINE_DTYPE, readSafetensorsHeader, writeSafetensors, type TensorToWrite,
} from './safetensors.js';
import { fromFile, noGrad, type Tensor } from '../tensor/index.js';
import { assertFinite } from './finite.js';

export interface TensorFile {
  /** The `format` the file was written with. */
  format: string;
  manifest: Record<string, unknown>;
  /** Every tensor, read into memory (the caller disposes them). */
  tensors: Map<string, Tensor>;
}

/** A tensor's bytes as stored (on CPU, contiguous). */
export function tensorBytes(t: Tensor): Uint8Array {
  return noGrad(() => {
    const c = t.to({ device: 'cpu', copy: true }).contiguous();
    try {
      return c.toBytes();
    } finally {
      c.dispose();
    }
  });
}

/** sha256 over a manifest and tensor bytes, as lmedit's files record it. */
export function checksum(manifest: string, bytes: Uint8Array[]): string {
  const h = createHash('sha256').update(manifest);
  for (const b of bytes) h.update(b);
  return h.digest('hex');
}

/** Writes `tensors` (each in its own dtype) and `manifest` under `format`, atomically. */
export function writeTensorFile(file: string, format: string, manifest: Record<string, unknown>, tensors: ReadonlyMap<string, Tensor>): void {
  const names = [...tensors.keys()].sort();
  const bytes = names.map((n) => tensorBytes(tensors.get(n)!));
  const body = JSON.stringify(manifest);
  const entries: TensorToWrite[] = names.map((name, i) => ({
    name, dtype: ENGINE_TO_SAFETENSORS_DTYPE[tensors.get(name)!.dtype], shape: tensors.get(name)!.shape, data: bytes[i],
  }));
  writeSafetensors(file, entries, { format, lmedit_manifest: body, lmedit_sha256: checksum(body, bytes) });
}

/** Reads and verifies a file written by writeTensorFile with the expected `format`; every error names the file. */
export function readTensorFile(file: string, format: string): TensorFile {
  const header = readSafetensorsHeader(file);
  const meta = header.metadata;
  if (meta.format !== format || meta.lmedit_manifest === undefined) {
    throw new Error(`${file} is not an lmedit ${format} file (metadata format '${meta.format ?? ''}')`);
  }
  let manifest: Record<string, unknown>;
  try {
    manifest = JSON.parse(meta.lmedit_manifest) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file}: the manifest (metadata 'lmedit_manifest') is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  const tensors = new Map<string, Tensor>();
  const bytes: Uint8Array[] = [];
  try {
    for (const name of [...header.tensors.keys()].sort()) {
      const e = header.tensors.get(name)!;
      const dtype = SAFETENSORS_TO_ENGINE_DTYPE[e.dtype];
      if (!dtype) throw new Error(`${file}: tensor '${name}' has dtype ${e.dtype}, which the engine cannot hold`);
      const t = fromFile(file, e.byteOffset, dtype, e.shape);
      tensors.set(name, t);
      if (dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16') assertFinite(t, `${file}: tensor '${name}'`);
      bytes.push(tensorBytes(t));
    }
    if (checksum(meta.lmedit_manifest, bytes) !== meta.lmedit_sha256) {
      throw new Error(`${file}: checksum mismatch: the file was changed after lmedit wrote it (truncated, corrupted or edited); refusing to load`);
    }
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  }
  return { format, manifest, tensors };
}
