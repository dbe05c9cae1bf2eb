// The trace/intervention API and parameter access, checked by identities on real checkpoints.
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel, addAt, replaceAt, gatherAt, type CausalLM } from '../../src/models/index.js';
import { addmm, autograd, noGrad, randn, tidy, zeros, Generator } from '../../src/tensor/index.js';
import { FACTGPT, GOLDEN } from '../data.js';

const IDS = [[464, 2802, 11880, 286, 39808, 7491, 5034, 2821, 318]]; // "The mother tongue of Danielle Darrieux is"

function maxDiff(a: number[], b: number[]): number {
  return Math.max(...a.map((v, i) => Math.abs(v - b[i])));
}

describe('tracing and intervention', () => {
  let model: CausalLM;
  before(() => { model = loadModel(FACTGPT); });
  after(() => model.dispose());

  test('retained input and output of mlp.c_proj satisfy output = input · W + b', () => {
    tidy(() => noGrad(() => {
      const { traces } = model.trace({ inputIds: IDS, logits: 'none' }, [{ module: 'transformer.h.2.mlp.c_proj', retainInput: true }]);
      const r = traces.get('transformer.h.2.mlp.c_proj')!;
      assert.deepEqual(r.input!.shape, [1, 9, 1024]);
      assert.deepEqual(r.output!.shape, [1, 9, 256]);
      const expected = addmm(model.parameter('transformer.h.2.mlp.c_proj.bias'), r.input!.select(0, 0), model.parameter('transformer.h.2.mlp.c_proj.weight'));
      assert.ok(maxDiff(expected.toFlatArray(), r.output!.select(0, 0).toFlatArray()) < 1e-5);
    }));
  });

  test('a block output is the residual stream the next block reads', () => {
    tidy(() => noGrad(() => {
      const out = model.trace({ inputIds: IDS, residuals: true, logits: 'none' }, [{ module: 'transformer.h.3' }, { module: 'transformer.h.4', retainInput: true }]);
      const h3 = out.traces.get('transformer.h.3')!.output!;
      assert.ok(h3.equal(out.traces.get('transformer.h.4')!.input!));
      assert.ok(h3.equal(out.residuals![4]));
    }));
  });

  test('patching a run with its own activations changes nothing; zeroing an MLP output changes later positions only', () => {
    tidy(() => noGrad(() => {
      const clean = model.trace({ inputIds: IDS }, [{ module: 'transformer.h.1.mlp' }]);
      const saved = clean.traces.get('transformer.h.1.mlp')!.output!;
      const patched = model.forward({
        inputIds: IDS,
        trace: [{ module: 'transformer.h.1.mlp', editOutput: replaceAt({ rows: [0], positions: [5] }, saved.select(0, 0).select(0, 5)) }],
      });
      assert.ok(patched.logits!.equal(clean.logits!));
      const zeroed = model.forward({
        inputIds: IDS,
        trace: [{ module: 'transformer.h.1.mlp', editOutput: replaceAt({ rows: [0], positions: [5] }, zeros([256])) }],
      });
      const before5 = clean.logits!.narrow(1, 0, 5);
      assert.ok(zeroed.logits!.narrow(1, 0, 5).equal(before5), 'causal: positions before 5 unchanged');
      assert.ok(!zeroed.logits!.select(1, 5).equal(clean.logits!.select(1, 5)), 'position 5 changed');
    }));
  });

  test('gradients flow into a vector added at the subject token (ROME\'s v* optimisation), matching finite differences', () => {
    tidy(() => {
      const delta = randn([256], { generator: new Generator(3), dtype: 'float32' }).mul(0.1).requiresGrad_();
      const lossOf = (d: typeof delta) => {
        const out = model.forward({ inputIds: IDS, logits: 'last', trace: [{ module: 'transformer.h.2.mlp', editOutput: addAt({ rows: [0], positions: [7] }, d) }] });
        return out.logits!.logSoftmax(-1).select(0, 0).select(0, 3594).neg();
      };
      const loss = lossOf(delta);
      const [g] = autograd.grad(loss, delta);
      assert.ok(g!.norm().item() > 0);
      const direction = randn([256], { generator: new Generator(4) });
      const eps = 1e-2;
      const fd = noGrad(() => (lossOf(delta.add(direction.mul(eps))).item() - lossOf(delta.sub(direction.mul(eps))).item()) / (2 * eps));
      const analytic = g!.dot(direction).item();
      assert.ok(Math.abs(fd - analytic) < 2e-2 * Math.max(1, Math.abs(analytic)), `fd ${fd} vs autograd ${analytic}`);
    });
  });

  test('gatherAt picks (row, position) pairs', () => {
    tidy(() => noGrad(() => {
      const h = randn([2, 4, 3]);
      const g = gatherAt(h, { rows: [1, 0], positions: [3, 2] });
      assert.ok(g.select(0, 0).equal(h.select(0, 1).select(0, 3)));
      assert.ok(g.select(0, 1).equal(h.select(0, 0).select(0, 2)));
    }));
  });

  test('unknown module paths are rejected with suggestions', () => {
    assert.throws(() => model.trace({ inputIds: IDS }, [{ module: 'transformer.h.99.mlp.c_proj' }]), /unknown module 'transformer\.h\.99\.mlp\.c_proj'.*transformer\.h\.0\.mlp\.c_proj/);
    assert.ok(model.modulePaths().includes('transformer.h.5.mlp.c_fc'));
  });
});

describe('parameters by Hugging Face name', () => {
  test('snapshot / addToParameter / restore round trip is exact', () => {
    const model = loadModel(join(GOLDEN, 'tiny-gpt2'));
    try {
      const name = 'transformer.h.1.mlp.c_proj.weight';
      const logitsOf = () => tidy(() => noGrad(() => model.forward({ inputIds: [[1, 2, 3, 4]], logits: 'last' }).logits!.toFlatArray()));
      const before = logitsOf();
      const snap = model.snapshot([name]);
      tidy(() => model.addToParameter(name, randn(model.parameter(name).shape).mul(0.5)));
      assert.ok(maxDiff(logitsOf(), before) > 1e-3, 'edit changes the output');
      model.restore(snap, { dispose: true });
      assert.deepEqual(logitsOf(), before);
      assert.throws(() => model.setParameter(name, zeros([3, 3])), /shape \[256,64\].*\[3,3\]/);
      assert.throws(() => model.parameter('transformer.h.1.mlp.c_proj.wieght'), /no parameter/);
      assert.equal(model.numParameters(), [...model.params.values()].reduce((s, t) => s + t.numel(), 0));
    } finally {
      model.dispose();
    }
  });
});
