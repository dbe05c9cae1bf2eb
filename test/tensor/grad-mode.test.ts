// Autograd behaviour: .grad accumulation and clearing, grad modes, torch.autograd.grad options, higher order.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { autograd, enableGrad, isGradEnabled, noGrad, tensor, type Tensor } from '../../src/tensor/index.js';
import { assertClose } from './helpers.js';

const leaf = (v: unknown[]) => tensor(v, { dtype: 'float64', requiresGrad: true });
/** The .grad of t as nested numbers, or undefined (read through a function so that TypeScript does not narrow it). */
const gradValues = (t: Tensor): unknown => t.grad?.toArray();

describe('backward and .grad', () => {
  test('backward of sum(x^2) gives 2x; a second backward accumulates', () => {
    const x = leaf([1, -2, 3]);
    assert.equal(gradValues(x), undefined);
    x.mul(x).sum().backward();
    assert.deepEqual(gradValues(x), [2, -4, 6]);
    x.mul(3).sum().backward();
    assert.deepEqual(gradValues(x), [5, -1, 9]);
  });
  test('setting grad to undefined clears it; setting a tensor replaces it', () => {
    const x = leaf([1, 2]);
    x.sum().backward();
    x.grad = undefined;
    assert.equal(gradValues(x), undefined);
    x.sum().backward();
    assert.deepEqual(gradValues(x), [1, 1]);
    x.grad = tensor([10, 20], { dtype: 'float64' });
    x.sum().backward();
    assert.deepEqual(gradValues(x), [11, 21]);
  });
  test('backward of a non-scalar needs a gradient tensor (vector-Jacobian product)', () => {
    const x = leaf([1, 2, 3]);
    assert.throws(() => x.mul(2).backward(), /grad can be implicitly created only for scalar outputs/);
    x.mul(x).backward(tensor([1, 0, -1], { dtype: 'float64' }));
    assert.deepEqual(gradValues(x), [2, 0, -6]);
  });
  test('a second backward through a freed graph fails unless retainGraph', () => {
    const x = leaf([2]);
    const y = x.exp().sum();
    y.backward(undefined, true);
    y.backward();
    assertClose(x.grad!, [2 * Math.exp(2)], 1e-12);
    assert.throws(() => y.backward(), /Trying to backward through the graph a second time/);
  });
  test('leaves, grad_fn names, requiresGrad propagation and detach', () => {
    const x = leaf([1, 2]);
    const c = tensor([3, 4], { dtype: 'float64' });
    assert.equal(x.isLeaf, true);
    assert.equal(x.gradFn, null);
    const y = x.mul(c);
    assert.equal(y.requiresGrad, true);
    assert.equal(y.isLeaf, false);
    assert.equal(y.gradFn, 'MulBackward0');
    assert.equal(c.add(1).requiresGrad, false);
    const d = y.detach();
    assert.equal(d.requiresGrad, false);
    assert.equal(d.isLeaf, true);
    const z = c.clone().requiresGrad_();
    assert.equal(z.requiresGrad, true);
    z.requiresGrad_(false);
    assert.equal(z.requiresGrad, false);
  });
  test('only leaves get .grad populated', () => {
    const x = leaf([1, 2]);
    const h = x.mul(2);
    h.sum().backward();
    assert.equal(gradValues(h), undefined);
    assert.deepEqual(gradValues(x), [2, 2]);
  });
});

describe('grad modes', () => {
  test('noGrad disables recording: results do not require grad', () => {
    const x = leaf([1, 2]);
    assert.equal(isGradEnabled(), true);
    const y = noGrad(() => {
      assert.equal(isGradEnabled(), false);
      return x.mul(2);
    });
    assert.equal(y.requiresGrad, false);
    assert.equal(y.gradFn, null);
    assert.equal(isGradEnabled(), true, 'restored afterwards');
  });
  test('enableGrad inside noGrad records again; both restore on exit', () => {
    const x = leaf([1, 2]);
    const y = noGrad(() => {
      const inner = enableGrad(() => {
        assert.equal(isGradEnabled(), true);
        return x.mul(x);
      });
      assert.equal(isGradEnabled(), false);
      assert.equal(x.mul(x).requiresGrad, false);
      return inner;
    });
    assert.equal(y.requiresGrad, true);
    y.sum().backward();
    assert.deepEqual(gradValues(x), [2, 4]);
  });
  test('the mode is restored when the function throws', () => {
    assert.throws(() => noGrad(() => { throw new Error('boom'); }), /boom/);
    assert.equal(isGradEnabled(), true);
  });
  test('in-place updates of a leaf are allowed under noGrad (the optimizer pattern)', () => {
    const p = leaf([1, 2]);
    assert.throws(() => p.add_(1), /a leaf Variable that requires grad/);
    noGrad(() => p.add_(1));
    assert.deepEqual(p.toArray(), [2, 3]);
    assert.equal(p.requiresGrad, true);
  });
  test('async functions are refused', () => {
    assert.throws(() => noGrad(async () => 1), /synchronous/);
    assert.equal(isGradEnabled(), true);
  });
});

describe('autograd.grad', () => {
  test('returns gradients without touching .grad', () => {
    const x = leaf([1, 2]);
    const w = leaf([3, 4]);
    const [gx, gw] = autograd.grad(x.mul(w).sum(), [x, w]);
    assert.deepEqual(gx?.toArray(), [3, 4]);
    assert.deepEqual(gw?.toArray(), [1, 2]);
    assert.equal(gradValues(x), undefined);
  });
  test('a single tensor input; gradOutputs weight the outputs', () => {
    const x = leaf([1, 2]);
    const [g] = autograd.grad(x.mul(x), x, { gradOutputs: [tensor([1, 10], { dtype: 'float64' })] });
    assert.deepEqual(g?.toArray(), [2, 40]);
  });
  test('an input the output does not depend on: error, or undefined with allowUnused', () => {
    const x = leaf([1]);
    const unused = leaf([5]);
    assert.throws(() => autograd.grad(x.mul(2).sum(), [x, unused]), /One of the differentiated Tensors appears to not have been used/);
    const [gx, gu] = autograd.grad(x.mul(2).sum(), [x, unused], { allowUnused: true });
    assert.deepEqual(gx?.toArray(), [2]);
    assert.equal(gu, undefined);
  });
  test('several outputs are summed', () => {
    const x = leaf([1, 2]);
    const [g] = autograd.grad([x.sum(), x.mul(x).sum()], [x]);
    assert.deepEqual(g?.toArray(), [3, 5]);
  });
  test('createGraph gives a second derivative: d2/dx2 x^3 = 6x', () => {
    const x = leaf([0.5, -2, 3]);
    const [d1] = autograd.grad(x.pow(3).sum(), [x], { createGraph: true });
    assertClose(d1!, [0.75, 12, 27], 1e-12);
    assert.equal(d1!.requiresGrad, true);
    const [d2] = autograd.grad(d1!.sum(), [x]);
    assertClose(d2!, [3, -12, 18], 1e-12);
  });
  test('retainGraph allows differentiating the same graph twice', () => {
    const x = leaf([1, 2]);
    const y = x.exp().sum();
    autograd.grad(y, [x], { retainGraph: true });
    const [g] = autograd.grad(y, [x]);
    assertClose(g!, [Math.E, Math.exp(2)], 1e-12);
    assert.throws(() => autograd.grad(y, [x]), /backward through the graph a second time/);
  });
  test('gradient w.r.t. an inserted vector (the ROME value-optimization pattern)', () => {
    const h = tensor([[1, 2], [3, 4]], { dtype: 'float64' });
    const delta = tensor([0, 0], { dtype: 'float64', requiresGrad: true });
    const W = tensor([[1, -1], [2, 0.5]], { dtype: 'float64' });
    const out = h.add(delta).matmul(W.t()).pow(2).sum();
    // d/d delta sum_rows ||(h_r + delta) W^T||^2 = sum_rows 2 W^T W (h_r + delta) ... evaluated at delta = 0
    const [g] = autograd.grad(out, [delta]);
    const WtW = W.t().matmul(W);
    const expected = h.sum(0).matmul(WtW).mul(2);
    assertClose(g!, expected, 1e-12);
  });
});
