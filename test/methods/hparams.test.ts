// hparams that parse but mean nothing are refused, naming the file and the field: values below a field's minimum
// (num_steps: -5 made no edit and said nothing), an empty file (was a JavaScript TypeError), an alg_name for another
// method (was ignored). Every shipped file still validates.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkAlgName, readHparamsFile, validateHparams, type Schema } from '../../src/methods/hparams.js';
import { methodFor } from '../../src/editor/methods.js';
import { REPO_ROOT } from '../data.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmedit-hparams-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const HPARAMS = path.join(REPO_ROOT, 'hparams');
/** The schema of a method by its hparams directory name (= its registry name). */
const schemaOf = (method: string): Schema => methodFor(method).method.schema;

/** A shipped kbgpt file with some lines replaced, written to the temp dir. */
function variant(method: string, name: string, edit: (text: string) => string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, edit(fs.readFileSync(path.join(HPARAMS, method, 'kbgpt.yaml'), 'utf8')));
  return file;
}

function validate(method: string, file: string): unknown {
  const { raw, file: f } = readHparamsFile(file);
  checkAlgName(raw, method, f);
  return validateHparams(raw, schemaOf(method), f);
}

test('every shipped hparams file validates and names its own method', () => {
  const methods = fs.readdirSync(HPARAMS);
  for (const m of ['ROME', 'MEMIT', 'EMMET', 'ALPHAEDIT', 'PMET', 'KN', 'FT-L', 'FT-M', 'GRACE', 'IKE', 'CALINET', 'T-PATCHER', 'WISE', 'MEND', 'SERAC', 'KE', 'MEMPROMPT', 'MELLO']) assert.ok(methods.includes(m), `hparams/${m}`);
  for (const method of methods) {
    for (const name of fs.readdirSync(path.join(HPARAMS, method))) validate(method, path.join(HPARAMS, method, name));
  }
});

test('an empty file, or one that is not a mapping, is an error naming the file', () => {
  const empty = path.join(dir, 'empty.yaml');
  fs.writeFileSync(empty, '');
  assert.throws(() => readHparamsFile(empty), (e: Error) => e.message === `${empty}: the hparams file is empty (expected a mapping of field: value, e.g. hparams/ROME/kbgpt.yaml)`);
  const comments = path.join(dir, 'comments.yaml');
  fs.writeFileSync(comments, '# only a comment\n');
  assert.throws(() => readHparamsFile(comments), /comments\.yaml: the hparams file is empty/);
  const list = path.join(dir, 'list.yaml');
  fs.writeFileSync(list, '- layers\n- 3\n');
  assert.throws(() => readHparamsFile(list), /list\.yaml: hparams must be a mapping of field: value, got a list/);
  const scalar = path.join(dir, 'scalar.yaml');
  fs.writeFileSync(scalar, 'ROME\n');
  assert.throws(() => readHparamsFile(scalar), /scalar\.yaml: hparams must be a mapping of field: value, got the string "ROME"/);
});

test('values below a field\'s minimum name the file and the field', () => {
  const cases: [string, string, RegExp][] = [
    ['ROME', 'v_num_grad_steps: 0', /field 'v_num_grad_steps' must be >= 1, got 0/],
    ['ROME', 'v_lr: 0', /field 'v_lr' must be > 0, got 0/],
    ['ROME', 'kl_factor: -1', /field 'kl_factor' must be >= 0, got -1/],
    ['ROME', 'v_loss_layer: -2', /field 'v_loss_layer' must be >= -1, got -2 \(-1 = the last layer\)/],
    ['ROME', 'layers: [-1]', /field 'layers' every element must be >= 0, got \[-1\]/],
    ['ROME', 'layers: []', /field 'layers' must list at least 1 element, got \[\]/],
    ['ROME', 'mom2_n_samples: -10', /field 'mom2_n_samples' must be >= 0, got -10/],
    ['MEMIT', 'mom2_update_weight: -5', /field 'mom2_update_weight' must be >= 0, got -5/],
    ['FT-M', 'batch_size: 0', /field 'batch_size' must be >= 1, got 0/],
  ];
  for (const [method, line, expected] of cases) {
    const field = line.split(':')[0];
    const file = variant(method, `${method}-${field}.yaml`, (t) => (new RegExp(`^${field}:.*$`, 'm').test(t) ? t.replace(new RegExp(`^${field}:.*$`, 'm'), line) : `${t}\n${line}\n`));
    assert.throws(() => validate(method, file), (e: Error) => e.message.startsWith(`${file}: `) && expected.test(e.message), `${method} ${line}`);
  }
});

test('FT num_steps: -5 (no edit, no warning before) is refused', () => {
  const file = variant('FT-M', 'ft-negative.yaml', (t) => t.replace(/^num_steps:.*$/m, 'num_steps: -5'));
  assert.throws(() => validate('FT-M', file), (e: Error) => e.message === `${file}: field 'num_steps' must be >= 1, got -5`);
});

test('alg_name must be the method being run (variants accepted); FT-L/FT-M objectives must agree', () => {
  const memitForRome = variant('ROME', 'memit-for-rome.yaml', (t) => t.replace(/^alg_name:.*$/m, 'alg_name: "MEMIT"'));
  assert.throws(() => validate('ROME', memitForRome), (e: Error) => e.message ===
    `${memitForRome}: alg_name 'MEMIT' says these hparams are for MEMIT, but the method is ROME (ROME accepts alg_name ROME): pass --method MEMIT, or the ROME hparams file`);
  const src = 'x.yaml';
  // R-ROME is ROME with random-prefix keys: a ROME file runs as R-ROME; an R-ROME file is not plain ROME.
  checkAlgName({ alg_name: 'ROME' }, 'R-ROME', src);
  checkAlgName({ alg_name: 'r_rome' }, 'R-ROME', src);
  assert.throws(() => checkAlgName({ alg_name: 'R-ROME' }, 'ROME', src), /x\.yaml: alg_name 'R-ROME' .* the method is ROME/);
  // EasyEdit's FT files say FT and choose the objective.
  for (const m of ['FT', 'FT-L', 'FT-M']) checkAlgName({ alg_name: 'FT' }, m, src);
  checkAlgName({ alg_name: 'ft-m', objective_optimization: 'target_new' }, 'FT-M', src);
  assert.throws(() => checkAlgName({ alg_name: 'FT-M' }, 'FT-L', src), /alg_name 'FT-M' says these hparams are for FT-M, but the method is FT-L \(FT-L accepts alg_name FT-L or FT\)/);
  assert.throws(() => checkAlgName({ alg_name: 'FT', objective_optimization: 'target_new' }, 'FT-L', src),
    /x\.yaml: objective_optimization 'target_new' contradicts the method FT-L \(which is objective_optimization prompt_last\): pass --method FT-M/);
  // No alg_name, or an empty one, says nothing; a method registered later accepts its own name.
  checkAlgName({}, 'MEMIT', src);
  checkAlgName({ alg_name: '' }, 'MEMIT', src);
  checkAlgName({ alg_name: 'GRACE' }, 'grace', src);
  assert.throws(() => checkAlgName({ alg_name: 'ROME' }, 'GRACE', src), /the method is GRACE \(GRACE accepts alg_name GRACE\)/);
  assert.throws(() => checkAlgName({ alg_name: 3 }, 'ROME', src), /field 'alg_name' must be string, got 3/);
});
