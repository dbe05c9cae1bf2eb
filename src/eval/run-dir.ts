// The run directory's guarantees (docs/reliability.md):
//   - lmedit writes only into a new or empty directory, or one it made (recognised by its `run.json`);
//   - a rerun resumes only when it is the same run: `run.json` records the run's identity (model fingerprint, data
//     fingerprint and selection, method, hparams hash, setting, seeds) and a rerun that differs is refused, naming
//     what differs;
//   - cases.jsonl is appended a line at a time; a torn last line (power loss, full disk) is cut on resume and its case
//     redone, so a run can always be finished.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../io/atomic.js';
import type { CaseLine } from './run.js';

export const RUN_FILE = 'run.json';
export const CASES_FILE = 'cases.jsonl';

/** What makes two runs the same run: a rerun into the directory resumes only when all of it matches. */
export interface RunIdentity {
  model: string | null;
  data: Record<string, unknown> | null;
  method: string;
  hparams: string;
  setting: { mode: string; batchSize: number; measureWhen?: string };
  seeds: Record<string, number | null>;
  /** Extra measurements that change what a case line holds (other-task file, generation). */
  extras: Record<string, unknown>;
}

/** sha256 (16 hex) of a JSON value with sorted keys. */
export function stableHash(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex').slice(0, 16);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/**
 * Makes `dir` a run directory for `identity`, or checks that it already is one for the same run. Refuses a non-empty
 * directory lmedit did not make, and a run directory of another run (naming the fields that differ).
 */
export function prepareRunDir(dir: string, identity: RunIdentity): void {
  const marker = join(dir, RUN_FILE);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Error(`--out ${dir} exists and is not a directory`);
  if (existsSync(marker)) {
    let prev: RunIdentity;
    try {
      prev = JSON.parse(readFileSync(marker, 'utf8')).identity;
    } catch (e) {
      throw new Error(`${marker}: not valid JSON (${(e as Error).message}); this run directory cannot be resumed: use a new --out`, { cause: e });
    }
    const diffs = identityDiff(prev, identity);
    if (diffs.length) {
      throw new Error(`${dir} holds another run; resuming would mix its results with this one's. Differences: ${diffs.join('; ')}. Use a new --out (or the original options)`);
    }
    return;
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new Error(`--out ${dir} is not empty and was not made by lmedit eval (no ${RUN_FILE}); refusing to write into it: choose a new or empty directory`);
  }
  mkdirSync(dir, { recursive: true });
  writeFileAtomicSync(marker, JSON.stringify({ lmedit: 'eval-run', createdAt: new Date().toISOString(), identity }, null, 2) + '\n');
}

/** The fields in which two identities differ, described. */
export function identityDiff(a: RunIdentity | undefined, b: RunIdentity): string[] {
  if (!a) return ['the directory records no identity'];
  const out: string[] = [];
  for (const k of Object.keys(b) as (keyof RunIdentity)[]) {
    if (stableJson(a[k]) !== stableJson(b[k])) out.push(`${k}: was ${clip(stableJson(a[k]))}, now ${clip(stableJson(b[k]))}`);
  }
  return out;
}

function clip(s: string, n = 160): string {
  return s.length <= n ? s : `${s.slice(0, n)}…`;
}

/**
 * Reads cases.jsonl. A torn last line (no newline at the end, or not valid JSON) is cut from the file and reported
 * through `onCut`, so its case is redone; a bad line before the last is an error naming the line.
 */
export function readCaseLines(file: string, onCut?: (message: string) => void): CaseLine[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  const parts = text.split('\n');
  const tail = parts.pop()!; // text after the last newline: '' when the file ends cleanly
  const out: CaseLine[] = [];
  let goodBytes = 0;
  for (let i = 0; i < parts.length; i++) {
    const line = parts[i];
    if (line.trim() !== '') {
      try {
        out.push(JSON.parse(line));
      } catch (e) {
        if (i === parts.length - 1 && tail === '') return cut(file, out, goodBytes, `line ${i + 1} is not valid JSON`, onCut);
        throw new Error(`${file}: line ${i + 1} is not valid JSON: ${(e as Error).message}`, { cause: e });
      }
    }
    goodBytes += Buffer.byteLength(line, 'utf8') + 1;
  }
  if (tail.trim() !== '') return cut(file, out, goodBytes, `the last line (${tail.length} characters) has no end`, onCut);
  return out;
}

function cut(file: string, lines: CaseLine[], keepBytes: number, why: string, onCut?: (message: string) => void): CaseLine[] {
  truncateSync(file, keepBytes);
  onCut?.(`${file}: ${why} (a write was interrupted); cut it, its case will be redone`);
  return lines;
}
