// Edit-conflict warnings (src/editor/conflicts.ts) on kbgpt with ROME and MEMIT (layer-0 statistics, the golden
// file): a second edit of the same subject reaches the first edit's key with about its whole change (and the first
// fact is measurably gone), an edit of another person does not; one MEMIT batch of both raises nothing; a GRACE codebook
// keeps both (its reach is 0 after the radii split); the warning names the earlier edit and the remedies; detection can
// be turned off; keys survive a checkpoint by values, so a resumed run warns as an uninterrupted one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Editor } from '../../src/editor/editor.js';
import { loadModel, nextTokenLogprobs, type CausalLM } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { readSafetensorsHeader } from '../../src/io/safetensors.js';
import { fromFile, keep, type Tensor } from '../../src/tensor/index.js';
import type { SecondMomentProvider } from '../../src/methods/types.js';
import { keysMemoryName } from '../../src/methods/footprint.js';
import { GOLDEN, KBGPT, REPO_ROOT } from '../data.js';

const MODULE = 'transformer.h.0.mlp.c_proj';
const FAST: Record<string, Record<string, unknown>> = {
  ROME: { v_num_grad_steps: 12, context_templates: ['{}'] },
  MEMIT: { v_num_grad_steps: 12, context_templates: ['{}'], context_template_length_params: null },
  GRACE: {},
  'T-PATCHER': {},
  WISE: {},
};
const BIRTH = { prompt: 'Roderick Zielinski was born in the city of', subject: 'Roderick Zielinski', targetNew: 'Prague', groundTruth: 'Warsaw', caseId: 0 };
const JOB = { prompt: 'The employer of Roderick Zielinski is', subject: 'Roderick Zielinski', targetNew: 'Amazon', groundTruth: 'Siemens', caseId: 1 };
const OTHER = { prompt: 'Helga Dunmore was born in the city of', subject: 'Helga Dunmore', targetNew: 'Tehran', caseId: 2 };

let model: CausalLM;
let tok: Tokenizer;
let mom2: Tensor;
let stats: SecondMomentProvider;
before(() => {
  model = loadModel(KBGPT);
  tok = loadTokenizer(KBGPT);
  const file = join(GOLDEN, 'kbgpt-layer0-mom2.safetensors');
  const h = readSafetensorsHeader(file);
  const e = h.tensors.get('mom2')!;
  mom2 = keep(fromFile(file, e.byteOffset, 'float32', e.shape));
  stats = { get: () => ({ mom2, count: Number(h.metadata.count), key: 'golden:kbgpt-layer0' }) };
});
after(() => { mom2.dispose(); model.dispose(); });

const editor = (method: string, extra: Record<string, unknown> = {}, log?: (m: string) => void) =>
  new Editor(model, tok, { method, hparams: join(REPO_ROOT, `hparams/${method}/kbgpt.yaml`), overrides: { ...FAST[method], ...extra }, stats, log });
/** log P(first token of target) after the prompt. */
function nextRow(prompt: string): number[] {
  const t = nextTokenLogprobs(model, [tok.encode(prompt)]);
  try { return (t.toArray() as number[][])[0]; } finally { t.dispose(); }
}
const logp = (prompt: string, target: string) => nextRow(prompt)[tok.encode(' ' + target)[0]];

describe('edit conflicts', () => {
  test('ROME: a second edit of the same subject reaches the first key; another person does not', () => {
    const logs: string[] = [];
    const ed = editor('ROME', {}, (m) => logs.push(m));
    try {
      const [first] = ed.edit(BIRTH);
      assert.deepEqual(first.conflicts, []);
      assert.deepEqual(first.edit.memory![keysMemoryName(MODULE)].shape, [1024, 1]);
      const edited = logp(BIRTH.prompt, 'Prague');
      const [other] = ed.edit(OTHER);
      const [job] = ed.edit(JOB);
      assert.equal(job.conflicts.length, 1, 'the same subject: one conflict');
      const c = job.conflicts[0];
      assert.equal(c.earlier.editId, first.id);
      assert.equal(c.earlier.caseId, 0);
      assert.equal(c.module, MODULE);
      assert.ok(c.reach > 0.5, `reach ${c.reach}`);
      // Helga's edit touched neither; the JOB edit's warning is logged once and names the remedy
      assert.ok(!job.conflicts.some((x) => x.earlier.editId === other.id));
      const warning = logs.find((m) => m.startsWith('warning: ROME'));
      assert.ok(warning?.includes(first.id) && warning.includes('Prague') && warning.includes('one batch'), warning);
      // and what it predicts happens: the birth city edit lost most of its effect
      assert.ok(logp(BIRTH.prompt, 'Prague') < edited - 1, `log P(Prague) ${edited} → ${logp(BIRTH.prompt, 'Prague')}`);
    } finally {
      ed.restore();
      ed.dispose();
    }
  });

  test('MEMIT: one batch of both raises nothing; the same edits one by one do', () => {
    const ed = editor('MEMIT');
    try {
      const [batch] = ed.edit([BIRTH, JOB]);
      assert.deepEqual(batch.conflicts, []);
      assert.deepEqual(batch.edit.memory![keysMemoryName(MODULE)].shape, [1024, 2]);
      ed.restore();
      ed.edit([BIRTH]);
      const [second] = ed.edit([JOB]);
      assert.equal(second.conflicts.length, 1);
      assert.ok(second.conflicts[0].reach > 0.5, `reach ${second.conflicts[0].reach}`);
    } finally {
      ed.restore();
      ed.dispose();
    }
  });

  test('GRACE keeps a per-key memory: no reach onto the earlier key, and both facts stay', () => {
    const ed = editor('GRACE', { n_iter: 40 });
    try {
      ed.edit(BIRTH);
      const [job] = ed.edit(JOB);
      assert.deepEqual(job.conflicts, []);
      const lp = nextRow(BIRTH.prompt);
      assert.equal(lp.indexOf(Math.max(...lp)), tok.encode(' Prague')[0]);
    } finally {
      ed.restore();
      ed.dispose();
    }
  });

  test('T-Patcher records its key; its neurons reach their own key fully and the other subject\'s key as they fire there', () => {
    const ed = editor('T-PATCHER');
    try {
      const [first] = ed.edit(BIRTH);
      const [second] = ed.edit(OTHER);
      const module = (first.edit.patches![0]).module;
      const k1 = first.edit.memory![keysMemoryName(module)];
      const k2 = second.edit.memory![keysMemoryName(module)];
      assert.deepEqual(k1.shape, [model.dims.hiddenSize, 1]);
      const patch = second.edit.patches![0];
      const [own] = patch.reach!(second.id, k2.t(), k2.t());
      assert.ok(Math.abs(own - 1) < 1e-5, `reach at its own key ${own}`);
      const [onFirst] = patch.reach!(second.id, k1.t(), k2.t());
      // the memory loss keeps a neuron quiet on other people's prompts: far below its own key's activation
      assert.ok(onFirst < 0.5, `reach on the other person's key ${onFirst}`);
      assert.equal(second.conflicts.length, onFirst >= 0.5 ? 1 : 0);
    } finally {
      ed.restore();
      ed.dispose();
    }
  });

  test('WISE records its key at the down-projection and measures how much an edit moved the side memory there', () => {
    const ed = editor('WISE');
    try {
      const [first] = ed.edit(BIRTH);
      const [second] = ed.edit(JOB);
      const patch = second.edit.patches![0];
      const k1 = first.edit.memory![keysMemoryName(patch.module)];
      const k2 = second.edit.memory![keysMemoryName(patch.module)];
      assert.deepEqual(k1.shape, [4 * model.dims.hiddenSize, 1]);
      const [own] = patch.reach!(second.id, k2.t(), k2.t());
      assert.ok(Math.abs(own - 1) < 1e-5, `reach at its own key ${own}`);
      const [onFirst] = patch.reach!(second.id, k1.t(), k2.t());
      assert.ok(Number.isFinite(onFirst) && onFirst >= 0, `reach on the first edit's key ${onFirst}`);
      assert.equal(second.conflicts.length, onFirst >= 0.5 ? 1 : 0, 'the record agrees with the reach');
    } finally {
      ed.restore();
      ed.dispose();
    }
  });

  test('detection can be switched off, and the threshold is respected', () => {
    const off = new Editor(model, tok, { method: 'ROME', hparams: join(REPO_ROOT, 'hparams/ROME/kbgpt.yaml'), overrides: FAST.ROME, stats, conflicts: { mode: 'off' } });
    try {
      off.edit(BIRTH);
      assert.deepEqual(off.edit(JOB)[0].conflicts, []);
    } finally {
      off.restore();
      off.dispose();
    }
    const strict = new Editor(model, tok, { method: 'ROME', hparams: join(REPO_ROOT, 'hparams/ROME/kbgpt.yaml'), overrides: FAST.ROME, stats, conflicts: { threshold: 1e6 } });
    try {
      strict.edit(BIRTH);
      assert.deepEqual(strict.edit(JOB)[0].conflicts, []);
    } finally {
      strict.restore();
      strict.dispose();
    }
  });

  test('a checkpoint by values keeps the keys: the resumed editor warns as the uninterrupted one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lmedit-conflicts-'));
    const a = editor('MEMIT');
    try {
      a.edit([OTHER]);
      a.edit([BIRTH]);
      a.saveState(join(dir, 'state.safetensors'), { weights: 'values' });
      a.restore();
    } finally {
      a.dispose();
    }
    const b = editor('MEMIT');
    try {
      b.loadState(join(dir, 'state.safetensors'));
      const [job] = b.edit([JOB]);
      assert.equal(job.conflicts.length, 1);
      assert.equal(job.conflicts[0].earlier.caseId, 0, 'the column of the merged record maps back to its request');
      assert.equal(job.conflicts[0].earlier.prompt, BIRTH.prompt);
    } finally {
      b.restore();
      b.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
