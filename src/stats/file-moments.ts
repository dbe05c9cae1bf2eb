// Precomputed statistics served from given files: one safetensors file per module with a tensor `mom2` and
// `__metadata__.count` (the golden files, files copied from another machine, or StatsCache's own files).
import * as path from 'node:path';
import { keep } from '../tensor/index.js';
import type { CausalLM } from '../models/index.js';
import type { SecondMoment, SecondMomentProvider } from '../methods/types.js';
import { fileSha256, FINGERPRINT_HEX } from './fingerprint.js';
import { readMomentFile } from './store.js';
import type { StatsDtype } from './second-moment.js';
import { inputWidth, onRankProblem, rankProblem, warner, type RankDeficientPolicy } from './checks.js';

export interface FileSecondMomentsOptions {
  /** A file whose count is below C's width (singular C): 'error' (default) refuses it, 'warn' reports and uses it. */
  rankDeficient?: RankDeficientPolicy;
  /** Where warnings go (default: a process warning). */
  log?: (message: string) => void;
}

export class FileSecondMoments implements SecondMomentProvider {
  private readonly files: Map<string, string>;
  private readonly loaded = new Map<string, SecondMoment>();

  /**
   * `files`: module path → statistics file. `dtype` casts C on load (default: as stored). A file with non-finite
   * values is always refused, naming it; one averaged over fewer tokens than C's width per `opts.rankDeficient`.
   */
  constructor(files: Map<string, string> | Record<string, string>, readonly dtype?: StatsDtype, readonly opts: FileSecondMomentsOptions = {}) {
    this.files = files instanceof Map ? new Map(files) : new Map(Object.entries(files));
  }

  /**
   * C of `moduleName`, read once. The key is the one StatsCache stored the file under, else `file:<name>#<sha256>`
   * (content-addressed, so results stay comparable across machines).
   */
  get(model: CausalLM, moduleName: string): SecondMoment {
    const cached = this.loaded.get(moduleName);
    if (cached) return cached;
    const file = this.files.get(moduleName);
    if (file === undefined) {
      throw new Error(`no second-moment file for module '${moduleName}' (files are given for: ${[...this.files.keys()].join(', ') || 'none'})`);
    }
    if (!model.modulePaths().includes(moduleName)) {
      throw new Error(`module '${moduleName}' is not in the ${model.modelType} model at ${model.source.dir}`);
    }
    const { mom2, count, metadata } = readMomentFile(file, this.dtype, model.device);
    const width = inputWidth(model, moduleName);
    if (width !== undefined && mom2.shape[0] !== width) {
      mom2.dispose();
      throw new Error(`${file}: C is ${mom2.shape[0]}×${mom2.shape[0]} but the input of ${moduleName} has ${width} features`);
    }
    const problem = rankProblem(count, mom2.shape[0]);
    if (problem !== undefined) {
      try {
        onRankProblem(`${file} (C of ${moduleName}, __metadata__.count ${count}): ${problem}; compute C over a larger corpus`, this.opts.rankDeficient ?? 'error', warner(this.opts.log));
      } catch (e) {
        mom2.dispose();
        throw e;
      }
    }
    const key = metadata.key ?? `file:${path.basename(file)}#${fileSha256(file).slice(0, FINGERPRINT_HEX)}`;
    const moment = { mom2: keep(mom2), count, key };
    this.loaded.set(moduleName, moment);
    return moment;
  }

  dispose(): void {
    for (const m of this.loaded.values()) m.mom2.dispose();
    this.loaded.clear();
  }
}
