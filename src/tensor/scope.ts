// Memory scopes: every tensor created inside tidy(fn) is freed when fn returns, except the tensors it returns
// (found in arrays and plain objects) and those passed to keep(). Measured here (docs/backend.md): leaving
// intermediates to the garbage collector costs 30-70% speed and gigabytes of memory.
import { native } from './native.js';

/** Anything with a native tensor that a scope can free. */
export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const scopes: Set<Disposable>[] = [];

/** Registers a new tensor with the innermost scope (if any). Called by the Tensor constructor. */
export function track(t: Disposable): void {
  if (scopes.length > 0) scopes[scopes.length - 1].add(t);
}

function collect(value: unknown, out: Set<Disposable>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (typeof (value as Disposable).dispose === 'function' && 'isDisposed' in (value as object)) {
    out.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, seen);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, out, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, out, seen);
  }
}

/**
 * Runs fn and frees every tensor it created except those it returns or keep()s. The returned tensors move to the
 * enclosing scope. fn must be synchronous (an async fn would let the scope close before its tensors are made).
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new TypeError('tidy() takes a synchronous function; use explicit dispose() around awaits');
  }
  const returned = new Set<Disposable>();
  collect(result, returned, new Set());
  const parent = scopes.length > 0 ? scopes[scopes.length - 1] : undefined;
  for (const t of scope) {
    if (returned.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/** Exempts tensors from every enclosing scope: they live until dispose() or garbage collection. */
export function keep<T>(value: T): T {
  const found = new Set<Disposable>();
  collect(value, found, new Set());
  for (const t of found) for (const s of scopes) s.delete(t);
  return value;
}

/** Frees the native memory of every tensor found in value (tensor, array, plain object, Map). */
export function dispose(value: unknown): void {
  const found = new Set<Disposable>();
  collect(value, found, new Set());
  for (const t of found) t.dispose();
}

export interface MemoryInfo {
  /** Live tensor handles (not yet disposed or collected). */
  tensors: number;
  /** Bytes addressed by live handles (numel x element size; views are counted once per handle). */
  bytes: number;
  /** CPU tensor storage held by libtorch now: every tensor, including autograd's saved ones and op intermediates. */
  allocatedBytes: number;
  /** High-water mark of allocatedBytes since the process started or the last resetPeakMemory(). */
  peakAllocatedBytes: number;
}

/** Live-tensor count and bytes across the whole process. */
export function memory(): MemoryInfo {
  return native.memory();
}

/** Starts a new high-water mark for memory().peakAllocatedBytes (e.g. before measuring one edit). */
export function resetPeakMemory(): void {
  native.resetPeakMemory();
}
