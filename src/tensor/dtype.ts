// Data types and devices, named as in PyTorch.

export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

export const FLOAT_DTYPES: readonly DType[] = ['float32', 'float64', 'float16', 'bfloat16'];

export function isFloatingDtype(d: DType): boolean {
  return FLOAT_DTYPES.includes(d);
}

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Record<DType, number> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

export type TypedArray =
  | Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | BigInt64Array | Uint16Array;

/** The dtype a typed array holds (Uint16Array is ambiguous: it must be given an explicit float16/bfloat16 dtype). */
export function dtypeOfTypedArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Uint8Array) return 'uint8';
  throw new TypeError('a Uint16Array holds raw float16 or bfloat16 bits: pass { dtype: "float16" | "bfloat16" }');
}

export function assertDtype(d: string): DType {
  if (!(d in DTYPE_BYTES)) throw new TypeError(`unknown dtype '${d}' (expected one of ${Object.keys(DTYPE_BYTES).join(', ')})`);
  return d as DType;
}
