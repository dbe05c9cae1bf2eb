// The two on-disk forms of statistics, both safetensors written atomically:
//   <key>.safetensors          one tensor `mom2` (C, float32 or float64) + metadata (count, what it was computed from)
//   <key>.safetensors.partial  one tensor `sum` (float64 Σ kᵀk so far) + count and chunksDone: a run to continue
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromFile, noGrad, tidy, type Device, type Tensor } from '../tensor/index.js';
import {
  readSafetensorsHeader, writeSafetensors, ENGINE_TO_SAFETENSORS_DTYPE, SAFETENSORS_TO_ENGINE_DTYPE,
} from '../io/safetensors.js';
import type { StatsDtype } from './second-moment.js';
import { assertFiniteMoment } from './checks.js';

export interface StoredMoment {
  mom2: Tensor;
  count: number;
  metadata: Record<string, string>;
}

export interface PartialSums {
  sum: Tensor;
  count: number;
  chunksDone: number;
}

function countOf(value: string | undefined, file: string, field = 'count'): number {
  const n = Number(value);
  if (value === undefined || !Number.isSafeInteger(n) || n < 0) {
    throw new Error(`${file}: __metadata__.${field} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** Reads a square float tensor `name` from a safetensors file, cast to `dtype` and moved to `device` when given. */
function readSquare(file: string, name: string, dtype?: StatsDtype, device: Device = 'cpu'): { t: Tensor; metadata: Record<string, string> } {
  const header = readSafetensorsHeader(file);
  const entry = header.tensors.get(name);
  if (entry === undefined) throw new Error(`${file}: no tensor '${name}' (has: ${[...header.tensors.keys()].join(', ') || 'none'})`);
  const stored = SAFETENSORS_TO_ENGINE_DTYPE[entry.dtype];
  if (stored !== 'float32' && stored !== 'float64') throw new Error(`${file}: tensor '${name}' is ${entry.dtype}, expected F32 or F64`);
  if (entry.shape.length !== 2 || entry.shape[0] !== entry.shape[1]) {
    throw new Error(`${file}: tensor '${name}' has shape [${entry.shape}], expected a square matrix`);
  }
  const t = noGrad(() => tidy(() => {
    const raw = fromFile(file, entry.byteOffset, stored, entry.shape);
    const out = dtype === undefined && device === 'cpu' ? raw : raw.to({ dtype: dtype ?? stored, device });
    assertFiniteMoment(out, `${file}: tensor '${name}'${out.dtype !== stored ? ` (as ${out.dtype})` : ''}`,
      '; the file is damaged or was computed from non-finite weights: delete it to recompute');
    return out;
  }));
  return { t, metadata: header.metadata };
}

/** Reads C (`mom2`) and its count from a statistics file (ours, or a precomputed one such as the golden files). */
export function readMomentFile(file: string, dtype?: StatsDtype, device?: Device): StoredMoment {
  const { t, metadata } = readSquare(file, 'mom2', dtype, device);
  try {
    return { mom2: t, count: countOf(metadata.count, file), metadata };
  } catch (e) {
    t.dispose();
    throw e;
  }
}

function tensorToWrite(name: string, t: Tensor) {
  return {
    name, dtype: ENGINE_TO_SAFETENSORS_DTYPE[t.dtype], shape: t.shape,
    data: () => t.contiguous().bytes(),
  };
}

export function writeMomentFile(file: string, mom2: Tensor, metadata: Record<string, string>): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  tidy(() => writeSafetensors(file, [tensorToWrite('mom2', mom2)], metadata));
}

export function partialFileFor(file: string): string {
  return `${file}.partial`;
}

/** Saves a running sum so an interrupted computation can continue (atomic: a crash keeps the previous checkpoint). */
export function writePartial(file: string, key: string, state: PartialSums): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  tidy(() => writeSafetensors(file, [tensorToWrite('sum', state.sum)], {
    key, count: String(state.count), chunksDone: String(state.chunksDone),
  }));
}

/** Reads a checkpoint written by writePartial for `key`; throws when it is damaged or belongs to another key. */
export function readPartial(file: string, key: string): PartialSums {
  const { t, metadata } = readSquare(file, 'sum', 'float64');
  try {
    if (metadata.key !== key) throw new Error(`${file}: checkpoint is for ${metadata.key}, not ${key}`);
    return { sum: t, count: countOf(metadata.count, file), chunksDone: countOf(metadata.chunksDone, file, 'chunksDone') };
  } catch (e) {
    t.dispose();
    throw e;
  }
}

let version: string | undefined;

/** lmedit's version from its package.json (recorded with every statistics file). */
export function lmeditVersion(): string {
  if (version !== undefined) return version;
  version = 'unknown';
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'lmedit' && pkg.version) {
        version = pkg.version;
        break;
      }
    }
    if (path.dirname(dir) === dir) break;
  }
  return version;
}
