// Finiteness checks: NaN and ±Inf are found in every float dtype, on engine tensors and on raw safetensors bytes, and
// the error names the tensor, the count and the first bad index; a checkpoint with a NaN weight is named by file.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { memory, tensor, zeros } from '../../src/tensor/index.js';
import {
  assertFinite, assertFiniteBytes, assertFiniteParameters, firstNonFiniteInBytes, isAllFinite, NonFiniteError,
} from '../../src/io/finite.js';
import { readSafetensorsHeader, readTensorBytes, writeSafetensors } from '../../src/io/safetensors.js';
import { KBGPT } from '../data.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

test('isAllFinite / assertFinite: NaN, +Inf, -Inf in every float dtype; integers and empty tensors pass', () => {
  const finite = tensor([[1, -2, 3e30]]);
  for (const dtype of ['float32', 'float64', 'float16', 'bfloat16'] as const) {
    const t = tensor([[1, 2, 3], [4, Number.NaN, 6]]).to(dtype);
    assert.equal(isAllFinite(t), false, dtype);
    assert.throws(() => assertFinite(t, `w.${dtype}`), (e: Error) => e instanceof NonFiniteError
      && e.message === `w.${dtype}: 1 of 6 values are not finite (1 NaN; the first, NaN, at [1, 1])`);
    for (const bad of [Infinity, -Infinity]) {
      const inf = tensor([0, 0, bad]).to(dtype);
      assert.equal(isAllFinite(inf), false, `${dtype} ${bad}`);
      inf.dispose();
    }
    t.dispose();
  }
  assert.equal(assertFinite(finite, 'ok'), finite, 'returns the tensor');
  assert.equal(isAllFinite(tensor([1, 2], { dtype: 'int64' })), true);
  assert.equal(isAllFinite(zeros([0, 3])), true);
  const mixed = tensor([Infinity, 1, Number.NaN, -Infinity]);
  assert.throws(() => assertFinite(mixed, 'mixed'), /mixed: 3 of 4 values are not finite \(1 NaN and 2 ±Inf; the first, Infinity, at \[0\]\)/);
  const live = memory().tensors;
  for (let i = 0; i < 3; i++) {
    assert.throws(() => assertFinite(mixed, 'mixed'));
    isAllFinite(finite);
  }
  assert.equal(memory().tensors, live, 'the checks free their temporaries');
  for (const t of [finite, mixed]) t.dispose();
});

test('raw bytes: the exponent test finds NaN/Inf in F32, F64, F16 and BF16 payloads', () => {
  const values = [0.5, -3, Number.NaN, 7, -Infinity, 2];
  for (const [dtype, engine] of [['F32', 'float32'], ['F64', 'float64'], ['F16', 'float16'], ['BF16', 'bfloat16']] as const) {
    const t = tensor(values).to(engine);
    const bytes = t.toBytes();
    assert.equal(firstNonFiniteInBytes(bytes, dtype), 2, dtype);
    assert.throws(() => assertFiniteBytes(bytes, dtype, [2, 3], `x.${dtype}`),
      (e: Error) => e.message === `x.${dtype}: 2 of 6 values are not finite (1 NaN and 1 ±Inf; the first, NaN, at [0, 2])`);
    t.dispose();
    const ok = tensor([1e-30, 65000, -1]).to(engine);
    assert.equal(firstNonFiniteInBytes(ok.toBytes(), dtype), -1, `${dtype} finite`);
    ok.dispose();
  }
  assert.equal(firstNonFiniteInBytes(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 'I32'), -1, 'integers are always finite');
});

test('assertFiniteParameters names the checkpoint file and the stored tensor of a NaN weight (kbgpt)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmedit-finite-'));
  dirs.push(dir);
  const source = path.join(KBGPT, 'model.safetensors');
  const header = readSafetensorsHeader(source);
  const name = 'transformer.h.2.mlp.c_fc.weight';
  const entry = header.tensors.get(name)!;
  const poisoned = readTensorBytes(entry);
  poisoned.writeFloatLE(Number.NaN, 4 * 1030); // row 1, column 6 of [256, 1024]
  const file = path.join(dir, 'model.safetensors');
  writeSafetensors(file, [{ name, dtype: 'F32', shape: entry.shape, data: poisoned }]);
  assert.throws(() => assertFiniteBytes(poisoned, 'F32', entry.shape, `${file}: tensor '${name}'`), /1 of 262144 values are not finite \(1 NaN; the first, NaN, at \[1, 6\]\)/);
  const t = tensor(new Float32Array(poisoned.buffer, poisoned.byteOffset, poisoned.length / 4), { shape: entry.shape });
  // A loaded parameter carries the model's name; the file holding it is looked up in the checkpoint directory.
  assert.throws(() => assertFiniteParameters([[name, t]], dir),
    (e: Error) => e.message === `${file}: tensor '${name}' (a model weight): 1 of 262144 values are not finite (1 NaN; the first, NaN, at [1, 6])`);
  t.dispose();
});
