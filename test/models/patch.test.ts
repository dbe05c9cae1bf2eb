// Persistent module patches (src/models/patch.ts) on kbgpt, with a scripted patch (adds a fixed vector to a module's
// output at each row's last real token): it takes part in scoring, in KV-cache generation (equal to no-cache
// generation) and in traces (which see the patched output and the module's input); uninstalling restores the logits
// bit for bit; per-call parameter overrides change one call only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel, generate, padBatch, scoreContinuations, type CausalLM, type ModulePatch, type PatchContext } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { keep, noGrad, randn, tensor, tidy, Generator, type Tensor } from '../../src/tensor/index.js';
import { KBGPT } from '../data.js';

/** A scripted patch: output[b, last_b] += shift; records what it saw. */
class ShiftLast implements ModulePatch {
  readonly kind = 'test-shift';
  seen: { lastPositions: number[]; pastLength: number; inputShape: number[] }[] = [];
  constructor(readonly module: string, readonly shift: Tensor) {}
  forward(output: Tensor, ctx: PatchContext): Tensor {
    this.seen.push({ lastPositions: ctx.lastPositions, pastLength: ctx.pastLength, inputShape: ctx.input.shape });
    const rows = ctx.lastPositions.map((_, b) => b).filter((b) => ctx.lastPositions[b] >= 0);
    const idx = [tensor(rows, { dtype: 'int64' }), tensor(rows.map((b) => ctx.lastPositions[b]), { dtype: 'int64' })];
    return output.indexPut(idx, this.shift.unsqueeze(0).expand(rows.length, this.shift.shape[0]), true);
  }
  parameters(): Tensor[] {
    return [this.shift];
  }
  state() {
    return { tensors: { shift: this.shift }, meta: {} };
  }
  dispose(): void {
    this.shift.dispose();
  }
}

describe('module patches on kbgpt', () => {
  let model: CausalLM;
  let tok: Tokenizer;
  const module = 'transformer.h.3.mlp';
  before(() => {
    model = loadModel(KBGPT);
    tok = loadTokenizer(KBGPT);
  });
  after(() => model.dispose());

  const prompts = ['Roderick Zielinski was born in the city of', 'The capital of France is'];
  /** Right-padded forward: the logits at each row's last real token. */
  const lastLogits = () => tidy(() => noGrad(() => {
    const { ids, mask } = padBatch(prompts.map((p) => tok.encode(p)));
    const { logits } = model.forward({ inputIds: ids, attentionMask: mask });
    return prompts.map((p, b) => logits!.select(0, b).select(0, tok.encode(p).length - 1).toFlatArray());
  }));

  test('a patch changes the output at the last real token of right-padded rows; uninstall is bit-exact', () => {
    const plain = lastLogits();
    const patch = new ShiftLast(module, keep(randn([256], { generator: new Generator(1) }).mul(3)));
    const uninstall = model.install(patch);
    try {
      assert.deepEqual(model.installedPatches(), [patch]);
      assert.throws(() => model.install(patch), /already installed/);
      const patched = lastLogits();
      prompts.forEach((_, b) => assert.notDeepEqual(patched[b], plain[b], `row ${b} changed`));
      assert.deepEqual(patch.seen[0].lastPositions, prompts.map((p) => tok.encode(p).length - 1), 'each row\'s own last real token');
    } finally {
      uninstall();
    }
    assert.deepEqual(model.installedPatches(), []);
    assert.deepEqual(lastLogits(), plain, 'uninstalled: the logits are bit-equal to the unpatched model');
    patch.dispose();
  });

  test('generation with the KV cache equals recomputation with the patch installed; traces see input and patched output', () => {
    const patch = new ShiftLast(module, keep(randn([256], { generator: new Generator(2) }).mul(4)));
    const uninstall = model.install(patch);
    try {
      const ids = [tok.encode(prompts[0])];
      const cached = generate(model, ids, { maxNewTokens: 6 });
      const recomputed = generate(model, ids, { maxNewTokens: 6, noCache: true });
      assert.deepEqual(cached, recomputed);
      assert.ok(patch.seen.some((s) => s.pastLength > 0 && s.inputShape[1] === 1), 'the patch ran on cached single-token steps');
      const seen: Tensor[] = [];
      tidy(() => noGrad(() => {
        const out = model.forward({ inputIds: ids, trace: [{ module, retainOutput: true, editOutput: (y, ctx) => { seen.push(keep(ctx.input!.clone())); return y; } }] });
        const withPatch = out.traces.get(module)!.output!;
        const bare = model.forward({ inputIds: ids, withoutPatches: true, trace: [{ module }] }).traces.get(module)!.output!;
        const diff = withPatch.sub(bare).select(1, ids[0].length - 1).sub(patch.shift).abs().max().item();
        assert.ok(diff < 1e-5, `the trace sees the patched output (${diff})`);
      }));
      assert.equal(seen[0].shape[2], 256, 'editOutput gets the module input');
      seen.forEach((t) => t.dispose());
    } finally {
      uninstall();
      patch.dispose();
    }
  });

  test('incremental scoring (prompt, then one pass per continuation token) equals one-pass scoring on a plain model', () => {
    const reqs = [['Roderick Zielinski was born in the city of', ' Warsaw, Poland'], ['The capital of France is', ' Paris']]
      .map(([p, c]) => ({ prompt: tok.encode(p), continuation: tok.encode(c) }));
    const one = scoreContinuations(model, reqs);
    const inc = scoreContinuations(model, reqs, { incremental: true });
    one.forEach((r, i) => {
      assert.deepEqual(inc[i].argmax, r.argmax);
      r.logprobs.forEach((lp, j) => assert.ok(Math.abs(lp - inc[i].logprobs[j]) < 1e-4, `request ${i} token ${j}: ${lp} vs ${inc[i].logprobs[j]}`));
    });
  });

  test('per-call parameter overrides change that call only', () => {
    const name = 'transformer.h.0.mlp.c_proj.weight';
    const ids = [tok.encode(prompts[1])];
    const run = (o?: Map<string, Tensor>) => tidy(() => noGrad(() => model.forward({ inputIds: ids, logits: 'last', parameterOverrides: o }).logits!.toFlatArray()));
    const plain = run();
    const zero = keep(model.parameter(name).mul(0));
    assert.notDeepEqual(run(new Map([[name, zero]])), plain);
    assert.deepEqual(run(), plain);
    zero.dispose();
  });

  test('installing at a module the model does not have names the module', () => {
    const patch = new ShiftLast('transformer.h.9.mlp', keep(randn([256])));
    assert.throws(() => model.install(patch), /cannot install a test-shift patch at 'transformer.h.9.mlp'/);
    patch.dispose();
  });
});
