// Loading errors name the file and tensor at fault; saved checkpoints reload to the same model with the same names,
// layouts and dtypes, and nothing the user owns is overwritten.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel, type CausalLM } from '../../src/models/index.js';
import { readSafetensorsHeader, writeSafetensors, readTensorBytes } from '../../src/io/safetensors.js';
import { noGrad, tidy, randn } from '../../src/tensor/index.js';
import { GOLDEN } from '../data.js';

const TINY = join(GOLDEN, 'tiny-gpt2');
const tmp = (): string => mkdtempSync(join(tmpdir(), 'lmedit-test-'));
const logitsOf = (m: CausalLM): number[] =>
  tidy(() => noGrad(() => m.forward({ inputIds: [[5, 9, 2, 77, 3]], logits: 'last' }).logits!.toFlatArray()));

/** A copy of tiny-gpt2 whose weights file is rewritten by `edit` (entries → entries). */
function brokenCopy(edit: (entries: { name: string; dtype: any; shape: number[]; data: Uint8Array }[]) => void): string {
  const dir = tmp();
  copyFileSync(join(TINY, 'config.json'), join(dir, 'config.json'));
  const header = readSafetensorsHeader(join(TINY, 'model.safetensors'));
  const entries = [...header.tensors.values()].map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape, data: new Uint8Array(readTensorBytes(e)) }));
  edit(entries);
  writeSafetensors(join(dir, 'model.safetensors'), entries);
  return dir;
}

describe('loading errors', () => {
  test('missing directory / unknown model_type / bad config', () => {
    assert.throws(() => loadModel('/nonexistent/model/dir'), /nonexistent/);
    const dir = tmp();
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert' }));
    assert.throws(() => loadModel(dir), /config\.json: model_type "bert" is not supported \(supported: gpt2/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8')), n_head: 5 }));
    assert.throws(() => loadModel(dir), /config\.json: n_embd 64 is not divisible by n_head 5/);
    rmSync(dir, { recursive: true });
  });

  test('a tensor with the wrong shape names the file and the tensor', () => {
    const dir = brokenCopy((es) => {
      const e = es.find((x) => x.name === 'transformer.h.1.mlp.c_fc.weight')!;
      e.shape = [256, 64];
    });
    assert.throws(() => loadModel(dir), (e: Error) => e.message.includes('model.safetensors') && e.message.includes("'transformer.h.1.mlp.c_fc.weight' has shape [256,64] but config.json implies [64,256]"));
    rmSync(dir, { recursive: true });
  });

  test('a missing tensor, an unexpected tensor, a non-float dtype', () => {
    const missing = brokenCopy((es) => es.splice(es.findIndex((x) => x.name === 'transformer.ln_f.bias'), 1));
    assert.throws(() => loadModel(missing), /missing 1 tensor\(s\) required by config\.json: transformer\.ln_f\.bias/);
    const extra = brokenCopy((es) => es.push({ name: 'transformer.h.7.mlp.c_fc.bias', dtype: 'F32', shape: [2], data: new Uint8Array(8) }));
    assert.throws(() => loadModel(extra), /tensor 'transformer\.h\.7\.mlp\.c_fc\.bias' is not a parameter of a gpt2 model/);
    const ints = brokenCopy((es) => {
      const e = es.find((x) => x.name === 'transformer.ln_f.bias')!;
      e.dtype = 'I32';
    });
    assert.throws(() => loadModel(ints), /'transformer\.ln_f\.bias' has dtype I32/);
    for (const d of [missing, extra, ints]) rmSync(d, { recursive: true });
  });

  test('a truncated weights file names the file', () => {
    const dir = brokenCopy(() => undefined);
    const f = join(dir, 'model.safetensors');
    truncateSync(f, statSync(f).size - 100);
    assert.throws(() => loadModel(dir), (e: Error) => e.message.includes(f));
    rmSync(dir, { recursive: true });
  });
});

describe('saving', () => {
  test('a saved model reloads with identical logits, names, layouts and dtypes', () => {
    const model = loadModel(TINY);
    const out = join(tmp(), 'saved');
    try {
      saveModel(model, out);
      const src = readSafetensorsHeader(join(TINY, 'model.safetensors'));
      const dst = readSafetensorsHeader(join(out, 'model.safetensors'));
      assert.deepEqual([...dst.tensors.keys()].sort(), [...src.tensors.keys()].sort());
      for (const [name, e] of src.tensors) {
        assert.deepEqual(dst.tensors.get(name)!.shape, e.shape, name);
        assert.equal(dst.tensors.get(name)!.dtype, 'F32');
        assert.ok(readTensorBytes(dst.tensors.get(name)!).equals(readTensorBytes(e)), `${name} bytes`);
      }
      const reloaded = loadModel(out);
      assert.deepEqual(logitsOf(reloaded), logitsOf(model));
      reloaded.dispose();
      assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).model_type, 'gpt2');
    } finally {
      model.dispose();
    }
  });

  test('edited weights survive the round trip; sharded and bf16 saves reload', () => {
    const model = loadModel(TINY);
    const root = tmp();
    try {
      tidy(() => model.addToParameter('transformer.h.0.mlp.c_proj.weight', randn([256, 64]).mul(0.1)));
      saveModel(model, join(root, 'sharded'), { maxShardBytes: 60_000 });
      const files = readdirSync(join(root, 'sharded'));
      assert.ok(files.includes('model.safetensors.index.json'), files.join(','));
      assert.ok(files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length > 1);
      const sharded = loadModel(join(root, 'sharded'));
      assert.deepEqual(logitsOf(sharded), logitsOf(model));
      sharded.dispose();
      saveModel(model, join(root, 'bf16'), { dtype: 'bfloat16' });
      const header = readSafetensorsHeader(join(root, 'bf16', 'model.safetensors'));
      assert.ok([...header.tensors.values()].every((e) => e.dtype === 'BF16'));
      assert.equal(JSON.parse(readFileSync(join(root, 'bf16', 'config.json'), 'utf8')).torch_dtype, 'bfloat16');
      const bf = loadModel(join(root, 'bf16'));
      const diff = Math.max(...logitsOf(bf).map((v, i) => Math.abs(v - logitsOf(model)[i])));
      assert.ok(diff < 0.25, `bf16 round trip ${diff}`);
      bf.dispose();
    } finally {
      model.dispose();
      rmSync(root, { recursive: true });
    }
  });

  test('never overwrites the source checkpoint or a non-empty directory unless asked', () => {
    const model = loadModel(TINY);
    const root = tmp();
    try {
      assert.throws(() => saveModel(model, TINY), /refusing to overwrite the source checkpoint/);
      writeFileSync(join(root, 'keep.txt'), 'user data');
      assert.throws(() => saveModel(model, root), /exists and is not empty/);
      assert.equal(readFileSync(join(root, 'keep.txt'), 'utf8'), 'user data');
      saveModel(model, root, { overwrite: true });
      assert.ok(readdirSync(root).includes('model.safetensors'));
      assert.ok(!readdirSync(join(root, '..')).some((f) => f.includes('.tmp-')), 'no temporary directory left');
    } finally {
      model.dispose();
      rmSync(root, { recursive: true });
    }
  });
});
