// `lmedit stats` as a user runs it: computes, prints key and file, and finds the result cached the second time.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FACTGPT, REPO_ROOT, SHARED_DATA } from '../data.js';
import { tempDir, writeText } from './helpers.js';

function lmedit(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], { encoding: 'utf8', cwd: REPO_ROOT });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const tmp = tempDir('stats-cli');
after(() => tmp.cleanup());

test('lmedit stats computes, prints key and file, and reports the second run as cached', () => {
  const text = readFileSync(join(SHARED_DATA, 'wikitext-2', 'test.txt'), 'utf8').slice(0, 6000);
  const corpus = writeText(tmp.dir, 'small.txt', text);
  const cacheDir = join(tmp.dir, 'cache');
  const args = ['stats', '--model', FACTGPT, '--layers', '2,3', '--corpus', corpus, '--samples', '4', '--cache-dir', cacheDir];
  const first = lmedit(...args);
  assert.equal(first.code, 0, first.stderr);
  for (const layer of [2, 3]) {
    const block = new RegExp(`transformer\\.h\\.${layer}\\.mlp\\.c_proj  computed  \\(512 tokens\\)\\n  key   (\\S+)\\n  file  (\\S+)`).exec(first.stdout);
    assert.ok(block, first.stdout);
    assert.match(block[1], new RegExp(`^[0-9a-f]{16}/transformer\\.h\\.${layer}\\.mlp\\.c_proj__[0-9a-f]{16}__n4__c128__float32$`));
    assert.equal(block[2], join(cacheDir, `${block[1]}.safetensors`));
    assert.ok(existsSync(block[2]));
  }
  assert.match(first.stderr, /512\/512 tokens \(100%\)/, 'progress bar with the count');
  assert.match(first.stderr, /tokens\/s/);

  const second = lmedit(...args, '--json');
  assert.equal(second.code, 0, second.stderr);
  const entries = JSON.parse(second.stdout);
  assert.deepEqual(entries.map((e: any) => [e.module, e.source, e.count]), [
    ['transformer.h.2.mlp.c_proj', 'disk', 512], ['transformer.h.3.mlp.c_proj', 'disk', 512],
  ]);
  const text2 = lmedit(...args);
  assert.match(text2.stdout, /transformer\.h\.2\.mlp\.c_proj {2}cached {2}\(512 tokens\)/);
});

test('lmedit stats usage errors', () => {
  const noCorpus = lmedit('stats', '--model', FACTGPT, '--layers', '2');
  assert.equal(noCorpus.code, 2);
  assert.match(noCorpus.stderr, /--corpus is required/);
  const badLayer = lmedit('stats', '--model', FACTGPT, '--layers', '7', '--corpus', 'x.txt');
  assert.equal(badLayer.code, 2);
  assert.match(badLayer.stderr, /layer 7 does not exist \(the model has layers 0-5\)/);
  const badDtype = lmedit('stats', '--model', FACTGPT, '--layers', '2', '--corpus', 'x.txt', '--dtype', 'bfloat16');
  assert.equal(badDtype.code, 2);
  assert.match(badDtype.stderr, /--dtype must be float32 or float64/);
  const missing = lmedit('stats', '--model', FACTGPT, '--layers', '2', '--corpus', join(tmp.dir, 'none.txt'), '--cache-dir', join(tmp.dir, 'c'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /corpus .*none\.txt does not exist/);
});
