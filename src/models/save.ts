// Writing a model back as a Hugging Face directory that transformers loads: same tensor names and layouts
// (GPT-2's Conv1D stays [in, out]), config.json, tokenizer files, safetensors sharded above a size threshold.
// Written to a temporary directory and renamed into place; the source checkpoint is never overwritten unless asked.
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { noGrad, type DType } from '../tensor/index.js';
import { ENGINE_TO_SAFETENSORS_DTYPE, writeShardedSafetensors } from '../io/safetensors.js';
import type { CausalLM } from './model.js';

export interface SaveOptions {
  /** Stored dtype (default: the model's compute dtype). */
  dtype?: DType;
  /** Shard above this many bytes (default 5 GB, as transformers). */
  maxShardBytes?: number;
  /** Replace an existing non-empty directory. */
  overwrite?: boolean;
  /** Allow writing into the directory the model was loaded from. */
  overwriteSource?: boolean;
  /** Extra JSON files to write beside the weights (e.g. the edit record). */
  extraJson?: Record<string, unknown>;
  /** Writes more files into the (temporary) directory once the checkpoint is complete, before it is moved into place. */
  afterWrite?: (dir: string) => void;
}

/** Files copied from the source directory when present. */
const SIDE_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt',
  'tokenizer.model', 'added_tokens.json', 'generation_config.json', 'tokenizer-vocab.json',
];

const TORCH_DTYPE_NAMES: Partial<Record<DType, string>> = { float32: 'float32', float16: 'float16', bfloat16: 'bfloat16', float64: 'float64' };

export function saveModel(model: CausalLM, outDir: string, opts: SaveOptions = {}): void {
  const target = resolve(outDir);
  if (target === resolve(model.source.dir) && !opts.overwriteSource) {
    throw new Error(`refusing to overwrite the source checkpoint ${target} (library: overwriteSource: true; the CLI never writes into the source model's directory)`);
  }
  const source = resolve(model.source.dir);
  if (target.startsWith(source + sep) && !opts.overwriteSource) {
    throw new Error(`refusing to write inside the source checkpoint's directory ${source} (${target})`);
  }
  if (existsSync(target) && !statSync(target).isDirectory()) throw new Error(`${target} exists and is not a directory: cannot save a model there`);
  if (existsSync(target) && readdirSync(target).length > 0 && !opts.overwrite) {
    throw new Error(`${target} exists and is not empty (CLI: --overwrite; library: overwrite: true; or choose another directory)`);
  }
  const dtype = opts.dtype ?? model.dtype;
  const stDtype = ENGINE_TO_SAFETENSORS_DTYPE[dtype];
  if (stDtype === undefined) throw new Error(`cannot save weights as ${dtype}`);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${Date.now()}`);
  mkdirSync(tmp);
  try {
    writeShardedSafetensors(tmp, [...model.params].map(([name, p]) => ({
      name,
      dtype: stDtype,
      shape: p.shape,
      data: () => noGrad(() => {
        const cast = p.to({ dtype, device: 'cpu', copy: true });
        try {
          return cast.toBytes();
        } finally {
          cast.dispose();
        }
      }),
    })), { maxShardBytes: opts.maxShardBytes ?? 5e9 });
    const config = { ...model.source.rawConfig, torch_dtype: TORCH_DTYPE_NAMES[dtype] };
    writeFileSync(join(tmp, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    for (const f of SIDE_FILES) {
      const src = join(model.source.dir, f);
      if (existsSync(src)) copyFileSync(src, join(tmp, f));
    }
    for (const [name, value] of Object.entries(opts.extraJson ?? {})) {
      writeFileSync(join(tmp, name), JSON.stringify(value, null, 2) + '\n');
    }
    opts.afterWrite?.(tmp);
    swapInto(tmp, target);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Moves tmp to target; an existing target is moved aside first and removed only after the rename succeeded. */
function swapInto(tmp: string, target: string): void {
  if (!existsSync(target)) {
    renameSync(tmp, target);
    return;
  }
  const aside = `${tmp}.old`;
  renameSync(target, aside);
  try {
    renameSync(tmp, target);
  } catch (e) {
    renameSync(aside, target);
    throw e;
  }
  rmSync(aside, { recursive: true, force: true });
}
