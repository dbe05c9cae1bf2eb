// Loading a Hugging Face checkpoint directory (or a repo id from the local cache) into a CausalLM.
// Tensors are read one at a time straight from the file into tensor memory and cast to the compute dtype, so peak
// memory is the model plus one tensor (a 6 GB fp32 GPT-2 XL loads on a 24 GiB machine).
import { fromFile, noGrad, type Device, type DType, type Tensor } from '../tensor/index.js';
import { join } from 'node:path';
import {
  openCheckpointWeights, readSafetensorsHeader, SAFETENSORS_TO_ENGINE_DTYPE, type TensorEntry,
} from '../io/safetensors.js';
import { readModelConfig, resolveModelDir } from '../io/checkpoint.js';
import { CausalLM } from './model.js';
import { architectureFor } from './registry.js';
import { assertFinite } from '../io/finite.js';

export interface LoadOptions {
  /** Compute dtype (default float32). Weights stored in another dtype are cast tensor by tensor. */
  dtype?: DType;
  device?: Device;
  /** Revision of a cached Hugging Face repo (default: refs/main, else the newest snapshot). */
  revision?: string;
  /** Read this safetensors file of the directory instead of model.safetensors / the sharded index. */
  weightsFile?: string;
  /** Called after each tensor is read (for progress bars). */
  onProgress?: (done: number, total: number, name: string) => void;
}

/** Loads a model from a local directory or a repo id resolved against the local Hugging Face cache. */
export function loadModel(nameOrPath: string, opts: LoadOptions = {}): CausalLM {
  const dir = resolveModelDir(nameOrPath, { revision: opts.revision });
  const { config: raw, file: configFile } = readModelConfig(dir);
  const arch = architectureFor(raw.model_type, configFile);
  const config = arch.parseConfig(raw, configFile);
  const expected = arch.parameterShapes(config);
  const weights = opts.weightsFile
    ? singleFileWeights(join(dir, opts.weightsFile))
    : openCheckpointWeights(dir);

  const byCanonical = new Map<string, TensorEntry>();
  for (const [name, entry] of weights.tensors) {
    const canonical = arch.canonicalName(name, config);
    if (canonical === null) continue;
    if (!expected.has(canonical)) {
      throw new Error(`${entry.file}: tensor '${name}' is not a parameter of a ${arch.modelType} model with this config.json ` +
        `(config/weights mismatch?)`);
    }
    byCanonical.set(canonical, entry);
  }
  const missing = [...expected.keys()].filter((n) => !byCanonical.has(n));
  if (missing.length > 0) {
    throw new Error(`${dir}: checkpoint is missing ${missing.length} tensor(s) required by config.json: ${missing.slice(0, 5).join(', ')}` +
      (missing.length > 5 ? ', …' : ''));
  }

  const dtype = opts.dtype ?? 'float32';
  const device = opts.device ?? 'cpu';
  const params = new Map<string, Tensor>();
  let done = 0;
  try {
    for (const [name, shape] of expected) {
      const entry = byCanonical.get(name)!;
      params.set(name, readParameter(entry, shape, dtype, device));
      opts.onProgress?.(++done, expected.size, name);
    }
  } catch (e) {
    for (const t of params.values()) t.dispose();
    throw e;
  }
  return new CausalLM(arch, config, params, dtype, device, { dir, rawConfig: raw });
}

/** Reads one weight: shape checked against the config, dtype a float one, finite, cast to the model's dtype/device. */
export function readParameter(entry: TensorEntry, shape: number[], dtype: DType, device: Device, configFile = 'config.json'): Tensor {
  if (entry.shape.length !== shape.length || entry.shape.some((s, i) => s !== shape[i])) {
    throw new Error(`${entry.file}: tensor '${entry.name}' has shape [${entry.shape}] but ${configFile} implies [${shape}]`);
  }
  const stored = SAFETENSORS_TO_ENGINE_DTYPE[entry.dtype];
  if (stored === undefined || !['float32', 'float16', 'bfloat16', 'float64'].includes(stored)) {
    throw new Error(`${entry.file}: tensor '${entry.name}' has dtype ${entry.dtype}; weights must be F32, F16, BF16 or F64`);
  }
  return noGrad(() => {
    const raw = fromFile(entry.file, entry.byteOffset, stored, entry.shape);
    try {
      assertFinite(raw, `${entry.file}: tensor '${entry.name}' (a model weight)`);
    } catch (e) {
      raw.dispose();
      throw e;
    }
    if (stored === dtype && device === 'cpu') return raw;
    const cast = raw.to({ dtype, device });
    raw.dispose();
    return cast;
  });
}

function singleFileWeights(file: string): { tensors: Map<string, TensorEntry> } {
  return { tensors: readSafetensorsHeader(file).tensors };
}
