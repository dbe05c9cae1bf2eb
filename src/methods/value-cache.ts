// A cache of optimised values (ROME's v*, MEMIT's z): the expensive part of a locate-then-edit edit (≈ 90% of its
// time), and a pure function of the model's weights, the request, the context templates and the optimisation
// hparams. Evaluations that edit the same facts several times from the unedited model — MEMIT at batch sizes 1, 10,
// 100 and 1,000; ROME and r-ROME, whose values are identical — compute each value once.
//
// Safety: a value is only valid for the weights it was computed on. The Editor hands the cache to a method only while
// its model is at the loaded weights (no edit applied since load or restore()), and scopes it by the model's content
// fingerprint; the key itself holds every token id, position and hparam the optimisation reads. Entries are one JSON
// file each, written atomically, so parallel processes can share a directory.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomicSync } from '../io/atomic.js';
import type { LossStep } from './types.js';

/** What optimizeValue returns, as plain arrays. */
export interface CachedValue {
  target: number[];
  initial: number[];
  delta: number[];
  trace: LossStep[];
  lookupIndices: number[];
}

export interface ValueCache {
  get(key: string): CachedValue | undefined;
  set(key: string, value: CachedValue): void;
  /** Number of lookups answered from the cache (for run records). */
  readonly hits: number;
}

const VERSION = 1;

function isValue(v: unknown): v is CachedValue {
  const o = v as Record<string, unknown>;
  return typeof o === 'object' && o !== null && ['target', 'initial', 'delta', 'trace', 'lookupIndices'].every((k) => Array.isArray(o[k]));
}

/** In-process cache (tests, notebooks). */
export class MemoryValueCache implements ValueCache {
  private readonly map = new Map<string, CachedValue>();
  hits = 0;
  get(key: string): CachedValue | undefined {
    const v = this.map.get(key);
    if (v) this.hits++;
    return v;
  }
  set(key: string, value: CachedValue): void {
    this.map.set(key, value);
  }
  get size(): number {
    return this.map.size;
  }
}

/** One JSON file per entry under `dir`, named by the SHA-256 of the key (the key is stored and checked on read). */
export class DiskValueCache implements ValueCache {
  hits = 0;
  constructor(readonly dir: string) {}

  private file(key: string): string {
    return path.join(this.dir, `${createHash('sha256').update(key).digest('hex').slice(0, 40)}.json`);
  }

  get(key: string): CachedValue | undefined {
    const file = this.file(key);
    if (!fs.existsSync(file)) return undefined;
    let json: { version?: number; key?: string; value?: unknown };
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      return undefined; // a damaged entry is recomputed and rewritten
    }
    if (json.version !== VERSION || json.key !== key || !isValue(json.value)) return undefined;
    this.hits++;
    return json.value;
  }

  set(key: string, value: CachedValue): void {
    fs.mkdirSync(this.dir, { recursive: true });
    writeFileAtomicSync(this.file(key), JSON.stringify({ version: VERSION, key, value }));
  }
}

/** A view of `cache` whose keys are prefixed by `scope` (the Editor scopes by model fingerprint). */
export function scopedValueCache(cache: ValueCache, scope: string): ValueCache {
  return {
    get: (key) => cache.get(`${scope}\n${key}`),
    set: (key, value) => cache.set(`${scope}\n${key}`, value),
    get hits() {
      return cache.hits;
    },
  };
}
