// safetensors: a strict header reader, exact-range reads of tensor bytes, a streaming atomic writer, and the
// Hugging Face checkpoint layouts (one model.safetensors, or shards + model.safetensors.index.json).
// Format (https://github.com/huggingface/safetensors): u64 little-endian header length N, N bytes of JSON
// { name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: { string: string } }, then the data
// region; offsets are relative to the data region (byte 8 + N). Design note: docs/io.md.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic, writeFileAtomicSync, writeFully } from './atomic.js';
import { readJsonObject } from './json.js';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** The tensor engine's dtype names (the same literals as `DType` in src/tensor/dtype.ts; io does not import the engine). */
export type EngineDtype = 'float64' | 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** Bytes per element of each safetensors dtype. */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** The engine dtype that holds each safetensors dtype bit-for-bit (undefined where the engine has none). */
export const SAFETENSORS_TO_ENGINE_DTYPE: Readonly<Record<SafetensorsDtype, EngineDtype | undefined>> = {
  F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16', I64: 'int64', I32: 'int32',
  I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};

/** The safetensors dtype for an engine dtype (used when saving edited weights). */
export const ENGINE_TO_SAFETENSORS_DTYPE: Readonly<Record<EngineDtype, SafetensorsDtype>> = {
  float64: 'F64', float32: 'F32', float16: 'F16', bfloat16: 'BF16', int64: 'I64', int32: 'I32',
  int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute offset of the first byte in `file` (data region start + data_offsets[0]). */
  byteOffset: number;
  byteLength: number;
  file: string;
}

export interface SafetensorsFile {
  file: string;
  /** N, the JSON header's length in bytes. */
  headerSize: number;
  /** Absolute offset of the data region (8 + N). */
  dataStart: number;
  metadata: Record<string, string>;
  tensors: Map<string, TensorEntry>;
}

/** Headers of real checkpoints are a few hundred KB; a larger claim means a corrupt or non-safetensors file. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export function isSafetensorsDtype(d: unknown): d is SafetensorsDtype {
  return typeof d === 'string' && Object.hasOwn(SAFETENSORS_DTYPE_BYTES, d);
}

/** Number of elements of a shape (1 for a scalar `[]`). */
export function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bytes a tensor of this dtype and shape occupies. */
export function tensorByteLength(dtype: SafetensorsDtype, shape: readonly number[]): number {
  return numelOf(shape) * SAFETENSORS_DTYPE_BYTES[dtype];
}

/**
 * Reads and validates the header of a safetensors file: only the 8-byte length and the JSON are read, never the
 * data, so opening a multi-GB checkpoint is instant. Every inconsistency throws an Error naming the file (and the
 * tensor), because a silently misread weight would only show up later as wrong logits.
 */
export function readSafetensorsHeader(file: string): SafetensorsFile {
  const fd = openForRead(file);
  try {
    const fileSize = fs.fstatSync(fd).size;
    if (fileSize < 8) throw new Error(`${file}: not a safetensors file (${fileSize} bytes, shorter than the 8-byte header length)`);
    const headerSize = readHeaderLength(fd, file, fileSize);
    const headerBytes = Buffer.allocUnsafe(headerSize);
    readFully(fd, headerBytes, 8, file);
    const dataStart = 8 + headerSize;
    const json = parseHeaderJson(headerBytes, file);
    const metadata = parseMetadata(json.__metadata__, file);
    const tensors = new Map<string, TensorEntry>();
    for (const [name, raw] of Object.entries(json)) {
      if (name === '__metadata__') continue;
      tensors.set(name, parseTensorEntry(name, raw, { file, dataStart, fileSize }));
    }
    checkDataLayout(file, [...tensors.values()], dataStart, fileSize);
    return { file, headerSize, dataStart, metadata, tensors };
  } finally {
    fs.closeSync(fd);
  }
}

function openForRead(file: string): number {
  try {
    return fs.openSync(file, 'r');
  } catch (e) {
    throw new Error(`cannot open safetensors file ${file}: ${(e as Error).message}`, { cause: e });
  }
}

function readHeaderLength(fd: number, file: string, fileSize: number): number {
  const lengthBytes = Buffer.alloc(8);
  readFully(fd, lengthBytes, 0, file);
  const n = lengthBytes.readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new Error(`${file}: header length ${n} bytes is absurd (limit ${MAX_HEADER_BYTES}); not a safetensors file or corrupt`);
  }
  const headerSize = Number(n);
  if (8 + headerSize > fileSize) {
    throw new Error(`${file}: header length ${headerSize} bytes runs past the end of the file (${fileSize} bytes); file truncated or not safetensors`);
  }
  return headerSize;
}

function parseHeaderJson(bytes: Buffer, file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new Error(`${file}: safetensors header is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error(`${file}: safetensors header must be a JSON object`);
  }
  return json as Record<string, unknown>;
}

function parseMetadata(raw: unknown, file: string): Record<string, string> {
  if (raw === undefined) return {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error(`${file}: __metadata__ must be an object of strings`);
  }
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== 'string') throw new Error(`${file}: __metadata__.${key} must be a string, got ${JSON.stringify(value)}`);
    metadata[key] = value;
  }
  return metadata;
}

function isNonNegativeInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Validates one header entry: known dtype, integer shape, offsets that match shape × dtype and lie inside the file. */
function parseTensorEntry(
  name: string, raw: unknown, where: { file: string; dataStart: number; fileSize: number },
): TensorEntry {
  const { file, dataStart, fileSize } = where;
  const bad = (why: string) => new Error(`${file}: tensor '${name}': ${why}`);
  if (raw === null || typeof raw !== 'object') throw bad('header entry must be an object');
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (!isSafetensorsDtype(dtype)) {
    throw bad(`unknown dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInt)) throw bad(`shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInt) || offsets[0] > offsets[1]) {
    throw bad(`data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  const expected = tensorByteLength(dtype, shape);
  if (end - begin !== expected) {
    throw bad(`data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${shape.join(', ')}] × ${dtype} needs ${expected}`);
  }
  if (dataStart + end > fileSize) {
    throw bad(`data ends at byte ${dataStart + end} but the file has only ${fileSize} bytes (file truncated?)`);
  }
  return { name, dtype, shape: [...shape], byteOffset: dataStart + begin, byteLength: expected, file };
}

/**
 * The format's layout rule (the reference reader's `validate`): the tensors' byte ranges, in offset order, tile the
 * data region exactly — the first starts at 0, each starts where the previous one ends, the last ends at the end of
 * the file. Overlapping ranges would make two tensors share bytes (a write to one corrupts the other), a gap or
 * trailing bytes mean the header does not describe the file: either way the file was not written by a safetensors
 * writer, and reading it would give a silently wrong model. Errors name the file and the tensors involved.
 */
function checkDataLayout(file: string, entries: readonly TensorEntry[], dataStart: number, fileSize: number): void {
  const sorted = [...entries].sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength);
  const rel = (e: TensorEntry) => `[${e.byteOffset - dataStart}, ${e.byteOffset - dataStart + e.byteLength}]`;
  let end = dataStart;
  let previous: TensorEntry | undefined;
  for (const e of sorted) {
    if (e.byteOffset < end) {
      throw new Error(`${file}: tensors '${previous!.name}' (data_offsets ${rel(previous!)}) and '${e.name}' (data_offsets ${rel(e)}) ` +
        `overlap; every tensor must have its own bytes (corrupt or hand-edited header)`);
    }
    if (e.byteOffset > end) {
      const where = previous === undefined ? 'before the first tensor' : `between tensors '${previous.name}' and '${e.name}'`;
      throw new Error(`${file}: ${e.byteOffset - end} bytes of the data region ${where} (data offsets ${end - dataStart}..${e.byteOffset - dataStart}) ` +
        `belong to no tensor; safetensors data must be contiguous (corrupt or hand-edited header)`);
    }
    end = e.byteOffset + e.byteLength;
    previous = e;
  }
  if (end < fileSize) {
    throw new Error(`${file}: ${fileSize - end} bytes after the end of the last tensor` +
      `${previous ? ` ('${previous.name}')` : ''} belong to no tensor; the header does not describe the whole file (corrupt, or not safetensors)`);
  }
}

/** Reads exactly `dest.length` bytes at `position`; short reads (which pread may return) are continued. */
function readFully(fd: number, dest: Uint8Array, position: number, file: string): void {
  let done = 0;
  while (done < dest.length) {
    const n = fs.readSync(fd, dest, done, dest.length - done, position + done);
    if (n === 0) throw new Error(`${file}: unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

/**
 * Reads a tensor's bytes straight into `dest` (e.g. the storage of a freshly allocated engine tensor), so a large
 * checkpoint is never held in memory twice. `dest` must be exactly `entry.byteLength` long.
 */
export function readTensorInto(entry: TensorEntry, dest: Uint8Array): void {
  if (dest.length !== entry.byteLength) {
    throw new Error(`${entry.file}: tensor '${entry.name}': destination has ${dest.length} bytes, tensor has ${entry.byteLength}`);
  }
  const fd = openForRead(entry.file);
  try {
    readFully(fd, dest, entry.byteOffset, entry.file);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads one tensor's bytes (a pread of exactly its range) into a new Buffer: for small tensors and tests. The
 * Buffer owns its ArrayBuffer from offset 0 (never Node's shared pool), so typed-array views of it are aligned.
 */
export function readTensorBytes(entry: TensorEntry): Buffer {
  const bytes = Buffer.allocUnsafeSlow(entry.byteLength);
  readTensorInto(entry, bytes);
  return bytes;
}

/** One tensor to write. `data` may be a function, called just before its bytes are written (streaming). */
export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: Uint8Array | (() => Uint8Array);
}

/**
 * Builds the padded header bytes. The JSON is padded with spaces so the data region starts on an 8-byte boundary
 * (what the reference writer does, so typed-array views of a memory-mapped file stay aligned).
 */
export function encodeSafetensorsHeader(tensors: readonly TensorToWrite[], metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__') throw new Error(`tensor name '__metadata__' is reserved by the safetensors format`);
    if (Object.hasOwn(header, t.name)) throw new Error(`tensor '${t.name}' is listed twice`);
    if (!isSafetensorsDtype(t.dtype as unknown)) throw new Error(`tensor '${t.name}': unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!t.shape.every((d) => isNonNegativeInt(d))) throw new Error(`tensor '${t.name}': invalid shape [${t.shape.join(', ')}]`);
    const length = tensorByteLength(t.dtype, t.shape);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + length] };
    offset += length;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  const out = Buffer.alloc(8 + padded.length);
  out.writeBigUInt64LE(BigInt(padded.length), 0);
  padded.copy(out, 8);
  return out;
}

function tensorData(t: TensorToWrite): Uint8Array {
  const data = typeof t.data === 'function' ? t.data() : t.data;
  const expected = tensorByteLength(t.dtype, t.shape);
  if (!(data instanceof Uint8Array) || data.length !== expected) {
    const got = data instanceof Uint8Array ? `${data.length} bytes` : `a ${typeof data}`;
    throw new Error(`tensor '${t.name}': data is ${got}, but shape [${t.shape.join(', ')}] × ${t.dtype} needs ${expected} bytes (pass raw bytes as a Uint8Array)`);
  }
  return data;
}

/**
 * Writes a safetensors file tensor by tensor: the header first, then each tensor's bytes, calling a lazy `data`
 * just before writing it so that only one tensor's bytes are in memory at a time. Atomic: the bytes go to a
 * temporary file in the same directory, which is fsynced and renamed over `file` only when complete, so a crash
 * or a throwing data callback never leaves a half-written checkpoint (the temp file is removed on error).
 */
export function writeSafetensors(
  file: string, tensors: readonly TensorToWrite[], metadata: Record<string, string> = {},
): void {
  for (const t of tensors) if (typeof t.data !== 'function') tensorData(t); // fail before touching the disk
  // transformers refuses a safetensors file whose __metadata__ lacks a known `format`.
  const header = encodeSafetensorsHeader(tensors, { format: 'pt', ...metadata });
  writeFileAtomic(file, (fd) => {
    writeFully(fd, header);
    for (const t of tensors) {
      try {
        writeFully(fd, tensorData(t));
      } catch (e) {
        throw new Error(`writing ${file}: ${(e as Error).message}`, { cause: e });
      }
    }
  });
}

export interface CheckpointWeights {
  files: SafetensorsFile[];
  tensors: Map<string, TensorEntry>;
}

export const SAFETENSORS_INDEX = 'model.safetensors.index.json';
export const SAFETENSORS_SINGLE = 'model.safetensors';

/**
 * Opens the weights of a Hugging Face checkpoint directory: the shards listed in `model.safetensors.index.json`
 * (each header read once), else `model.safetensors`. Only headers are read; bytes come later per tensor.
 */
export function openCheckpointWeights(dir: string): CheckpointWeights {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new Error(`model directory ${dir} does not exist or is not a directory`);
  }
  const indexFile = path.join(dir, SAFETENSORS_INDEX);
  if (fs.existsSync(indexFile)) return openSharded(dir, indexFile);
  const single = path.join(dir, SAFETENSORS_SINGLE);
  if (fs.existsSync(single)) {
    const st = readSafetensorsHeader(single);
    return { files: [st], tensors: new Map(st.tensors) };
  }
  const pickles = ['pytorch_model.bin', 'pytorch_model.bin.index.json'].filter((f) => fs.existsSync(path.join(dir, f)));
  const hint = pickles.length > 0
    ? ` It has ${pickles.join(' and ')}: PyTorch .bin pickles are not supported; convert them to safetensors first`
      + ' (e.g. in Python: model.save_pretrained(dir, safe_serialization=True)).'
    : '';
  throw new Error(`no weights found in ${dir}: looked for ${SAFETENSORS_INDEX} and ${SAFETENSORS_SINGLE}.${hint}`);
}

function openSharded(dir: string, indexFile: string): CheckpointWeights {
  const weightMap = readWeightMap(indexFile);
  const shards = new Map<string, SafetensorsFile>();
  for (const shardName of new Set(weightMap.values())) {
    const shardPath = path.join(dir, shardName);
    if (!fs.existsSync(shardPath)) throw new Error(`${indexFile}: lists shard ${shardName}, but ${shardPath} does not exist`);
    shards.set(shardName, readSafetensorsHeader(shardPath));
  }
  const tensors = new Map<string, TensorEntry>();
  for (const [name, shardName] of weightMap) {
    const entry = shards.get(shardName)!.tensors.get(name);
    if (entry === undefined) throw new Error(`${indexFile}: tensor '${name}' is mapped to ${shardName}, whose header does not contain it`);
    tensors.set(name, entry);
  }
  return { files: [...shards.values()], tensors };
}

function readWeightMap(indexFile: string): Map<string, string> {
  const weightMap = readJsonObject(indexFile, 'shard index').weight_map;
  if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
    throw new Error(`${indexFile}: missing "weight_map" object`);
  }
  const entries = Object.entries(weightMap as Record<string, unknown>);
  for (const [name, shard] of entries) {
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) {
      throw new Error(`${indexFile}: tensor '${name}' maps to ${JSON.stringify(shard)}, expected a file name in the same directory`);
    }
  }
  return new Map(entries as Array<[string, string]>);
}

export interface ShardedWriteOptions {
  /** Largest shard in bytes (transformers' `max_shard_size`); default 5 GB (5e9 bytes, as transformers). */
  maxShardBytes?: number;
  metadata?: Record<string, string>;
}

export interface ShardedWriteResult {
  files: string[];
  /** The index file, or null when everything fit in one `model.safetensors`. */
  indexFile: string | null;
  totalSize: number;
}

const SHARD_FILE = /^model-\d{5}-of-\d{5}\.safetensors$/;

/**
 * Writes weights as transformers' `save_pretrained` does: one `model.safetensors` when they fit in
 * `maxShardBytes`, else `model-0000i-of-0000N.safetensors` shards (filled greedily in the given order) plus
 * `model.safetensors.index.json` ({ metadata: { total_size }, weight_map }). Files of an older layout left in `dir`
 * are removed afterwards, so a stale index can never shadow the new weights.
 */
export function writeShardedSafetensors(
  dir: string, tensors: readonly TensorToWrite[], opts: ShardedWriteOptions = {},
): ShardedWriteResult {
  const maxShardBytes = opts.maxShardBytes ?? 5e9;
  fs.mkdirSync(dir, { recursive: true });
  const sizes = tensors.map((t) => tensorByteLength(t.dtype, t.shape));
  const totalSize = sizes.reduce((a, b) => a + b, 0);
  if (totalSize <= maxShardBytes) {
    const file = path.join(dir, SAFETENSORS_SINGLE);
    writeSafetensors(file, tensors, opts.metadata);
    removeStale(dir, new Set([SAFETENSORS_SINGLE]));
    return { files: [file], indexFile: null, totalSize };
  }
  const shards = packShards(tensors, sizes, maxShardBytes);
  const n = String(shards.length).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  const names = shards.map((shard, i) => {
    const name = `model-${String(i + 1).padStart(5, '0')}-of-${n}.safetensors`;
    writeSafetensors(path.join(dir, name), shard, opts.metadata);
    for (const t of shard) weightMap[t.name] = name;
    return name;
  });
  const indexFile = path.join(dir, SAFETENSORS_INDEX);
  const index = { metadata: { total_size: totalSize }, weight_map: sortedObject(weightMap) };
  writeFileAtomicSync(indexFile, JSON.stringify(index, null, 2) + '\n');
  removeStale(dir, new Set([...names, SAFETENSORS_INDEX]));
  return { files: names.map((name) => path.join(dir, name)), indexFile, totalSize };
}

/** transformers' greedy split: start a new shard when the next tensor would overflow a non-empty one. */
function packShards(tensors: readonly TensorToWrite[], sizes: number[], maxShardBytes: number): TensorToWrite[][] {
  const shards: TensorToWrite[][] = [[]];
  let current = 0;
  tensors.forEach((t, i) => {
    if (current + sizes[i] > maxShardBytes && shards[shards.length - 1].length > 0) {
      shards.push([]);
      current = 0;
    }
    shards[shards.length - 1].push(t);
    current += sizes[i];
  });
  return shards;
}

function sortedObject(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

/** Removes weight files of another layout (single file vs. shards) that the write just superseded. */
function removeStale(dir: string, keep: Set<string>): void {
  for (const name of fs.readdirSync(dir)) {
    const isWeights = name === SAFETENSORS_SINGLE || name === SAFETENSORS_INDEX || SHARD_FILE.test(name);
    if (isWeights && !keep.has(name)) fs.rmSync(path.join(dir, name), { force: true });
  }
}
