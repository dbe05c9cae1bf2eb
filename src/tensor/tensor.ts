// The Tensor class: a handle to a libtorch tensor with PyTorch's method names and argument order.
// Every method returns a new Tensor registered with the current tidy() scope; in-place methods end in `_` and
// return `this`.
import { native, type NativeHandle } from './native.js';
import { track } from './scope.js';
import type { Device, DType, TypedArray } from './dtype.js';

export type Scalar = number | boolean;
export type TensorOrScalar = Tensor | Scalar;
/** An index list for index()/indexPut_(): one entry per leading dim, null keeps that dim whole. */
export type IndexList = (Tensor | null)[];

function operand(x: TensorOrScalar): NativeHandle | Scalar {
  return x instanceof Tensor ? x.handle : x;
}

/** Handles of an index list; anything that is neither a Tensor nor null goes through for the binding to reject. */
function indexHandles(indices: IndexList): unknown[] {
  return indices.map((t) => (t instanceof Tensor ? t.handle : t ?? null));
}

/** Reduction names of PyTorch losses, mapped to at::Reduction. */
export type Reduction = 'none' | 'mean' | 'sum';
export const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };

export class Tensor {
  /** The native handle; @internal to src/tensor. */
  readonly handle: NativeHandle;
  private shapeCache: number[] | undefined;

  constructor(handle: NativeHandle) {
    this.handle = handle;
    track(this);
  }

  // ---- introspection ---------------------------------------------------------------------------------------
  get shape(): number[] {
    this.shapeCache ??= native.shape(this.handle) as number[];
    return this.shapeCache.slice();
  }
  get ndim(): number {
    return this.shape.length;
  }
  get dtype(): DType {
    return native.dtype(this.handle);
  }
  get device(): Device {
    return native.device(this.handle);
  }
  numel(): number {
    return native.numel(this.handle);
  }
  size(dim?: number): number {
    const s = this.shape;
    if (dim === undefined) return this.numel();
    const d = dim < 0 ? s.length + dim : dim;
    if (d < 0 || d >= s.length) throw new RangeError(`size(${dim}): tensor has ${s.length} dims`);
    return s[d];
  }
  isContiguous(): boolean {
    return native.isContiguous(this.handle);
  }
  get isDisposed(): boolean {
    return this.handle.isDisposed();
  }
  /** Frees the native memory now. Using the tensor afterwards throws. */
  dispose(): void {
    this.handle.dispose();
  }
  toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape}], dtype=${this.dtype}, device=${this.device})\n${native.format(this.handle)}`;
  }

  // ---- conversion ------------------------------------------------------------------------------------------
  /** Copies the values out; float16/bfloat16 are widened to a Float32Array, bool comes back as Uint8Array. */
  toTypedArray(): TypedArray {
    const dt = this.dtype;
    if (dt === 'float16' || dt === 'bfloat16') {
      const wide = this.to('float32');
      try {
        return wide.toTypedArray();
      } finally {
        wide.dispose();
      }
    }
    const buf: ArrayBuffer = native.toArrayBuffer(this.handle);
    switch (dt) {
      case 'float32': return new Float32Array(buf);
      case 'float64': return new Float64Array(buf);
      case 'int64': return new BigInt64Array(buf);
      case 'int32': return new Int32Array(buf);
      case 'int16': return new Int16Array(buf);
      case 'int8': return new Int8Array(buf);
      default: return new Uint8Array(buf);
    }
  }
  /** The raw bytes of a contiguous CPU tensor without a copy (a copy otherwise); used by checkpoint writers. */
  bytes(): Uint8Array {
    return new Uint8Array(native.viewArrayBuffer(this.handle));
  }
  /** A copy of the raw bytes (any dtype, any device), e.g. for writing checkpoints. */
  toBytes(): Uint8Array {
    return new Uint8Array(native.toArrayBuffer(this.handle));
  }
  /** Values as plain numbers (int64 converted with Number()). */
  toFlatArray(): number[] {
    const a = this.toTypedArray();
    return Array.from(a as ArrayLike<number | bigint>, (v) => Number(v));
  }
  /** Values as nested arrays of numbers, like PyTorch's tolist(). */
  toArray(): any {
    const flat = this.toFlatArray();
    const shape = this.shape;
    if (shape.length === 0) return flat[0];
    const build = (dim: number, offset: number): any => {
      const stride = shape.slice(dim + 1).reduce((p, c) => p * c, 1);
      return Array.from({ length: shape[dim] }, (_, i) =>
        dim === shape.length - 1 ? flat[offset + i] : build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }
  item(): number {
    const v = native.item(this.handle);
    return typeof v === 'boolean' ? Number(v) : v;
  }

  // ---- dtype and device ------------------------------------------------------------------------------------
  /** to(dtype), to(device), or to({dtype, device, copy}). */
  to(target: DType | Device | { dtype?: DType; device?: Device; copy?: boolean }): Tensor {
    const opts = typeof target === 'string'
      ? (target === 'cpu' || target.startsWith('cuda') ? { device: target as Device } : { dtype: target as DType })
      : target;
    return this.wrap(native.to(this.handle, opts.dtype ?? this.dtype, opts.device ?? this.device, opts.copy ?? false));
  }
  float(): Tensor { return this.to('float32'); }
  double(): Tensor { return this.to('float64'); }
  long(): Tensor { return this.to('int64'); }
  clone(): Tensor { return this.wrap(native.clone(this.handle)); }
  detach(): Tensor { return this.wrap(native.detach(this.handle)); }
  contiguous(): Tensor { return this.wrap(native.contiguous(this.handle)); }

  // ---- elementwise -----------------------------------------------------------------------------------------
  add(other: TensorOrScalar, alpha = 1): Tensor { return this.wrap(native.add(this.handle, operand(other), alpha)); }
  sub(other: TensorOrScalar, alpha = 1): Tensor { return this.wrap(native.sub(this.handle, operand(other), alpha)); }
  mul(other: TensorOrScalar): Tensor { return this.wrap(native.mul(this.handle, operand(other))); }
  div(other: TensorOrScalar): Tensor { return this.wrap(native.div(this.handle, operand(other))); }
  pow(exponent: TensorOrScalar): Tensor { return this.wrap(native.pow(this.handle, operand(exponent))); }
  remainder(other: TensorOrScalar): Tensor { return this.wrap(native.remainder(this.handle, operand(other))); }
  /** scalar - this */
  rsub(scalar: number): Tensor { return this.wrap(native.rsub(this.handle, scalar)); }
  maximum(other: Tensor): Tensor { return this.wrap(native.maximum(this.handle, other.handle)); }
  minimum(other: Tensor): Tensor { return this.wrap(native.minimum(this.handle, other.handle)); }
  eq(other: TensorOrScalar): Tensor { return this.wrap(native.eq(this.handle, operand(other))); }
  ne(other: TensorOrScalar): Tensor { return this.wrap(native.ne(this.handle, operand(other))); }
  lt(other: TensorOrScalar): Tensor { return this.wrap(native.lt(this.handle, operand(other))); }
  le(other: TensorOrScalar): Tensor { return this.wrap(native.le(this.handle, operand(other))); }
  gt(other: TensorOrScalar): Tensor { return this.wrap(native.gt(this.handle, operand(other))); }
  ge(other: TensorOrScalar): Tensor { return this.wrap(native.ge(this.handle, operand(other))); }
  logicalAnd(other: Tensor): Tensor { return this.wrap(native.logicalAnd(this.handle, other.handle)); }
  logicalOr(other: Tensor): Tensor { return this.wrap(native.logicalOr(this.handle, other.handle)); }
  logicalNot(): Tensor { return this.wrap(native.logicalNot(this.handle)); }
  exp(): Tensor { return this.wrap(native.exp(this.handle)); }
  log(): Tensor { return this.wrap(native.log(this.handle)); }
  log1p(): Tensor { return this.wrap(native.log1p(this.handle)); }
  sqrt(): Tensor { return this.wrap(native.sqrt(this.handle)); }
  rsqrt(): Tensor { return this.wrap(native.rsqrt(this.handle)); }
  abs(): Tensor { return this.wrap(native.abs(this.handle)); }
  neg(): Tensor { return this.wrap(native.neg(this.handle)); }
  sign(): Tensor { return this.wrap(native.sign(this.handle)); }
  reciprocal(): Tensor { return this.wrap(native.reciprocal(this.handle)); }
  square(): Tensor { return this.wrap(native.square(this.handle)); }
  sin(): Tensor { return this.wrap(native.sin(this.handle)); }
  cos(): Tensor { return this.wrap(native.cos(this.handle)); }
  floor(): Tensor { return this.wrap(native.floor(this.handle)); }
  round(): Tensor { return this.wrap(native.round(this.handle)); }
  erf(): Tensor { return this.wrap(native.erf(this.handle)); }
  isnan(): Tensor { return this.wrap(native.isnan(this.handle)); }
  isfinite(): Tensor { return this.wrap(native.isfinite(this.handle)); }
  clamp(min?: number | null, max?: number | null): Tensor { return this.wrap(native.clamp(this.handle, min, max)); }
  tanh(): Tensor { return this.wrap(native.tanh(this.handle)); }
  sigmoid(): Tensor { return this.wrap(native.sigmoid(this.handle)); }
  relu(): Tensor { return this.wrap(native.relu(this.handle)); }
  /** GELU; approximate 'tanh' is GPT-2's gelu_new, 'none' the exact erf form. */
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor { return this.wrap(native.gelu(this.handle, approximate)); }
  silu(): Tensor { return this.wrap(native.silu(this.handle)); }
  maskedFill(mask: Tensor, value: number): Tensor { return this.wrap(native.maskedFill(this.handle, mask.handle, value)); }
  lerp(end: Tensor, weight: number): Tensor { return this.wrap(native.lerp(this.handle, end.handle, weight)); }

  // ---- in place --------------------------------------------------------------------------------------------
  add_(other: TensorOrScalar, alpha = 1): this { native.add_(this.handle, operand(other), alpha); return this; }
  sub_(other: TensorOrScalar, alpha = 1): this { native.sub_(this.handle, operand(other), alpha); return this; }
  mul_(other: TensorOrScalar): this { native.mul_(this.handle, operand(other)); return this; }
  div_(other: TensorOrScalar): this { native.div_(this.handle, operand(other)); return this; }
  addcmul_(a: Tensor, b: Tensor, value = 1): this { native.addcmul_(this.handle, a.handle, b.handle, value); return this; }
  addcdiv_(a: Tensor, b: Tensor, value = 1): this { native.addcdiv_(this.handle, a.handle, b.handle, value); return this; }
  copy_(src: Tensor): this { native.copy_(this.handle, src.handle); return this; }
  zero_(): this { native.zero_(this.handle); return this; }
  fill_(value: Scalar): this { native.fill_(this.handle, value); return this; }
  clamp_(min?: number | null, max?: number | null): this { native.clamp_(this.handle, min, max); return this; }
  sqrt_(): this { native.sqrt_(this.handle); return this; }
  maskedFill_(mask: Tensor, value: number): this { native.maskedFill_(this.handle, mask.handle, value); return this; }
  indexPut_(indices: IndexList, values: Tensor, accumulate = false): this {
    native.indexPut_(this.handle, indexHandles(indices), values.handle, accumulate);
    return this;
  }
  indexAdd_(dim: number, index: Tensor, source: Tensor, alpha = 1): this {
    native.indexAdd_(this.handle, dim, index.handle, source.handle, alpha);
    return this;
  }

  // ---- reductions ------------------------------------------------------------------------------------------
  sum(dim?: number | number[] | null, keepdim = false, dtype?: DType): Tensor {
    return this.wrap(native.sum(this.handle, dims(dim), keepdim, dtype));
  }
  mean(dim?: number | number[] | null, keepdim = false, dtype?: DType): Tensor {
    return this.wrap(native.mean(this.handle, dims(dim), keepdim, dtype));
  }
  /** max() over all elements, or max(dim) → values and indices. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  max(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    if (dim === undefined) return this.wrap(native.maxAll(this.handle));
    const [values, indices] = native.maxDim(this.handle, dim, keepdim);
    return { values: this.wrap(values), indices: this.wrap(indices) };
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  min(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    if (dim === undefined) return this.wrap(native.minAll(this.handle));
    const [values, indices] = native.minDim(this.handle, dim, keepdim);
    return { values: this.wrap(values), indices: this.wrap(indices) };
  }
  argmax(dim?: number | null, keepdim = false): Tensor { return this.wrap(native.argmax(this.handle, dim, keepdim)); }
  argmin(dim?: number | null, keepdim = false): Tensor { return this.wrap(native.argmin(this.handle, dim, keepdim)); }
  logsumexp(dim: number | number[], keepdim = false): Tensor {
    return this.wrap(native.logsumexp(this.handle, dims(dim), keepdim));
  }
  /** Variance with Bessel's correction by default (correction=1), as PyTorch. */
  var(dim?: number | number[] | null, correction = 1, keepdim = false): Tensor {
    return this.wrap(native.var(this.handle, dims(dim), correction, keepdim));
  }
  std(dim?: number | number[] | null, correction = 1, keepdim = false): Tensor {
    return this.wrap(native.std(this.handle, dims(dim), correction, keepdim));
  }
  /** Vector p-norm (linalg.vector_norm) over dims, or over all elements. */
  norm(p = 2, dim?: number | number[] | null, keepdim = false): Tensor {
    return this.wrap(native.norm(this.handle, p, dims(dim), keepdim));
  }
  cumsum(dim: number, dtype?: DType): Tensor { return this.wrap(native.cumsum(this.handle, dim, dtype)); }
  topk(k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } {
    const [values, indices] = native.topk(this.handle, k, dim, largest, sorted);
    return { values: this.wrap(values), indices: this.wrap(indices) };
  }
  sort(dim = -1, descending = false, stable = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = native.sort(this.handle, dim, descending, stable);
    return { values: this.wrap(values), indices: this.wrap(indices) };
  }
  allclose(other: Tensor, rtol = 1e-5, atol = 1e-8): boolean { return native.allclose(this.handle, other.handle, rtol, atol); }
  equal(other: Tensor): boolean { return native.equal(this.handle, other.handle); }

  // ---- shape -----------------------------------------------------------------------------------------------
  reshape(...shape: number[]): Tensor { return this.wrap(native.reshape(this.handle, shape)); }
  view(...shape: number[]): Tensor { return this.wrap(native.view(this.handle, shape)); }
  transpose(dim0: number, dim1: number): Tensor { return this.wrap(native.transpose(this.handle, dim0, dim1)); }
  /** Transpose of a 2-D tensor. */
  t(): Tensor { return this.transpose(0, 1); }
  permute(...dimsOrder: number[]): Tensor { return this.wrap(native.permute(this.handle, dimsOrder)); }
  squeeze(dim?: number): Tensor { return this.wrap(native.squeeze(this.handle, dim)); }
  unsqueeze(dim: number): Tensor { return this.wrap(native.unsqueeze(this.handle, dim)); }
  expand(...shape: number[]): Tensor { return this.wrap(native.expand(this.handle, shape)); }
  expandAs(other: Tensor): Tensor { return this.expand(...other.shape); }
  broadcastTo(...shape: number[]): Tensor { return this.wrap(native.broadcastTo(this.handle, shape)); }
  flatten(startDim = 0, endDim = -1): Tensor { return this.wrap(native.flatten(this.handle, startDim, endDim)); }
  narrow(dim: number, start: number, length: number): Tensor { return this.wrap(native.narrow(this.handle, dim, start, length)); }
  /** x[start:end:step] along dim (a view); null start/end mean the ends. */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    return this.wrap(native.slice(this.handle, dim, start, end, step));
  }
  /** x.select(dim, i): removes dim, keeping element i (negative counts from the end). */
  select(dim: number, index: number): Tensor { return this.wrap(native.select(this.handle, dim, index)); }
  /** Advanced indexing x[i0, i1, ...] with index tensors (null keeps a dim whole), as at::index. */
  index(indices: IndexList): Tensor { return this.wrap(native.index(this.handle, indexHandles(indices))); }
  indexPut(indices: IndexList, values: Tensor, accumulate = false): Tensor {
    return this.wrap(native.indexPut(this.handle, indexHandles(indices), values.handle, accumulate));
  }
  indexSelect(dim: number, index: Tensor): Tensor { return this.wrap(native.indexSelect(this.handle, dim, index.handle)); }
  gather(dim: number, index: Tensor): Tensor { return this.wrap(native.gather(this.handle, dim, index.handle)); }
  scatter(dim: number, index: Tensor, src: Tensor | number): Tensor {
    return this.wrap(native.scatter(this.handle, dim, index.handle, operand(src)));
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return this.wrap(native.scatterAdd(this.handle, dim, index.handle, src.handle));
  }
  indexAdd(dim: number, index: Tensor, source: Tensor, alpha = 1): Tensor {
    return this.wrap(native.indexAdd(this.handle, dim, index.handle, source.handle, alpha));
  }
  split(splitSize: number | number[], dim = 0): Tensor[] {
    return (native.split(this.handle, splitSize, dim) as NativeHandle[]).map((h) => this.wrap(h));
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return (native.chunk(this.handle, chunks, dim) as NativeHandle[]).map((h) => this.wrap(h));
  }
  triu(diagonal = 0): Tensor { return this.wrap(native.triu(this.handle, diagonal)); }
  tril(diagonal = 0): Tensor { return this.wrap(native.tril(this.handle, diagonal)); }
  flip(...dimsToFlip: number[]): Tensor { return this.wrap(native.flip(this.handle, dimsToFlip)); }
  roll(shifts: number | number[], dim: number | number[]): Tensor {
    return this.wrap(native.roll(this.handle, [shifts].flat(), [dim].flat()));
  }
  repeat(...times: number[]): Tensor { return this.wrap(native.repeat(this.handle, times)); }
  repeatInterleave(repeats: number, dim?: number): Tensor { return this.wrap(native.repeatInterleave(this.handle, repeats, dim)); }
  nonzero(): Tensor { return this.wrap(native.nonzero(this.handle)); }

  // ---- linear algebra and nn (the functional forms live in functional.ts) --------------------------------
  matmul(other: Tensor): Tensor { return this.wrap(native.matmul(this.handle, other.handle)); }
  mm(other: Tensor): Tensor { return this.wrap(native.mm(this.handle, other.handle)); }
  bmm(other: Tensor): Tensor { return this.wrap(native.bmm(this.handle, other.handle)); }
  dot(other: Tensor): Tensor { return this.wrap(native.dot(this.handle, other.handle)); }
  outer(other: Tensor): Tensor { return this.wrap(native.outer(this.handle, other.handle)); }
  softmax(dim: number, dtype?: DType): Tensor { return this.wrap(native.softmax(this.handle, dim, dtype)); }
  logSoftmax(dim: number, dtype?: DType): Tensor { return this.wrap(native.logSoftmax(this.handle, dim, dtype)); }

  // ---- autograd --------------------------------------------------------------------------------------------
  get requiresGrad(): boolean { return native.requiresGrad(this.handle); }
  requiresGrad_(requires = true): this { native.requiresGrad_(this.handle, requires); return this; }
  get isLeaf(): boolean { return native.isLeaf(this.handle); }
  /** The accumulated gradient (a new handle each read), or undefined. */
  get grad(): Tensor | undefined {
    const h = native.grad(this.handle);
    return h === undefined ? undefined : this.wrap(h);
  }
  set grad(g: Tensor | undefined) { native.setGrad(this.handle, g?.handle); }
  /** Name of the autograd node that produced this tensor (e.g. 'MmBackward0'), or null for leaves. */
  get gradFn(): string | null { return native.gradFnName(this.handle); }
  backward(gradient?: Tensor, retainGraph = false): void { native.backward(this.handle, gradient?.handle, retainGraph); }

  /** Wraps a native result as a tracked Tensor. */
  private wrap(h: NativeHandle): Tensor {
    return new Tensor(h);
  }
}

function dims(dim: number | number[] | null | undefined): number[] | undefined {
  if (dim === undefined || dim === null) return undefined;
  return Array.isArray(dim) ? dim : [dim];
}

/** Wraps a native handle (for other modules of src/tensor). */
export function wrapHandle(h: NativeHandle): Tensor {
  return new Tensor(h);
}
