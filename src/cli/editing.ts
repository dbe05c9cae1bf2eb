// What the editing commands share: default hparams per (method, model), the statistics provider, and printing.
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { packageRoot } from '../util/package-root.js';
import type { LanguageModel } from '../models/index.js';
import type { Tokenizer } from '../io/tokenizer.js';
import { readSafetensorsHeader } from '../io/safetensors.js';
import { checkOutputDir, checkOutputFile, checkpointDirProblem, isInside } from '../io/out-dir.js';
import type { SecondMomentProvider } from '../methods/types.js';
import { StatsCache } from '../stats/index.js';
import { parseOverrides, readHparamsFile } from '../methods/hparams.js';
import type { NormalizedRequest } from '../methods/request.js';
import { poolRequests, selectPool } from '../methods/pool.js';
import { loadCases } from '../eval/datasets/index.js';
import { UsageError } from './args.js';

/** The repository's hparams/ folder (shipped with the package). */
export const HPARAMS_DIR = join(packageRoot(), 'hparams');

/** hparams/<METHOD>/<model dir name>.yaml when it exists; otherwise a clear error listing what is shipped. */
export function defaultHparams(method: string, model: LanguageModel, explicit?: string): string {
  if (explicit) return explicit;
  const dir = join(HPARAMS_DIR, method.toUpperCase());
  const name = basename(model.source.dir.replace(/\/snapshots\/[^/]+\/?$/, '').replace(/^.*models--[^-]+--/, ''));
  const file = join(dir, `${name}.yaml`);
  if (existsSync(file)) return file;
  const shipped = existsSync(dir) ? readdirSync(dir).map((f) => f.replace(/\.yaml$/, '')).join(', ') : 'none';
  throw new UsageError(`no hparams file for ${method} on '${name}': pass --hparams <file> (shipped for ${method}: ${shipped}; ` +
    `copy the closest one and set the layers and module templates shown by \`lmedit inspect\`)`);
}

/** `--set field=value` items as hparams overrides (usage errors name the item). */
export function hparamOverrides(items: string[] | undefined): Record<string, unknown> {
  try {
    return parseOverrides(items ?? []);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export interface StatsOptions {
  corpus?: string;
  samples?: number;
  cacheDir?: string;
}

/**
 * Second-moment statistics over a local corpus (--corpus, else $LMEDIT_CORPUS). Without one, methods that need
 * statistics stop with a message saying how to provide them.
 */
export function statsProvider(tok: Tokenizer, o: StatsOptions, defaultSamples: number): SecondMomentProvider | undefined {
  const corpus = o.corpus ?? process.env.LMEDIT_CORPUS;
  if (!corpus) return undefined;
  if (!existsSync(corpus)) throw new UsageError(`corpus not found: ${corpus}`);
  return new StatsCache({ corpus, samples: o.samples ?? defaultSamples, tokenizer: tok, cacheDir: o.cacheDir });
}

/** Why `file` is not a safetensors file lmedit wrote for edits (an edit pack or state file, format 'lmedit-…'). */
export function editPackProblem(file: string): string | undefined {
  let format: string | undefined;
  try {
    format = readSafetensorsHeader(file).metadata.format;
  } catch {
    return 'is not an lmedit edit pack (not even a safetensors file)';
  }
  return format?.startsWith('lmedit') ? undefined : `is not an lmedit edit pack (safetensors with format '${format ?? ''}', e.g. a model's weights)`;
}

export interface OutputTargets {
  /** --save DIR: a checkpoint directory. */
  save?: string;
  /** --delta FILE: an edit pack. */
  delta?: string;
  /** --overwrite: replace an existing saved model / edit pack. */
  overwrite?: boolean;
  /** Files the command reads (an edit pack to apply): refused when --save would replace the directory holding them. */
  inputs?: string[];
}

/**
 * Checked before any work, so that a refusal costs nothing: --save and --delta never point into the source model's
 * directory; an existing target is replaced only with --overwrite, and only when it is lmedit's own kind of output
 * (a checkpoint directory for --save, an lmedit edit pack for --delta), never a file or directory of something else.
 */
export function checkOutputTargets(t: OutputTargets, sourceDir: string): void {
  try {
    if (t.save !== undefined) {
      checkOutputDir(t.save, { overwrite: t.overwrite, sourceDir, flag: '--save', notOurs: checkpointDirProblem });
      for (const input of t.inputs ?? []) {
        if (isInside(input, t.save)) throw new Error(`--save ${t.save} holds ${input}, which this command reads: saving there would delete it; choose another directory`);
      }
    }
    if (t.delta !== undefined) {
      checkOutputFile(t.delta, { overwrite: t.overwrite, sourceDir, flag: '--delta', notOurs: editPackProblem });
    }
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** A probability as a percentage; tiny ones in scientific notation so that changes stay visible. */
export function pct(p: number): string {
  return p < 1e-4 ? `${(100 * p).toExponential(2)}%` : `${(100 * p).toFixed(2)}%`;
}

/**
 * The demonstration / training pool a method's hparams name (IKE's pool_file + pool_range: any data format `lmedit
 * eval` reads, a slice of its cases by position), loaded for SessionContext.pool; undefined when none is named.
 */
export function methodPool(hparamsFile: string, overrides: Record<string, unknown>): { file: string; range: string | null; requests: NormalizedRequest[] } | undefined {
  const raw = { ...readHparamsFile(hparamsFile).raw, ...overrides };
  if (typeof raw.pool_file !== 'string' || raw.pool_file === '') return undefined;
  const range = typeof raw.pool_range === 'string' ? raw.pool_range : null;
  const { cases } = loadCases(raw.pool_file, { skipInvalid: true });
  const selected = selectPool(cases, range, `${hparamsFile}: pool_range`);
  if (selected.length === 0) throw new UsageError(`${hparamsFile}: pool_file ${raw.pool_file} with pool_range ${range} selects no case`);
  return { file: raw.pool_file, range, requests: poolRequests(selected) };
}
