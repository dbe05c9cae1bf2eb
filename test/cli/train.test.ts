// `lmedit train` end to end with a SCRIPTED FAKE trained method (test/train/scripted-linear-editor.ts, registered under
// the name SCRIPTED-FAKE-TRAINED; it fits a least-squares map, it edits nothing): records from kbgpt's kb.json for two
// person ranges, the editor directory (editor file with the base model's fingerprint, log, curves, summary); a rerun
// of the finished run changes nothing; refusals before any work: a method that does not train, overlapping ranges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { editRecordsFromCases, trainCommand } from '../../src/cli/commands/train.js';
import { loadCases } from '../../src/eval/datasets/index.js';
import { registerMethod } from '../../src/editor/methods.js';
import { TRAINING_FIELDS } from '../../src/methods/trained-hparams.js';
import { EDITOR_FILE, EDITOR_FORMAT } from '../../src/methods/trained.js';
import { readTensorFile } from '../../src/io/tensor-file.js';
import { modelFingerprint } from '../../src/stats/fingerprint.js';
import type { EditMethod } from '../../src/methods/types.js';
import { ScriptedLinearEditor } from '../train/scripted-linear-editor.js';
import { KBGPT } from '../data.js';

const fake: EditMethod = {
  name: 'SCRIPTED-FAKE-TRAINED', schema: { ...TRAINING_FIELDS }, batching: 'batch', check: () => {},
  open: () => { throw new Error('the scripted fake does not edit'); },
  trained: { name: 'SCRIPTED-FAKE-TRAINED', create: (_m, _h, ctx) => new ScriptedLinearEditor(ctx.seed) },
};
registerMethod(fake.name, fake);

test('lmedit train: kb records, the editor directory, curves; a rerun of a finished run changes nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lmedit-train-cli-'));
  try {
    const hp = join(dir, 'fake.yaml');
    writeFileSync(hp, 'alg_name: SCRIPTED-FAKE-TRAINED\nmax_iters: 30\nval_interval: 10\nlog_interval: 5\nbatch_size: 4\naccumulate_bs: 4\nval_steps: 8\n');
    const out = join(dir, 'ed');
    const args = ['--method', 'SCRIPTED-FAKE-TRAINED', '--model', KBGPT, '--kb', join(KBGPT, 'kb.json'), '--train-people', '200-209',
      '--val-people', '133-135', '--hparams', hp, '--out', out];
    await trainCommand(args);
    for (const f of [EDITOR_FILE, 'train-log.jsonl', 'checkpoint.safetensors', 'curves-loss.svg', 'curves-loss.png', 'curves-val.svg', 'summary.json']) {
      assert.ok(existsSync(join(out, f)), `${f} written`);
    }
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    assert.equal(summary.steps, 30);
    assert.equal(summary.trainRecords, 50);
    assert.equal(summary.valRecords, 8);
    const ed = readTensorFile(join(out, EDITOR_FILE), EDITOR_FORMAT);
    assert.equal((ed.manifest.base as { fingerprint: string }).fingerprint, modelFingerprint(KBGPT));
    const w = ed.tensors.get('w')!.toFlatArray();
    for (const t of ed.tensors.values()) t.dispose();
    await trainCommand(args);
    const again = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    assert.equal(again.stoppedBy, 'already_done');
    const ed2 = readTensorFile(join(out, EDITOR_FILE), EDITOR_FORMAT);
    assert.deepEqual(ed2.tensors.get('w')!.toFlatArray(), w);
    for (const t of ed2.tensors.values()) t.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lmedit train refuses a method that does not train, overlapping people, and missing data, before any work', async () => {
  const base = ['--model', KBGPT, '--out', join(tmpdir(), 'never-written')];
  await assert.rejects(trainCommand(['--method', 'ROME', '--kb', join(KBGPT, 'kb.json'), '--train-people', '200-209', '--val-people', '133-135', ...base]),
    /ROME is not a trained editor; methods that train: .*SCRIPTED-FAKE-TRAINED/);
  await assert.rejects(trainCommand(['--method', 'SCRIPTED-FAKE-TRAINED', '--kb', join(KBGPT, 'kb.json'), '--train-people', '100-209', '--val-people', '133-135', ...base]),
    /overlap: validation must be held out/);
  await assert.rejects(trainCommand(['--method', 'SCRIPTED-FAKE-TRAINED', ...base]), /--kb … or --data and --val-data are required/);
  assert.ok(!existsSync(join(tmpdir(), 'never-written')));
});

test('training records from a data file carry its paraphrases and locality probes (counterfact-mend)', () => {
  const file = join(KBGPT, '..', 'counterfact-mend', 'counterfact-val.json');
  const [r] = editRecordsFromCases(loadCases(file, { n: 1 }).cases);
  const raw = JSON.parse(readFileSync(file, 'utf8'))[0];
  assert.deepEqual(r.rephrasePrompts, [raw.rephrase_prompt]);
  assert.deepEqual(r.locality, { neighborhood: [{ prompt: raw.locality_prompt, groundTruth: raw.locality_ground_truth }] });
  assert.equal(r.targetNew, raw.target_new);
});
