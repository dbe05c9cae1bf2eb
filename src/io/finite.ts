// Finiteness checks that name the culprit. A NaN or an infinity in weights, statistics or an update otherwise
// surfaces far away ("probability tensor contains either inf, nan or element < 0" inside sampling, a singular
// matrix, a model that answers garbage) with nothing pointing at the tensor that was bad.
//
// Two forms: on raw little-endian bytes (safetensors payloads; no tensor engine involved) and on engine tensors.
// The tensor form only calls methods of the tensor it is given (the engine is imported for its type alone), so
// src/io still never loads the engine itself.
import type { Tensor } from '../tensor/index.js';
import { openCheckpointWeights, type SafetensorsDtype } from './safetensors.js';

/** Thrown by the checks below; `what` is the caller's name for the tensor (file and tensor name, module, …). */
export class NonFiniteError extends Error {
  constructor(readonly what: string, readonly summary: NonFiniteSummary) {
    super(`${what}: ${describeNonFinite(summary)}`);
    this.name = 'NonFiniteError';
  }
}

export interface NonFiniteSummary {
  /** Elements that are NaN or ±Inf. */
  count: number;
  nan: number;
  /** Elements in all. */
  numel: number;
  /** Multi-index of the first non-finite element (row-major), and its value. */
  firstIndex: number[];
  firstValue: number;
}

export function describeNonFinite(s: NonFiniteSummary): string {
  const kinds = [s.nan > 0 ? `${s.nan} NaN` : '', s.count - s.nan > 0 ? `${s.count - s.nan} ±Inf` : ''].filter(Boolean).join(' and ');
  return `${s.count} of ${s.numel} values are not finite (${kinds}; the first, ${s.firstValue}, at [${s.firstIndex.join(', ')}])`;
}

const FLOAT_DTYPES = new Set(['float64', 'float32', 'float16', 'bfloat16']);

function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return index;
}

/**
 * Whether every element of a float tensor is finite: two reductions (max and min propagate NaN, and an infinity
 * is its own max or min), no tensor-sized temporary. Integer, bool and empty tensors are finite.
 */
export function isAllFinite(t: Tensor): boolean {
  if (!FLOAT_DTYPES.has(t.dtype) || t.numel() === 0) return true;
  const hi = t.max();
  const lo = t.min();
  try {
    return Number.isFinite(hi.item()) && Number.isFinite(lo.item());
  } finally {
    hi.dispose();
    lo.dispose();
  }
}

/** Counts and locates the non-finite elements (the slow, exact path; only run once a check has failed). */
export function nonFiniteSummary(t: Tensor): NonFiniteSummary | null {
  if (isAllFinite(t)) return null;
  const temps: Tensor[] = [];
  const track = (x: Tensor) => (temps.push(x), x);
  try {
    const bad = track(track(t.isfinite()).logicalNot());
    const count = track(bad.sum()).item();
    const nan = track(track(t.isnan()).sum()).item();
    const flat = track(track(bad.reshape(-1)).to('int32'));
    const first = track(flat.argmax()).item();
    const value = track(track(t.reshape(-1)).select(0, first)).item();
    return { count, nan, numel: t.numel(), firstIndex: unravel(first, t.shape), firstValue: value };
  } finally {
    for (const x of temps) x.dispose();
  }
}

/**
 * Throws a NonFiniteError naming `what` (e.g. "kbgpt/model.safetensors: tensor 'transformer.h.2.attn.c_attn.weight'")
 * when `t` holds a NaN or an infinity; returns `t` otherwise. Cheap enough for every loaded weight and every
 * computed update: two reductions.
 */
export function assertFinite<T extends Tensor>(t: T, what: string): T {
  const summary = nonFiniteSummary(t);
  if (summary !== null) throw new NonFiniteError(what, summary);
  return t;
}

/** Bytes per element and a test of one element's exponent bits (all ones = Inf or NaN), little-endian. */
const BYTE_CHECKS: Partial<Record<SafetensorsDtype, { size: number; nonFinite: (b: Uint8Array, i: number) => boolean }>> = {
  F32: { size: 4, nonFinite: (b, i) => (b[i + 3] & 0x7f) === 0x7f && (b[i + 2] & 0x80) === 0x80 },
  F64: { size: 8, nonFinite: (b, i) => (b[i + 7] & 0x7f) === 0x7f && (b[i + 6] & 0xf0) === 0xf0 },
  F16: { size: 2, nonFinite: (b, i) => (b[i + 1] & 0x7c) === 0x7c },
  BF16: { size: 2, nonFinite: (b, i) => (b[i + 1] & 0x7f) === 0x7f && (b[i] & 0x80) === 0x80 },
};

/** Element index of the first NaN/Inf in raw little-endian bytes of `dtype`, -1 when all are finite (or not floats). */
export function firstNonFiniteInBytes(bytes: Uint8Array, dtype: SafetensorsDtype): number {
  const check = BYTE_CHECKS[dtype];
  if (check === undefined) return -1;
  for (let i = 0; i + check.size <= bytes.length; i += check.size) if (check.nonFinite(bytes, i)) return i / check.size;
  return -1;
}

/** The byte form of assertFinite, for safetensors payloads read with readTensorBytes (src/io needs no engine). */
export function assertFiniteBytes(bytes: Uint8Array, dtype: SafetensorsDtype, shape: readonly number[], what: string): void {
  const first = firstNonFiniteInBytes(bytes, dtype);
  if (first < 0) return;
  const check = BYTE_CHECKS[dtype]!;
  let count = 0;
  let nan = 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const valueAt = (i: number): number => {
    switch (dtype) {
      case 'F32': return view.getFloat32(i * 4, true);
      case 'F64': return view.getFloat64(i * 8, true);
      default: {
        // F16 / BF16: only Inf vs NaN matters here (both have all-ones exponents): a non-zero mantissa is NaN.
        const bits = view.getUint16(i * 2, true);
        const mantissa = dtype === 'F16' ? bits & 0x3ff : bits & 0x7f;
        return mantissa !== 0 ? NaN : (bits & 0x8000 ? -Infinity : Infinity);
      }
    }
  };
  for (let i = first * check.size; i + check.size <= bytes.length; i += check.size) {
    if (!check.nonFinite(bytes, i)) continue;
    count++;
    if (Number.isNaN(valueAt(i / check.size))) nan++;
  }
  throw new NonFiniteError(what, { count, nan, numel: bytes.length / check.size, firstIndex: unravel(first, shape), firstValue: valueAt(first) });
}

/**
 * Checks every parameter of a loaded model (two reductions each) and throws a NonFiniteError naming the first bad
 * one as `<file>: tensor '<name>'`, where the file is the checkpoint file (shard) that holds it; the parameter's
 * name is matched to the stored name, which may lack or carry a prefix (GPT-2's 'h.0…' vs 'transformer.h.0…').
 */
export function assertFiniteParameters(params: Iterable<[string, Tensor]>, checkpointDir: string): void {
  for (const [name, t] of params) {
    const summary = nonFiniteSummary(t);
    if (summary === null) continue;
    throw new NonFiniteError(`${storedFileOf(checkpointDir, name)}: tensor '${name}' (a model weight)`, summary);
  }
}

function storedFileOf(dir: string, name: string): string {
  try {
    const { tensors } = openCheckpointWeights(dir);
    const entry = tensors.get(name) ?? [...tensors.values()].find((e) => name.endsWith(`.${e.name}`) || e.name.endsWith(`.${name}`));
    if (entry !== undefined) return entry.file;
  } catch {
    // the directory cannot be read again: name it instead
  }
  return dir;
}
