// Precomputed statistics served from given files: one safetensors file per module with a tensor `mom2` and
// `__metadata__.count` (the golden files, files copied from another machine, or StatsCache's own files).
import * as path from 'node:path';
import { keep } from '../tensor/index.js';
import type { CausalLM } from '../models/index.js';
import type { SecondMoment, SecondMomentProvider } from '../methods/types.js';
import { fileSha256, FINGERPRINT_HEX } from './fingerprint.js';
import { readMomentFile } from './store.js';
import type { StatsDtype } from './second-moment.js';

export class FileSecondMoments implements SecondMomentProvider {
  private readonly files: Map<string, string>;
  private readonly loaded = new Map<string, SecondMoment>();

  /** `files`: module path → statistics file. `dtype` casts C on load (default: as stored). */
  constructor(files: Map<string, string> | Record<string, string>, readonly dtype?: StatsDtype) {
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

/**
 * Input features of a module with a weight matrix, undefined otherwise. An architecture stores all its projections
 * one way (GPT-2's Conv1D [in, out], nn.Linear [out, in]), the way its rewrite module's layout says.
 */
function inputWidth(model: CausalLM, module: string): number | undefined {
  const weight = model.params.get(`${module}.weight`);
  if (weight === undefined || weight.ndim !== 2) return undefined;
  return model.templates.rewriteWeightLayout === 'in_out' ? weight.shape[0] : weight.shape[1];
}
