// Output locations: lmedit writes only into directories it made (marker file) or new/empty ones, and replaces an
// existing file or checkpoint directory only when asked and only when it is its own; never inside the source model.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  checkOutputDir, checkOutputFile, checkpointDirProblem, isInside, markerFile, prepareOutDir,
} from '../../src/io/out-dir.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lmedit-outdir-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const p = (...parts: string[]) => path.join(root, ...parts);

test('prepareOutDir: a new or empty directory gets the marker; a marked one is reused; anything else is refused', () => {
  const fresh = prepareOutDir(p('new', 'nested'), 'report');
  assert.equal(fresh.state, 'created');
  assert.deepEqual(fs.readdirSync(p('new', 'nested')), ['.lmedit-report']);
  assert.equal(JSON.parse(fs.readFileSync(fresh.marker, 'utf8')).kind, 'report');
  assert.equal(prepareOutDir(p('new', 'nested'), 'report').state, 'reused');

  fs.mkdirSync(p('empty'));
  assert.equal(prepareOutDir(p('empty'), 'run').state, 'empty');
  assert.ok(fs.existsSync(p('empty', markerFile('run'))));

  // The user's own directory: nothing is written, their file is untouched.
  fs.mkdirSync(p('mine'));
  fs.writeFileSync(p('mine', 'report.md'), '# my notes\n');
  assert.throws(() => prepareOutDir(p('mine'), 'report', { writes: ['report.md', 'report.json'] }),
    (e: Error) => e.message.startsWith(`--out ${p('mine')} is not empty (report.md) and was not made by lmedit (no .lmedit-report marker)`)
      && e.message.includes('which would overwrite your report.md'));
  assert.deepEqual(fs.readdirSync(p('mine')), ['report.md']);
  assert.equal(fs.readFileSync(p('mine', 'report.md'), 'utf8'), '# my notes\n');

  // Another kind's directory (an eval run) is not a report directory; a file is not a directory.
  assert.throws(() => prepareOutDir(p('empty'), 'report'), /is an lmedit run directory, not a report directory/);
  fs.writeFileSync(p('file.txt'), 'x');
  assert.throws(() => prepareOutDir(p('file.txt'), 'report', { flag: '--dir' }), /--dir .*file\.txt exists and is not a directory/);
  // A damaged marker is not trusted.
  fs.writeFileSync(p('new', 'nested', '.lmedit-report'), 'garbage');
  assert.throws(() => prepareOutDir(p('new', 'nested'), 'report'), /marker \.lmedit-report is damaged/);
  // An older lmedit's directory, recognised by the caller, is adopted (and marked).
  fs.mkdirSync(p('legacy'));
  fs.writeFileSync(p('legacy', 'summary.json'), '{}');
  assert.equal(prepareOutDir(p('legacy'), 'run', { legacy: (_d, entries) => entries.includes('summary.json') }).state, 'adopted');
  assert.equal(prepareOutDir(p('legacy'), 'run').state, 'reused');
  assert.throws(() => markerFile('Bad Kind'), /kind must be lower-case/);
});

test('checkOutputFile: existing files need overwrite (and to be ours); never inside the source model', () => {
  fs.mkdirSync(p('model'));
  fs.writeFileSync(p('model', 'model.safetensors'), 'weights');
  fs.symlinkSync(p('model'), p('model-link'));
  for (const target of [p('model', 'model.safetensors'), p('model', 'new.pack'), p('model-link', 'model.safetensors')]) {
    for (const overwrite of [false, true]) {
      assert.throws(() => checkOutputFile(target, { sourceDir: p('model'), overwrite, flag: '--delta' }),
        (e: Error) => e.message.startsWith(`--delta ${target}: refusing to write a file inside the source model's directory ${p('model')}`), target);
    }
  }
  assert.throws(() => checkOutputFile(p('model', 'x.pack'), { sourceDir: p('model-link') }), /inside the source model's directory/, 'the source given through a link');
  fs.writeFileSync(p('user.bin'), 'mine');
  assert.throws(() => checkOutputFile(p('user.bin'), { flag: '--delta' }), /--delta .*user\.bin already exists; pass --overwrite to replace it/);
  assert.throws(() => checkOutputFile(p('user.bin'), { overwrite: true, flag: '--delta', notOurs: () => 'is not an lmedit edit pack' }),
    /user\.bin is not an lmedit edit pack; refusing to replace it even with --overwrite/);
  checkOutputFile(p('user.bin'), { overwrite: true, notOurs: () => undefined });
  checkOutputFile(p('fresh.pack'), { sourceDir: p('model') });
  assert.throws(() => checkOutputFile(p('no-dir', 'x.pack'), { flag: '--delta' }), /--delta .*x\.pack: the directory .*no-dir does not exist/);
  assert.throws(() => checkOutputFile(p('model'), { flag: '--delta' }), /--delta .*model is a directory; --delta takes a file path/);
  assert.ok(isInside(p('model', 'a', 'b'), p('model')) && !isInside(p('model2'), p('model')));
});

test('checkOutputDir: a file is not a directory; a non-empty one needs overwrite and must be a saved model only', () => {
  fs.writeFileSync(p('a-file'), 'x');
  assert.throws(() => checkOutputDir(p('a-file'), { flag: '--save' }), /--save .*a-file exists and is a file, not a directory/);
  fs.mkdirSync(p('saved'));
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'lmedit_edits.json']) fs.writeFileSync(p('saved', f), '{}');
  assert.equal(checkpointDirProblem(p('saved')), undefined);
  assert.throws(() => checkOutputDir(p('saved'), { flag: '--save' }), /not empty; pass --overwrite to replace it/);
  checkOutputDir(p('saved'), { overwrite: true, notOurs: checkpointDirProblem });
  fs.writeFileSync(p('saved', 'notes.txt'), 'mine');
  assert.throws(() => checkOutputDir(p('saved'), { overwrite: true, flag: '--save', notOurs: checkpointDirProblem }),
    /--save .*saved holds files a saved model does not \(notes\.txt\); replacing the directory would delete everything in it/);
  assert.match(checkpointDirProblem(root)!, /is not a saved model/);
  assert.throws(() => checkOutputDir(p('model', 'out'), { sourceDir: p('model'), flag: '--save' }), /refusing to write a model inside the source model's directory/);
  fs.mkdirSync(p('empty-out'));
  checkOutputDir(p('empty-out'));
  checkOutputDir(p('not-yet'));
});
