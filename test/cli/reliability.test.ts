// The CLI probed with bad inputs, on real files in temporary directories (kbgpt where a model is needed). Each case
// reproduces a failure that used to exit 0 with a wrong result or lose data; now it is a clear error naming the
// file, field or tensor, and nothing the user owns is overwritten.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { readSafetensorsHeader, readTensorBytes, writeSafetensors, type TensorToWrite } from '../../src/io/safetensors.js';
import { FT_SCHEMA } from '../../src/methods/ft/index.js';
import { KBGPT, REPO_ROOT } from '../data.js';

const tmp = fs.mkdtempSync(join(os.tmpdir(), 'lmedit-cli-reliability-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ENV = { ...process.env, LMEDIT_CACHE: join(tmp, 'cache'), LMEDIT_NUM_THREADS: '1', LMEDIT_CORPUS: '' };

function lmedit(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], { encoding: 'utf8', cwd: REPO_ROOT, env: ENV });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const SIDE_FILES = ['config.json', 'tokenizer.json', 'vocab.json', 'merges.txt'];

/** A model directory whose files are links to kbgpt's (writing into it would replace a link, never kbgpt's file). */
function linkedKbgpt(name: string): string {
  const dir = join(tmp, name);
  fs.mkdirSync(dir);
  for (const f of [...SIDE_FILES, 'model.safetensors']) fs.symlinkSync(join(KBGPT, f), join(dir, f));
  return dir;
}

const REQUEST = ['--prompt', 'Roderick Zielinski was born in the city of', '--subject', 'Roderick Zielinski', '--target', 'Prague'];
/** A quick FT-M edit (one step): enough to produce a real pack or checkpoint. */
const QUICK_FT = ['--method', 'FT-M', '--hparams', join(REPO_ROOT, 'hparams/FT-M/kbgpt.yaml'), '--set', 'num_steps=1', ...REQUEST];

describe('lmedit edit / apply: outputs never overwrite what the user did not ask to replace', () => {
  let model: string;
  before(() => { model = linkedKbgpt('kb'); });

  test('--delta into the source model directory (its model.safetensors) is refused, with or without --overwrite', () => {
    // Before: the 70 MB model.safetensors was replaced by a 6.7 KB edit pack, exit 0.
    for (const extra of [[], ['--overwrite']]) {
      const r = lmedit('edit', '--model', model, ...QUICK_FT, '--delta', join(model, 'model.safetensors'), ...extra);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`--delta ${join(model, 'model.safetensors')}: refusing to write a file inside the source model's directory ${model}`));
      assert.ok(fs.lstatSync(join(model, 'model.safetensors')).isSymbolicLink(), 'the model file is untouched');
    }
    const inside = lmedit('edit', '--model', model, ...QUICK_FT, '--save', join(model, 'edited'));
    assert.equal(inside.code, 2);
    assert.match(inside.stderr, /--save .*kb\/edited: refusing to write a model inside the source model's directory/);
    assert.deepEqual(fs.readdirSync(model).sort(), [...SIDE_FILES, 'model.safetensors'].sort());
  });

  test('an existing --delta file needs --overwrite, and only an lmedit edit pack is replaced', () => {
    const notes = join(tmp, 'notes.safetensors');
    fs.writeFileSync(notes, 'my own file');
    const r = lmedit('edit', '--model', model, ...QUICK_FT, '--delta', notes);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--delta .*notes\.safetensors already exists; pass --overwrite to replace it/);
    const forced = lmedit('edit', '--model', model, ...QUICK_FT, '--delta', notes, '--overwrite');
    assert.equal(forced.code, 2);
    assert.match(forced.stderr, /notes\.safetensors is not an lmedit edit pack \(not even a safetensors file\); refusing to replace it even with --overwrite/);
    assert.equal(fs.readFileSync(notes, 'utf8'), 'my own file');

    const pack = join(tmp, 'edit.pack');
    const first = lmedit('edit', '--model', model, ...QUICK_FT, '--delta', pack);
    assert.equal(first.code, 0, first.stderr);
    const again = lmedit('edit', '--model', model, ...QUICK_FT, '--delta', pack);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /edit\.pack already exists; pass --overwrite/);
    const replaced = lmedit('edit', '--model', model, ...QUICK_FT, '--delta', pack, '--overwrite');
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.ok(readSafetensorsHeader(pack).metadata.format?.startsWith('lmedit'));
  });

  test('--save onto a file is a clear error (was a raw ENOTDIR); a non-empty directory needs --overwrite and must be a saved model', () => {
    const file = join(tmp, 'a-file.txt');
    fs.writeFileSync(file, 'x');
    const onFile = lmedit('edit', '--model', model, ...QUICK_FT, '--save', file);
    assert.equal(onFile.code, 2);
    assert.match(onFile.stderr, /--save .*a-file\.txt exists and is a file, not a directory; --save takes a directory/);
    assert.doesNotMatch(onFile.stderr, /ENOTDIR|overwrite: true|overwriteSource/);

    const mine = join(tmp, 'my-dir');
    fs.mkdirSync(mine);
    fs.writeFileSync(join(mine, 'thesis.tex'), 'mine');
    for (const extra of [[], ['--overwrite']]) {
      const r = lmedit('edit', '--model', model, ...QUICK_FT, '--save', mine, ...extra);
      assert.equal(r.code, 2);
      assert.match(r.stderr, extra.length ? /my-dir is not a saved model .*refuses even with --overwrite/ : /my-dir exists and is not empty; pass --overwrite/);
    }
    assert.deepEqual(fs.readdirSync(mine), ['thesis.tex']);

    const out = join(tmp, 'saved');
    assert.equal(lmedit('edit', '--model', model, ...QUICK_FT, '--save', out).code, 0);
    const again = lmedit('edit', '--model', model, ...QUICK_FT, '--save', out);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /saved exists and is not empty; pass --overwrite to replace it/);
    assert.equal(lmedit('edit', '--model', model, ...QUICK_FT, '--save', out, '--overwrite').code, 0, 'a saved model is replaced when asked');
  });

  test('apply without --save (reported success, wrote nothing) is a usage error; apply --save writes the model', () => {
    const pack = join(tmp, 'apply.pack');
    assert.equal(lmedit('edit', '--model', model, ...QUICK_FT, '--delta', pack).code, 0);
    const r = lmedit('apply', pack, '--model', model);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--save <out dir> is required: apply writes the edited model there/);
    assert.doesNotMatch(r.stdout, /applied/);
    const out = join(tmp, 'applied');
    const ok = lmedit('apply', pack, '--model', model, '--save', out);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /saved the edited model to/);
    assert.ok(fs.existsSync(join(out, 'model.safetensors')));
    const insideSource = lmedit('apply', pack, '--model', model, '--save', model, '--overwrite');
    assert.equal(insideSource.code, 2);
    assert.match(insideSource.stderr, /refusing to write a model inside the source model's directory/);
  });
});

describe('lmedit edit near the context limit', () => {
  test('a prompt that fits but leaves fewer than 8 positions generates as far as the context allows (was "129 tokens exceeds 128")', () => {
    const filler = 'and then '.repeat(58);
    const r = lmedit('edit', '--model', KBGPT, '--method', 'FT-M', '--hparams', join(REPO_ROOT, 'hparams/FT-M/kbgpt.yaml'), '--set', 'num_steps=1',
      '--prompt', `${filler}Roderick Zielinski was born in the city of`, '--subject', 'Roderick Zielinski', '--target', 'Prague', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(typeof out.answerBefore, 'string');
  });
});

describe('lmedit report --out: only new, empty or lmedit-made directories', () => {
  const run = join(tmp, 'runs', 'r1');
  before(() => {
    fs.mkdirSync(run, { recursive: true });
    fs.writeFileSync(join(run, 'summary.json'), JSON.stringify({
      lmedit: { version: '0.1.0' },
      run: { name: 'r1', startedAt: '2024-01-01T00:00:00Z', finishedAt: '2024-01-01T01:00:00Z', complete: true, casesDone: 2, casesTotal: 2 },
      model: { dir: KBGPT, name: 'kbgpt', fingerprint: 'abc' }, data: { file: 'edits.json', format: 'flat', n: 2, offset: 0, seed: null, known: true },
      method: 'ROME', hparamsFile: 'hparams/ROME/kbgpt.yaml', hparams: {}, statsKeys: [], seed: 0,
      setting: { mode: 'single', batchSize: 1, measureWhen: 'each' },
      metrics: { 'rome-counterfact-prob': { pre: { n: 2, ES: 0, PS: 0, NS: 99, S: 0 }, post: { n: 2, ES: 90, PS: 80, NS: 85, S: 84 } } },
      efficiency: { secondsPerEdit: 3 },
    }));
  });

  test('a directory holding the user\'s own report.md is refused and left as it was', () => {
    // Before: report.md was replaced by the report, exit 0.
    const mine = join(tmp, 'my-docs');
    fs.mkdirSync(mine);
    fs.writeFileSync(join(mine, 'report.md'), '# my notes\n');
    const r = lmedit('report', run, '--out', mine, '--no-plots');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--out .*my-docs is not empty \(report\.md\) and was not made by lmedit \(no \.lmedit-report marker\).*would overwrite your report\.md/);
    assert.deepEqual(fs.readdirSync(mine), ['report.md']);
    assert.equal(fs.readFileSync(join(mine, 'report.md'), 'utf8'), '# my notes\n');
  });

  test('a new directory is marked and can be written again; an eval run directory is not a report directory', () => {
    const out = join(tmp, 'report-out');
    assert.equal(lmedit('report', run, '--out', out, '--no-plots').code, 0);
    assert.ok(fs.existsSync(join(out, '.lmedit-report')));
    const again = lmedit('report', run, '--out', out, '--no-plots');
    assert.equal(again.code, 0, again.stderr);
    const evalRun = join(tmp, 'eval-run');
    fs.mkdirSync(evalRun);
    fs.writeFileSync(join(evalRun, '.lmedit-run'), JSON.stringify({ kind: 'run' }));
    fs.writeFileSync(join(evalRun, 'cases.jsonl'), '');
    const intoRun = lmedit('report', run, '--out', evalRun, '--no-plots');
    assert.notEqual(intoRun.code, 0);
    assert.match(intoRun.stderr, /eval-run is an lmedit run directory, not a report directory/);
    assert.deepEqual(fs.readdirSync(evalRun).sort(), ['.lmedit-run', 'cases.jsonl']);
  });

  test('a report directory written before the marker (docs/results) is still recognised', () => {
    const legacy = join(tmp, 'legacy-report');
    fs.cpSync(join(REPO_ROOT, 'docs/results/kbgpt'), legacy, { recursive: true });
    const r = lmedit('report', run, '--out', legacy, '--no-plots');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(join(legacy, '.lmedit-report')));
  });
});

describe('bad weights, statistics and hparams are named', () => {
  test('NaN weights: refused at load naming the tensor and the file (was a multinomial-sampling error)', () => {
    const dir = join(tmp, 'kb-nan');
    fs.mkdirSync(dir);
    for (const f of SIDE_FILES) fs.symlinkSync(join(KBGPT, f), join(dir, f));
    const header = readSafetensorsHeader(join(KBGPT, 'model.safetensors'));
    const bad = 'transformer.h.2.attn.c_attn.weight';
    const tensors: TensorToWrite[] = [...header.tensors.values()].map((e) => ({
      name: e.name, dtype: e.dtype, shape: e.shape,
      data: () => {
        const bytes = readTensorBytes(e);
        if (e.name === bad) bytes.writeFloatLE(Number.NaN, 4 * 100);
        return bytes;
      },
    }));
    writeSafetensors(join(dir, 'model.safetensors'), tensors, header.metadata);
    const r = lmedit('edit', '--model', dir, '--hparams', join(REPO_ROOT, 'hparams/ROME/kbgpt.yaml'), ...REQUEST);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`${join(dir, 'model.safetensors')}: tensor '${bad}' (a model weight): 1 of 196608 values are not finite (1 NaN; the first, NaN, at [0, 100])`), r.stderr);
  });

  test('C from a 4-token corpus is refused (was ‖C⁻¹k‖ = 5.9e9, success, exit 0)', () => {
    const model = linkedKbgpt('kb-stats');
    const corpus = join(tmp, 'four-tokens.txt');
    fs.writeFileSync(corpus, 'The cat sat.');
    const r = lmedit('edit', '--model', model, '--hparams', join(REPO_ROOT, 'hparams/ROME/kbgpt.yaml'), ...REQUEST, '--corpus', corpus, '--set', 'v_num_grad_steps=1');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /C of transformer\.h\.0\.mlp\.c_proj over .*four-tokens\.txt \(1 chunk\): averaged over 4 tokens, fewer than the 1024 features of a key: C is singular/);
    const stats = lmedit('stats', '--model', model, '--layers', '0', '--corpus', corpus, '--samples', '2312');
    assert.equal(stats.code, 0, 'lmedit stats stores it, with a warning');
    assert.match(stats.stdout, /__n1__c128__float32\n/, 'named by what it holds (1 chunk), not by a budget');
    assert.match(stats.stdout, /WARNING: averaged over 4 tokens, .*ROME and MEMIT refuse these statistics/);
    const cached = lmedit('edit', '--model', model, '--hparams', join(REPO_ROOT, 'hparams/ROME/kbgpt.yaml'), ...REQUEST, '--corpus', corpus, '--samples', '1');
    assert.equal(cached.code, 1);
    assert.match(cached.stderr, /__n1__c128__float32\.safetensors \(C of transformer\.h\.0\.mlp\.c_proj\): averaged over 4 tokens.*delete the file/);
  });

  test('an empty hparams file (was a TypeError) and an alg_name for another method (was ignored) name the file', () => {
    const model = linkedKbgpt('kb-hparams');
    const empty = join(tmp, 'empty.yaml');
    fs.writeFileSync(empty, '');
    const r = lmedit('edit', '--model', model, '--hparams', empty, ...REQUEST);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /empty\.yaml: the hparams file is empty/);
    assert.doesNotMatch(r.stderr, /Cannot read properties/);
    const memit = join(tmp, 'memit-for-rome.yaml');
    fs.writeFileSync(memit, fs.readFileSync(join(REPO_ROOT, 'hparams/ROME/kbgpt.yaml'), 'utf8').replace(/^alg_name:.*$/m, 'alg_name: "MEMIT"'));
    const wrong = lmedit('edit', '--model', model, '--hparams', memit, ...REQUEST);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /memit-for-rome\.yaml: alg_name 'MEMIT' says these hparams are for MEMIT, but the method is ROME/);
  });

  test('FT num_steps: -5 (was no edit, no warning, exit 0) names the file and field',
    { todo: FT_SCHEMA.num_steps.min === undefined ? 'FT_SCHEMA (src/methods/ft/index.ts) needs num_steps min: 1' : false }, () => {
      const model = linkedKbgpt('kb-ft');
      const r = lmedit('edit', '--model', model, ...QUICK_FT, '--set', 'num_steps=-5');
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, /FT-M\/kbgpt\.yaml with num_steps=-5: field 'num_steps' must be >= 1, got -5/);
    });
});
