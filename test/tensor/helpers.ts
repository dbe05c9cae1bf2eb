// Shared assertions for the tensor-engine tests: element-wise closeness of nested arrays and tensors.
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Tensor } from '../../src/tensor/index.js';

/** Values of a tensor (or a plain nested array / number) as nested arrays of numbers. */
export function valuesOf(x: unknown): unknown {
  return x instanceof Tensor ? x.toArray() : x;
}

/** Asserts |actual - expected| <= tol * (1 + |expected|) element by element, with matching nesting. */
export function assertClose(actual: unknown, expected: unknown, tol = 1e-6, path = 'value'): void {
  const a = valuesOf(actual);
  const e = valuesOf(expected);
  if (Array.isArray(e)) {
    assert.ok(Array.isArray(a), `${path}: expected an array, got ${JSON.stringify(a)}`);
    assert.equal(a.length, e.length, `${path}: length ${a.length} != ${e.length}`);
    for (let i = 0; i < e.length; i++) assertClose(a[i], e[i], tol, `${path}[${i}]`);
    return;
  }
  assert.equal(typeof a, 'number', `${path}: expected a number, got ${JSON.stringify(a)}`);
  const av = a as number;
  const ev = e as number;
  if (Number.isNaN(ev)) return assert.ok(Number.isNaN(av), `${path}: expected NaN, got ${av}`);
  if (!Number.isFinite(ev)) return assert.equal(av, ev, `${path}`);
  assert.ok(Math.abs(av - ev) <= tol * (1 + Math.abs(ev)), `${path}: ${av} is not within ${tol} of ${ev}`);
}

/** The largest absolute element-wise difference of two tensors of the same shape. */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  const x = a.toFlatArray();
  const y = b.toFlatArray();
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
}

/** A full garbage collection (gc() exposed at run time, as node's own tests do). */
export function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
