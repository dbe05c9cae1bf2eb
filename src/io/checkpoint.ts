// Checkpoint directories: resolving what the user names as a model (a directory or a Hugging Face repo id in the
// local cache) and reading config.json / generation_config.json. The weights are opened by openCheckpointWeights
// in safetensors.ts. Never touches the network: lmedit only reads what is already on disk.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readJsonObject, readOptionalJsonObject, type JsonObject } from './json.js';

export interface ResolveOptions {
  /** A branch/tag name (looked up in `refs/`) or a commit hash (a `snapshots/` folder). Default: `main`. */
  revision?: string;
  /** The hub cache folder; default from the environment as huggingface_hub does it (see `hfHubCacheDir`). */
  cacheDir?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The Hugging Face hub cache folder, with huggingface_hub's precedence: `$HF_HUB_CACHE`, the legacy
 * `$HUGGINGFACE_HUB_CACHE`, `$HF_HOME/hub`, `$XDG_CACHE_HOME/huggingface/hub`, `~/.cache/huggingface/hub`.
 */
export function hfHubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  if (env.HF_HOME) return path.join(env.HF_HOME, 'hub');
  const cacheHome = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cacheHome, 'huggingface', 'hub');
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/;

/**
 * Resolves a model argument to a checkpoint directory: an existing local directory is used as is; otherwise a repo
 * id (`gpt2`, `org/name`) is looked up in the local hub cache at `models--org--name/snapshots/<rev>`, where `<rev>`
 * is the commit in `refs/<revision>` (default `main`), else the only or most recent snapshot. Offline by design.
 */
export function resolveModelDir(model: string, opts: ResolveOptions = {}): string {
  const expanded = model.startsWith('~/') ? path.join(os.homedir(), model.slice(2)) : model;
  if (fs.existsSync(expanded) && fs.statSync(expanded).isDirectory()) return path.resolve(expanded);
  const cacheDir = opts.cacheDir ?? hfHubCacheDir(opts.env);
  const howTo = 'Pass the path of a local checkpoint directory (with config.json and model.safetensors), '
    + 'or download the model once with `huggingface-cli download <repo>` (or set HF_HUB_CACHE / HF_HOME to the cache that has it); '
    + 'lmedit never downloads.';
  if (!REPO_ID.test(model) || model.includes('..')) {
    throw new Error(`model '${model}': no such directory (${path.resolve(expanded)}), and it is not a Hugging Face repo id. ${howTo}`);
  }
  const repoDir = path.join(cacheDir, `models--${model.replace('/', '--')}`);
  const snapshot = findSnapshot(repoDir, opts.revision);
  if (snapshot !== null) return snapshot;
  const revision = opts.revision ? ` at revision '${opts.revision}'` : '';
  throw new Error(`model '${model}'${revision} not found. Searched: the directory ${path.resolve(expanded)}, `
    + `and the Hugging Face cache ${path.join(repoDir, 'snapshots')}. ${howTo}`);
}

/** The snapshot folder for a revision in one cached repo, or null when the cache does not have it. */
function findSnapshot(repoDir: string, revision?: string): string | null {
  const snapshots = path.join(repoDir, 'snapshots');
  if (!fs.existsSync(snapshots)) return null;
  const ref = path.join(repoDir, 'refs', revision ?? 'main');
  if (fs.existsSync(ref) && fs.statSync(ref).isFile()) {
    const commit = fs.readFileSync(ref, 'utf8').trim();
    const dir = path.join(snapshots, commit);
    if (fs.existsSync(dir)) return dir;
  }
  if (revision !== undefined) {
    const dir = path.join(snapshots, revision);
    return fs.existsSync(dir) ? dir : null;
  }
  const candidates = fs.readdirSync(snapshots)
    .map((name) => path.join(snapshots, name))
    .filter((dir) => fs.statSync(dir).isDirectory())
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return candidates[0] ?? null;
}

/** config.json: only `model_type` is required here; each architecture file validates its own fields. */
export interface ModelConfig {
  model_type: string;
  [key: string]: unknown;
}

/**
 * Reads `config.json`; its `model_type` picks the architecture in the model registry. The file path is returned
 * too, so that later validation errors (a missing field, a config/weights mismatch) can name it.
 */
export function readModelConfig(dir: string): { config: ModelConfig; file: string } {
  const file = path.join(dir, 'config.json');
  const config = readJsonObject(file, 'model config');
  if (typeof config.model_type !== 'string' || config.model_type === '') {
    throw new Error(`${file}: missing "model_type" (which architecture is this checkpoint?)`);
  }
  return { config: config as ModelConfig, file };
}

/** Reads `generation_config.json` when the checkpoint has one (eos/bos/pad ids, sampling defaults), else null. */
export function readGenerationConfig(dir: string): JsonObject | null {
  return readOptionalJsonObject(path.join(dir, 'generation_config.json'), 'generation config');
}
