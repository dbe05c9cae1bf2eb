// Content fingerprints for the statistics cache keys: a model is its config.json plus its weights files, a corpus is
// its files. Hashing a 6 GB checkpoint takes tens of seconds, so each file's SHA-256 is remembered per process and in
// `<cacheDir>/fingerprints.json`, keyed by absolute path + size + mtime: a file is read once until it changes.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openCheckpointWeights } from '../io/safetensors.js';
import { writeFileAtomicSync } from '../io/atomic.js';

/** Hex digits of a fingerprint as it appears in cache keys and file names. */
export const FINGERPRINT_HEX = 16;

const BLOCK_BYTES = 16 * 1024 * 1024;
const STORE_FILE = 'fingerprints.json';

/** sha256 per `absolute path|size|mtimeMs`, shared by every cache in this process. */
const memo = new Map<string, string>();
/** `cacheDir\0key` pairs known to be in that directory's fingerprints.json. */
const persisted = new Set<string>();

export interface FingerprintOptions {
  /** Directory holding `fingerprints.json`, the hashes remembered across processes (none when omitted). */
  cacheDir?: string;
}

function statKey(file: string): string {
  const abs = path.resolve(file);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    throw new Error(`cannot read ${abs}: ${(e as Error).message}`, { cause: e });
  }
  return `${abs}|${st.size}|${st.mtimeMs}`;
}

function readStore(cacheDir: string): Record<string, string> {
  const file = path.join(cacheDir, STORE_FILE);
  if (!fs.existsSync(file)) return {};
  try {
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { files?: Record<string, string> };
    return json.files ?? {};
  } catch {
    return {}; // a damaged store only costs a re-hash; it is rewritten below
  }
}

function remember(cacheDir: string, key: string, sha: string): void {
  const files = readStore(cacheDir);
  const abs = key.slice(0, key.indexOf('|'));
  for (const k of Object.keys(files)) if (k.startsWith(`${abs}|`)) delete files[k]; // older versions of the file
  files[key] = sha;
  fs.mkdirSync(cacheDir, { recursive: true });
  writeFileAtomicSync(path.join(cacheDir, STORE_FILE), JSON.stringify({ version: 1, files }, null, 1) + '\n');
}

/** Streams a file through SHA-256 in 16 MB blocks (never the whole file in memory). */
function hashFile(file: string): string {
  const hash = createHash('sha256');
  const block = Buffer.allocUnsafe(BLOCK_BYTES);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    for (;;) {
      const n = fs.readSync(fd, block, 0, BLOCK_BYTES, null);
      if (n === 0) break;
      hash.update(block.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** Full SHA-256 (hex) of a file's bytes, read at most once per version of the file. */
export function fileSha256(file: string, opts: FingerprintOptions = {}): string {
  const key = statKey(file);
  let sha = memo.get(key) ?? (opts.cacheDir ? readStore(opts.cacheDir)[key] : undefined);
  if (sha === undefined) sha = hashFile(path.resolve(file));
  memo.set(key, sha);
  if (opts.cacheDir && !persisted.has(`${opts.cacheDir}\0${key}`)) {
    if (readStore(opts.cacheDir)[key] !== sha) remember(opts.cacheDir, key, sha);
    persisted.add(`${opts.cacheDir}\0${key}`);
  }
  return sha;
}

/**
 * Fingerprint of named parts: SHA-256 over `name:sha256(bytes)` lines, shortened. A hash of per-file hashes
 * identifies the same bytes as one hash over all of them, and lets a changed file be re-read alone.
 */
export function combinedFingerprint(parts: ReadonlyArray<{ name: string; file: string }>, opts: FingerprintOptions = {}, extra = ''): string {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(`${p.name}:${fileSha256(p.file, opts)}\n`);
  if (extra) hash.update(`extra:${extra}\n`);
  return hash.digest('hex').slice(0, FINGERPRINT_HEX);
}

/** A model directory's fingerprint: config.json and every weights file (single file or shards), by content. */
export function modelFingerprint(dir: string, opts: FingerprintOptions = {}): string {
  const weights = openCheckpointWeights(dir).files.map((f) => f.file).sort();
  const parts = [path.join(dir, 'config.json'), ...weights].map((file) => ({ name: path.basename(file), file }));
  return combinedFingerprint(parts, opts);
}
