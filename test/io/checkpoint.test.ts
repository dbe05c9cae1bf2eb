// Resolving a model argument (directory or cached Hugging Face repo id) and reading config files.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hfHubCacheDir, readGenerationConfig, readModelConfig, resolveModelDir } from '../../src/io/checkpoint.js';

const factgptDir = fileURLToPath(new URL('../../../shared/data/factgpt', import.meta.url));
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lmedit-ckpt-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A hub cache laid out as huggingface_hub writes it: refs/<branch> holds a commit, snapshots/<commit>/ the files. */
function fakeRepo(hub: string, repoId: string, snapshots: Record<string, number>, refs: Record<string, string> = {}): string {
  const repoDir = path.join(hub, `models--${repoId.replace('/', '--')}`);
  for (const [commit, mtimeSeconds] of Object.entries(snapshots)) {
    const dir = path.join(repoDir, 'snapshots', commit);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'gpt2', commit }));
    fs.utimesSync(dir, mtimeSeconds, mtimeSeconds);
  }
  for (const [ref, commit] of Object.entries(refs)) {
    fs.mkdirSync(path.join(repoDir, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(repoDir, 'refs', ref), commit);
  }
  return repoDir;
}

const hfHome = path.join(root, 'hf-home');
const repoDir = fakeRepo(path.join(hfHome, 'hub'), 'org/name', { aaa111: 1000, bbb222: 2000, ccc333: 3000 }, { main: 'bbb222', v1: 'aaa111' });
fakeRepo(path.join(hfHome, 'hub'), 'gpt2', { ddd444: 1000, eee555: 5000 });

test('a local directory is used as is', () => {
  assert.equal(resolveModelDir(factgptDir), path.resolve(factgptDir));
});

test('a repo id resolves in the cache under $HF_HOME/hub, through refs/main', () => {
  const saved = process.env.HF_HOME;
  const savedHub = process.env.HF_HUB_CACHE;
  process.env.HF_HOME = hfHome;
  delete process.env.HF_HUB_CACHE;
  try {
    assert.equal(resolveModelDir('org/name'), path.join(repoDir, 'snapshots', 'bbb222'));
  } finally {
    if (saved === undefined) delete process.env.HF_HOME; else process.env.HF_HOME = saved;
    if (savedHub !== undefined) process.env.HF_HUB_CACHE = savedHub;
  }
});

test('revisions: a ref name or a commit hash; without refs, the most recent snapshot', () => {
  const env = { HF_HOME: hfHome };
  assert.equal(resolveModelDir('org/name', { env, revision: 'v1' }), path.join(repoDir, 'snapshots', 'aaa111'));
  assert.equal(resolveModelDir('org/name', { env, revision: 'ccc333' }), path.join(repoDir, 'snapshots', 'ccc333'));
  assert.match(resolveModelDir('gpt2', { env }), /models--gpt2[/\\]snapshots[/\\]eee555$/);
  assert.throws(() => resolveModelDir('org/name', { env, revision: 'nope' }), /revision 'nope' not found/);
});

test('cache location precedence: HF_HUB_CACHE, then HF_HOME/hub, then ~/.cache/huggingface/hub', () => {
  assert.equal(hfHubCacheDir({ HF_HUB_CACHE: '/a', HF_HOME: '/b' }), '/a');
  assert.equal(hfHubCacheDir({ HF_HOME: '/b' }), path.join('/b', 'hub'));
  assert.equal(hfHubCacheDir({}), path.join(os.homedir(), '.cache', 'huggingface', 'hub'));
});

test('a repo id that is not cached gives an error that says where it looked and what to do', () => {
  const env = { HF_HOME: hfHome };
  assert.throws(() => resolveModelDir('org/missing', { env }), (e: Error) =>
    e.message.includes(path.join(hfHome, 'hub', 'models--org--missing', 'snapshots'))
    && e.message.includes('local checkpoint directory') && e.message.includes('never downloads'));
  assert.throws(() => resolveModelDir('./no/such/dir/here', { env }), /no such directory/);
});

test('readModelConfig reads config.json and names the file in every error', () => {
  const { config, file } = readModelConfig(factgptDir);
  assert.equal(config.model_type, 'gpt2');
  assert.equal(config.n_embd, 256);
  assert.equal(file, path.join(factgptDir, 'config.json'));
  const dir = fs.mkdtempSync(path.join(root, 'cfg-'));
  const cfg = path.join(dir, 'config.json');
  assert.throws(() => readModelConfig(dir), (e: Error) => e.message.includes(cfg));
  fs.writeFileSync(cfg, '{"model_type": ');
  assert.throws(() => readModelConfig(dir), (e: Error) => e.message.includes(cfg) && /not valid JSON/.test(e.message));
  fs.writeFileSync(cfg, '{"n_embd": 4}');
  assert.throws(() => readModelConfig(dir), (e: Error) => e.message.includes(cfg) && /model_type/.test(e.message));
});

test('readGenerationConfig is optional', () => {
  assert.equal(readGenerationConfig(factgptDir), null);
  const dir = fs.mkdtempSync(path.join(root, 'gen-'));
  fs.writeFileSync(path.join(dir, 'generation_config.json'), '{"eos_token_id": 2, "do_sample": false}');
  assert.deepEqual(readGenerationConfig(dir), { eos_token_id: 2, do_sample: false });
});
