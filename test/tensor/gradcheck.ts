// Gradient check: autograd.grad against central finite differences, in float64.
//
// The function's output is reduced to a scalar with fixed random weights (sum(w * f(x))), so that every output
// element takes part and symmetric cancellations (softmax rows sum to 1) cannot hide a wrong Jacobian.
import assert from 'node:assert/strict';
import { autograd, Generator, noGrad, randn, tensor, tidy, type Tensor } from '../../src/tensor/index.js';

function projected(fn: (...xs: Tensor[]) => Tensor, xs: Tensor[], weights: Tensor | undefined): { value: Tensor; weights: Tensor } {
  const out = fn(...xs);
  const w = weights ?? randn(out.shape, { dtype: 'float64', generator: new Generator(1234) });
  return { value: out.mul(w).sum(), weights: w };
}

/**
 * Checks d sum(w * fn(...inputs)) / d input against (f(x + eps e_j) - f(x - eps e_j)) / (2 eps) for every element j of
 * every input. Inputs must be float64 tensors; they are used as given (requiresGrad is set here). Returns the largest
 * error seen. `tol` is relative: |analytic - numeric| <= tol * (1 + |numeric|).
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], eps = 1e-6, tol = 1e-5): number {
  return tidy(() => {
    for (const x of inputs) assert.equal(x.dtype, 'float64', 'gradcheck inputs must be float64');
    const leaves = inputs.map((x) => x.detach().requiresGrad_(true));
    const { value, weights } = projected(fn, leaves, undefined);
    const analytic = autograd.grad(value, leaves, { allowUnused: true });
    let worst = 0;
    for (let i = 0; i < inputs.length; i++) {
      const base = inputs[i].toTypedArray() as Float64Array;
      const g = analytic[i]?.toFlatArray() ?? new Array<number>(base.length).fill(0);
      for (let j = 0; j < base.length; j++) {
        const at = (delta: number): number => tidy(() => noGrad(() => {
          const moved = Float64Array.from(base);
          moved[j] += delta;
          const xs = leaves.map((l, k) => (k === i ? tensor(moved, { shape: inputs[i].shape }) : l));
          return projected(fn, xs, weights).value.item();
        }));
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        const err = Math.abs(g[j] - numeric) / (1 + Math.abs(numeric));
        worst = Math.max(worst, err);
        assert.ok(err <= tol, `input ${i} element ${j}: autograd ${g[j]} vs finite difference ${numeric}`);
      }
    }
    return worst;
  });
}
