// Tensor creation: from arrays and typed arrays, constant fills, ranges, random sampling with seedable generators,
// and straight from a file range (checkpoint loading without a second copy in memory).
import { native } from './native.js';
import { Tensor, wrapHandle } from './tensor.js';
import { assertDtype, dtypeOfTypedArray, DTYPE_BYTES, type Device, type DType, type TypedArray } from './dtype.js';

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

/** A seedable random generator (CPU), like torch.Generator().manual_seed(seed). */
export class Generator {
  /** @internal */ readonly external: unknown;
  constructor(readonly seed: number) {
    if (!Number.isInteger(seed) || seed < 0) throw new RangeError(`Generator seed must be a non-negative integer, got ${seed}`);
    this.external = native.makeGenerator(seed);
  }
}

/** Seeds the global generator (torch.manual_seed). */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}

function finish(t: Tensor, opts: CreateOptions | undefined): Tensor {
  let out = t;
  if (opts?.device && opts.device !== 'cpu') {
    out = t.to({ device: opts.device });
    t.dispose();
  }
  if (opts?.requiresGrad) out.requiresGrad_(true);
  return out;
}

function flattenNested(data: unknown, shape: number[], out: (number | boolean)[], depth: number): void {
  if (Array.isArray(data)) {
    if (shape.length === depth) shape.push(data.length);
    else if (shape[depth] !== data.length) throw new RangeError(`tensor(): ragged nested array at depth ${depth}`);
    for (const d of data) flattenNested(d, shape, out, depth + 1);
  } else if (typeof data === 'number' || typeof data === 'boolean') {
    if (shape.length !== depth) throw new RangeError(`tensor(): ragged nested array at depth ${depth}`);
    out.push(data);
  } else {
    throw new TypeError(`tensor(): expected numbers, booleans or nested arrays, got ${typeof data}`);
  }
}

/**
 * Creates a tensor from a number, nested array, or typed array (with an optional shape). Numbers default to
 * float32 (JS cannot tell 1 from 1.0); booleans to bool; typed arrays keep their element type.
 */
export function tensor(data: number | boolean | unknown[] | TypedArray, opts?: CreateOptions & { shape?: number[] }): Tensor {
  if (ArrayBuffer.isView(data)) {
    const src = data as TypedArray;
    const dt = opts?.dtype && src instanceof Uint16Array ? opts.dtype : dtypeOfTypedArray(src);
    const shape = opts?.shape ?? [src.length];
    const t = wrapHandle(native.fromBytes(src, dt, shape, true));
    return castAndFinish(t, opts);
  }
  const shape: number[] = [];
  const flat: (number | boolean)[] = [];
  flattenNested(data, shape, flat, 0);
  const isBool = flat.length > 0 && flat.every((v) => typeof v === 'boolean');
  const base = wrapHandle(isBool
    ? native.fromBytes(Uint8Array.from(flat, Number), 'bool', shape, true)
    : native.fromBytes(Float64Array.from(flat, Number), 'float64', shape, true));
  const dtype = opts?.dtype ?? (isBool ? 'bool' : 'float32');
  return castAndFinish(base, { ...opts, dtype });
}

function castAndFinish(t: Tensor, opts: CreateOptions | undefined): Tensor {
  if (opts?.dtype && opts.dtype !== t.dtype) {
    const c = t.to(assertDtype(opts.dtype));
    t.dispose();
    return finish(c, opts);
  }
  return finish(t, opts);
}

/**
 * A tensor that shares memory with `data` (no copy). Writes through either side are visible to the other; the
 * buffer stays alive as long as the tensor.
 */
export function fromBuffer(data: TypedArray | ArrayBuffer, dtype: DType, shape: number[]): Tensor {
  return wrapHandle(native.fromBytes(data, dtype, shape, false));
}

/** Reads a tensor of the given dtype/shape from `byteOffset` of a file (pread straight into tensor memory). */
export function fromFile(path: string, byteOffset: number, dtype: DType, shape: number[]): Tensor {
  return wrapHandle(native.fromFile(path, byteOffset, dtype, shape));
}

export const zeros = (shape: number[], opts?: CreateOptions): Tensor =>
  finishOn(native.zeros(shape, opts?.dtype, opts?.device), opts);
export const ones = (shape: number[], opts?: CreateOptions): Tensor =>
  finishOn(native.ones(shape, opts?.dtype, opts?.device), opts);
export const empty = (shape: number[], opts?: CreateOptions): Tensor =>
  finishOn(native.empty(shape, opts?.dtype, opts?.device), opts);
export const full = (shape: number[], value: number | boolean, opts?: CreateOptions): Tensor =>
  finishOn(native.full(shape, value, opts?.dtype, opts?.device), opts);
export const eye = (n: number, m = n, opts?: CreateOptions): Tensor =>
  finishOn(native.eye(n, m, opts?.dtype, opts?.device), opts);

/** arange(end) or arange(start, end, step); dtype defaults to int64 as in PyTorch when all bounds are integers. */
export function arange(startOrEnd: number, end?: number, step = 1, opts?: CreateOptions): Tensor {
  const [s, e] = end === undefined ? [0, startOrEnd] : [startOrEnd, end];
  const integral = [s, e, step].every(Number.isInteger);
  return finishOn(native.arange(s, e, step, opts?.dtype ?? (integral ? 'int64' : 'float32'), opts?.device), opts);
}
export const linspace = (start: number, end: number, steps: number, opts?: CreateOptions): Tensor =>
  finishOn(native.linspace(start, end, steps, opts?.dtype, opts?.device), opts);

export const zerosLike = (t: Tensor, opts?: CreateOptions): Tensor =>
  zeros(t.shape, { dtype: t.dtype, device: t.device, ...opts });
export const onesLike = (t: Tensor, opts?: CreateOptions): Tensor =>
  ones(t.shape, { dtype: t.dtype, device: t.device, ...opts });
export const fullLike = (t: Tensor, value: number, opts?: CreateOptions): Tensor =>
  full(t.shape, value, { dtype: t.dtype, device: t.device, ...opts });

export interface RandomOptions extends CreateOptions {
  generator?: Generator;
}

/** Standard normal samples. With a generator on a CUDA device, samples are drawn on the CPU and moved. */
export function randn(shape: number[], opts?: RandomOptions): Tensor {
  return sampled((dev) => native.randn(shape, opts?.dtype, dev, opts?.generator?.external), opts);
}
/** Uniform samples in [0, 1). */
export function rand(shape: number[], opts?: RandomOptions): Tensor {
  return sampled((dev) => native.rand(shape, opts?.dtype, dev, opts?.generator?.external), opts);
}
/** Integers uniform in [low, high); int64 by default. */
export function randint(low: number, high: number, shape: number[], opts?: RandomOptions): Tensor {
  return sampled((dev) => native.randint(low, high, shape, opts?.dtype ?? 'int64', dev, opts?.generator?.external), opts);
}

function sampled(make: (device: Device) => any, opts: RandomOptions | undefined): Tensor {
  const onCpu = opts?.generator !== undefined || !opts?.device;
  const t = wrapHandle(make(onCpu ? 'cpu' : opts!.device!));
  return finish(t, opts);
}

function finishOn(h: any, opts: CreateOptions | undefined): Tensor {
  const t = wrapHandle(h);
  if (opts?.requiresGrad) t.requiresGrad_(true);
  return t;
}

/** Bytes a tensor of this shape and dtype occupies. */
export function byteLength(shape: number[], dtype: DType): number {
  return shape.reduce((p, c) => p * c, 1) * DTYPE_BYTES[dtype];
}
