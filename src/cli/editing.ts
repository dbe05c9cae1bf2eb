// What the editing commands share: default hparams per (method, model), the statistics provider, and printing.
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { packageRoot } from '../util/package-root.js';
import type { CausalLM } from '../models/index.js';
import type { Tokenizer } from '../io/tokenizer.js';
import type { SecondMomentProvider } from '../methods/types.js';
import { StatsCache } from '../stats/index.js';
import { parseOverrides } from '../methods/hparams.js';
import { UsageError } from './args.js';

/** The repository's hparams/ folder (shipped with the package). */
export const HPARAMS_DIR = join(packageRoot(), 'hparams');

/** hparams/<METHOD>/<model dir name>.yaml when it exists; otherwise a clear error listing what is shipped. */
export function defaultHparams(method: string, model: CausalLM, explicit?: string): string {
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

/** A probability as a percentage; tiny ones in scientific notation so that changes stay visible. */
export function pct(p: number): string {
  return p < 1e-4 ? `${(100 * p).toExponential(2)}%` : `${(100 * p).toFixed(2)}%`;
}
