// Shared pieces of the statistics tests: the tiny GPT-2 (vocabulary 256, no tokenizer) with a byte-level encoder,
// small corpora written to temporary directories.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tidy, type Tensor } from '../../src/tensor/index.js';
import type { TokenEncoder } from '../../src/stats/index.js';
import { GOLDEN } from '../data.js';

export const TINY_GPT2 = join(GOLDEN, 'tiny-gpt2');

/** UTF-8 bytes as token ids: tiny-gpt2 has a 256-token vocabulary and no tokenizer files. */
export const BYTES: TokenEncoder = { encode: (text) => [...Buffer.from(text, 'utf8')] };

/** Deterministic ASCII text of exactly `n` bytes. */
export function sampleText(n: number, seed = 1): string {
  const words = ['the', 'river', 'flows', 'north', 'of', 'a', 'city', 'whose', 'name', 'is', 'Paris', 'and', 'it', 'rains'];
  let s = '';
  let x = seed;
  while (s.length < n) {
    x = (x * 1103515245 + 12345) % 2147483648;
    s += words[x % words.length] + (x % 7 === 0 ? '.\n' : ' ');
  }
  return s.slice(0, n);
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `lmedit-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeText(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** ‖a − b‖_F / ‖b‖_F in float64. */
export function relativeError(a: Tensor, b: Tensor): number {
  return tidy(() => a.double().sub(b.double()).norm().item() / b.double().norm().item());
}
