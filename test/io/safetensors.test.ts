// safetensors: reading real checkpoints, byte-exact round trips, sharded layouts, and errors that name the culprit.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  openCheckpointWeights, readSafetensorsHeader, readTensorBytes, readTensorInto, SAFETENSORS_DTYPE_BYTES,
  SAFETENSORS_TO_ENGINE_DTYPE, tensorByteLength, writeSafetensors, writeShardedSafetensors,
  type SafetensorsDtype, type TensorToWrite,
} from '../../src/io/safetensors.js';

const data = (rel: string) => fileURLToPath(new URL(`../../../shared/data/${rel}`, import.meta.url));

const tempDirs: string[] = [];
after(() => tempDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmedit-st-'));
  tempDirs.push(dir);
  return dir;
}

/** Deterministic pseudo-random bytes (any bit pattern is a valid tensor payload). */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function tensor(name: string, dtype: SafetensorsDtype, shape: number[], seed: number): TensorToWrite {
  return { name, dtype, shape, data: bytes(tensorByteLength(dtype, shape), seed) };
}

/** Writes a hand-made file: 8-byte length, the given header text, then `payload`. */
function craft(dir: string, header: string | object, payload = new Uint8Array(0), declaredLength?: bigint): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declaredLength ?? BigInt(json.length));
  const file = path.join(dir, 'crafted.safetensors');
  fs.writeFileSync(file, Buffer.concat([len, json, payload]));
  return file;
}

test('reads the factgpt header: GPT-2 names, shapes and dtypes, without reading the data', () => {
  const file = data('factgpt/model.safetensors');
  const st = readSafetensorsHeader(file);
  assert.equal(st.metadata.format, 'pt');
  assert.equal(st.dataStart, 8 + st.headerSize);
  assert.equal(st.dataStart % 8, 0, 'header padded to a multiple of 8');
  assert.equal(st.tensors.size, 6 * 12 + 4);
  const wte = st.tensors.get('transformer.wte.weight')!;
  assert.deepEqual([wte.dtype, wte.shape, wte.byteLength, wte.file], ['F32', [50257, 256], 50257 * 256 * 4, file]);
  const cAttn = st.tensors.get('transformer.h.0.attn.c_attn.weight')!;
  assert.deepEqual([cAttn.dtype, cAttn.shape], ['F32', [256, 768]]);
  const end = Math.max(...[...st.tensors.values()].map((t) => t.byteOffset + t.byteLength));
  assert.equal(end, fs.statSync(file).size, 'the tensors fill the data region exactly');
  const lnFBytes = readTensorBytes(st.tensors.get('transformer.ln_f.weight')!);
  const lnF = new Float32Array(lnFBytes.buffer, lnFBytes.byteOffset, lnFBytes.length / 4);
  assert.equal(lnF.length, 256);
  assert.ok(lnF.every(Number.isFinite));
});

test('reads metadata and BF16 tensors of the golden fixtures', () => {
  const mom2 = readSafetensorsHeader(data('golden/factgpt-layer2-mom2.safetensors'));
  assert.equal(mom2.metadata.count, '295877');
  assert.deepEqual(mom2.tensors.get('mom2')!.shape, [1024, 1024]);
  const bf16 = readSafetensorsHeader(data('golden/stories260K-hf/model.bf16.safetensors'));
  const embed = bf16.tensors.get('model.embed_tokens.weight')!;
  assert.deepEqual([embed.dtype, embed.shape], ['BF16', [512, 64]]);
  assert.equal(SAFETENSORS_TO_ENGINE_DTYPE[embed.dtype], 'bfloat16');
});

test('round-trips every dtype byte-exactly, including scalars and empty tensors', () => {
  const dir = tempDir();
  const dtypes = Object.keys(SAFETENSORS_DTYPE_BYTES) as SafetensorsDtype[];
  const tensors = dtypes.map((d, i) => tensor(`t.${d.toLowerCase()}`, d, [3, i + 1, 2], i + 1));
  tensors.push(tensor('scalar', 'F64', [], 99), tensor('empty', 'F32', [0, 5], 100));
  const file = path.join(dir, 'rt.safetensors');
  writeSafetensors(file, tensors, { note: 'round trip' });
  const st = readSafetensorsHeader(file);
  assert.deepEqual(st.metadata, { format: 'pt', note: 'round trip' });
  assert.equal(st.dataStart % 8, 0);
  assert.deepEqual([...st.tensors.keys()], tensors.map((t) => t.name), 'tensors keep the given order');
  for (const t of tensors) {
    const entry = st.tensors.get(t.name)!;
    assert.deepEqual([entry.dtype, entry.shape], [t.dtype, t.shape]);
    assert.deepEqual(new Uint8Array(readTensorBytes(entry)), t.data);
  }
  const dest = new Uint8Array(st.tensors.get('t.f32')!.byteLength);
  readTensorInto(st.tensors.get('t.f32')!, dest);
  assert.deepEqual(dest, tensors[1].data);
});

test('streams lazy tensors: each data callback runs only when its bytes are written', () => {
  const dir = tempDir();
  const calls: string[] = [];
  const lazy = (name: string, seed: number): TensorToWrite => ({
    name, dtype: 'F32', shape: [4], data: () => { calls.push(name); return bytes(16, seed); },
  });
  const file = path.join(dir, 'lazy.safetensors');
  writeSafetensors(file, [lazy('a', 1), lazy('b', 2), lazy('c', 3)]);
  assert.deepEqual(calls, ['a', 'b', 'c']);
  assert.deepEqual(new Uint8Array(readTensorBytes(readSafetensorsHeader(file).tensors.get('b')!)), bytes(16, 2));
});

test('writes shards and an index as transformers does, and reads them back', () => {
  const dir = tempDir();
  const tensors = [0, 1, 2, 3, 4].map((i) => tensor(`layer.${i}.weight`, 'F32', [16, 16], i + 1)); // 1 KiB each
  const result = writeShardedSafetensors(dir, tensors, { maxShardBytes: 2048 });
  assert.deepEqual(result.files.map((f) => path.basename(f)),
    ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
  const index = JSON.parse(fs.readFileSync(result.indexFile!, 'utf8'));
  assert.deepEqual(index.metadata, { total_size: 5 * 1024 });
  assert.equal(index.weight_map['layer.4.weight'], 'model-00003-of-00003.safetensors');
  const weights = openCheckpointWeights(dir);
  assert.equal(weights.files.length, 3);
  for (const t of tensors) assert.deepEqual(new Uint8Array(readTensorBytes(weights.tensors.get(t.name)!)), t.data);

  // Rewriting into the same directory as one file removes the stale shards and index.
  const single = writeShardedSafetensors(dir, tensors.slice(0, 2), { maxShardBytes: 1e6 });
  assert.equal(single.indexFile, null);
  assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
  assert.deepEqual([...openCheckpointWeights(dir).tensors.keys()], ['layer.0.weight', 'layer.1.weight']);
});

test('errors name the file and the tensor', async (t) => {
  const dir = tempDir();
  await t.test('truncated file', () => {
    const file = path.join(dir, 'trunc.safetensors');
    writeSafetensors(file, [tensor('a', 'F32', [4], 1), tensor('big.weight', 'F32', [64], 2)]);
    fs.truncateSync(file, fs.statSync(file).size - 10);
    assert.throws(() => readSafetensorsHeader(file), (e: Error) => e.message.includes(file) && e.message.includes("'big.weight'") && /truncated/.test(e.message));
  });
  await t.test('header length beyond the file', () => {
    const file = craft(dir, '{}', new Uint8Array(0), 1000n);
    assert.throws(() => readSafetensorsHeader(file), (e: Error) => e.message.includes(file) && /past the end of the file/.test(e.message));
  });
  await t.test('absurd header length', () => {
    const file = craft(dir, '{}', new Uint8Array(0), 1n << 40n);
    assert.throws(() => readSafetensorsHeader(file), (e: Error) => e.message.includes(file) && /absurd/.test(e.message));
  });
  await t.test('header not JSON', () => {
    const file = craft(dir, '{"a": {"dtype": "F32",');
    assert.throws(() => readSafetensorsHeader(file), (e: Error) => e.message.includes(file) && /not valid JSON/.test(e.message));
  });
  await t.test('offsets that do not match shape × dtype', () => {
    const file = craft(dir, { 'h.0.mlp.weight': { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, new Uint8Array(16));
    assert.throws(() => readSafetensorsHeader(file), (e: Error) => e.message.includes(file) && e.message.includes("'h.0.mlp.weight'") && /needs 16/.test(e.message));
  });
  await t.test('unknown dtype', () => {
    const file = craft(dir, { 'q.weight': { dtype: 'Q4', shape: [2], data_offsets: [0, 1] } }, new Uint8Array(1));
    assert.throws(() => readSafetensorsHeader(file), (e: Error) => e.message.includes(file) && e.message.includes("'q.weight'") && /unknown dtype "Q4"/.test(e.message));
  });
  await t.test('missing checkpoint directory', () => {
    const missing = path.join(dir, 'no-such-model');
    assert.throws(() => openCheckpointWeights(missing), (e: Error) => e.message.includes(missing));
  });
  await t.test('directory with only a PyTorch pickle', () => {
    const pickleDir = fs.mkdtempSync(path.join(dir, 'pickle-'));
    fs.writeFileSync(path.join(pickleDir, 'pytorch_model.bin'), 'not read');
    assert.throws(() => openCheckpointWeights(pickleDir),
      (e: Error) => e.message.includes(pickleDir) && e.message.includes('model.safetensors') && /\.bin pickles are not supported/.test(e.message));
  });
  await t.test('data length that does not match the shape', () => {
    const file = path.join(dir, 'short.safetensors');
    assert.throws(() => writeSafetensors(file, [{ name: 'w.short', dtype: 'F16', shape: [3], data: new Uint8Array(4) }]),
      (e: Error) => e.message.includes("'w.short'") && /needs 6 bytes/.test(e.message));
    assert.equal(fs.existsSync(file), false);
  });
});

test('writes atomically: no temp file left, destination untouched when a data callback throws', () => {
  const dir = tempDir();
  const file = path.join(dir, 'model.safetensors');
  writeSafetensors(file, [tensor('keep', 'F32', [8], 7)]);
  const before = fs.readFileSync(file);
  assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
  const failing: TensorToWrite = { name: 'boom', dtype: 'F32', shape: [8], data: () => { throw new Error('device lost'); } };
  assert.throws(() => writeSafetensors(file, [tensor('first', 'F32', [8], 1), failing]),
    (e: Error) => /device lost/.test(e.message) && e.message.includes(file));
  assert.deepEqual(fs.readFileSync(file), before, 'the old checkpoint is intact');
  assert.deepEqual(fs.readdirSync(dir), ['model.safetensors'], 'the temp file was removed');
});

test('byte ranges must tile the data region: overlaps, gaps and trailing bytes are refused, naming the tensors', async (t) => {
  const dir = tempDir();
  const f32 = (offsets: [number, number]) => ({ dtype: 'F32', shape: [2], data_offsets: offsets });
  await t.test('overlapping ranges (two tensors sharing bytes)', () => {
    // Before: accepted, and both weights read the same 8 bytes — a silently wrong model.
    const file = craft(dir, { 'h.0.a': f32([0, 8]), 'h.0.b': f32([4, 12]), tail: f32([12, 20]) }, new Uint8Array(20));
    assert.throws(() => readSafetensorsHeader(file), (e: Error) => e.message.startsWith(`${file}: `)
      && e.message.includes("'h.0.a' (data_offsets [0, 8])") && e.message.includes("'h.0.b' (data_offsets [4, 12])") && /overlap/.test(e.message));
    const same = craft(dir, { 'w.left': f32([0, 8]), 'w.right': f32([0, 8]) }, new Uint8Array(8));
    assert.throws(() => readSafetensorsHeader(same), (e: Error) => e.message.includes("'w.left'") && e.message.includes("'w.right'") && /overlap/.test(e.message));
  });
  await t.test('a gap between tensors, or before the first', () => {
    const file = craft(dir, { first: f32([0, 8]), second: f32([12, 20]) }, new Uint8Array(20));
    assert.throws(() => readSafetensorsHeader(file), (e: Error) => e.message.includes(file)
      && /4 bytes of the data region between tensors 'first' and 'second' \(data offsets 8\.\.12\) belong to no tensor/.test(e.message));
    const lead = craft(dir, { only: f32([4, 12]) }, new Uint8Array(12));
    assert.throws(() => readSafetensorsHeader(lead), (e: Error) => /4 bytes of the data region before the first tensor/.test(e.message));
  });
  await t.test('bytes after the last tensor, and ranges past the end of the file', () => {
    const file = craft(dir, { w: f32([0, 8]) }, new Uint8Array(12));
    assert.throws(() => readSafetensorsHeader(file), (e: Error) => e.message.includes(file) && /4 bytes after the end of the last tensor \('w'\)/.test(e.message));
    const past = craft(dir, { w: f32([0, 8]), beyond: f32([8, 16]) }, new Uint8Array(12));
    assert.throws(() => readSafetensorsHeader(past), (e: Error) => e.message.includes("'beyond'") && /file truncated/.test(e.message));
  });
  await t.test('ranges listed in any order, and empty tensors, are fine', () => {
    const file = craft(dir, { b: f32([8, 16]), empty: { dtype: 'F32', shape: [0], data_offsets: [8, 8] }, a: f32([0, 8]) }, new Uint8Array(16));
    const st = readSafetensorsHeader(file);
    assert.deepEqual([...st.tensors.keys()], ['b', 'empty', 'a']);
    assert.equal(st.tensors.get('a')!.byteOffset, st.dataStart);
  });
});
