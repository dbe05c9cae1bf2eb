// SERAC (src/methods/serac) on kbgpt: the scope classifier, after a short training on training persons, routes
// held-out queries of validation persons (templates the training never saw) to the right edit and leaves
// out-of-scope ones to the base model; the wrapper sends routed queries to the counterfactual model with the edit's
// text in front and the rest to the inner model unchanged; a few training steps lower the loss; the trained editor and
// an EditedModel's state save and load to identical outputs; rollback; clear errors.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, type CausalLM, type TextModel, type TextScoreRequest } from '../../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { Adam, tidy } from '../../src/tensor/index.js';
import { validateHparams } from '../../src/methods/hparams.js';
import { normalizeRequest, normalizeRequests, type NormalizedRequest } from '../../src/methods/request.js';
import { baseIdentity, saveTrainedEditor } from '../../src/methods/trained.js';
import { kbTrainingRequests } from '../../src/eval/datasets/kb-train.js';
import { Editor } from '../../src/editor/editor.js';
import { serac, openSeracEditor, SeracEditor, SeracWrapper, classifierPairs, counterfactualPrompt, hardNegatives, type SeracHparams } from '../../src/methods/serac/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { KBGPT } from '../data.js';

const KB = join(KBGPT, 'kb.json');
const hp = (over: Record<string, unknown> = {}) => validateHparams<SeracHparams>({ alg_name: 'SERAC', cntr_train_embeddings: false, lr: 5e-4, cls_lr: 1e-3, ...over }, serac.schema, 'test.yaml');

let model: CausalLM;
let tok: Tokenizer;
const dir = mkdtempSync(join(tmpdir(), 'lmedit-serac-'));
before(() => { model = loadModel(KBGPT); tok = loadTokenizer(KBGPT); });
after(() => { model.dispose(); rmSync(dir, { recursive: true, force: true }); });

function trainSteps(ed: SeracEditor, records: NormalizedRequest[], steps: number, batch: number, what: 'all' | 'cls' = 'all'): number[] {
  const opts = ed.groups().map((g) => new Adam([...g.params.values()], { lr: g.lr }));
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const b = Array.from({ length: batch }, (_, i) => records[(s * batch + i) % records.length]);
    losses.push(tidy(() => {
      const l = what === 'cls' ? ed.classifierLoss(b).loss : ed.loss(b).loss;
      l.backward();
      return l.item();
    }));
    for (const o of opts) { o.step(); o.zeroGrad(); }
  }
  opts.forEach((o) => o.dispose());
  return losses;
}

function save(ed: SeracEditor, h: SeracHparams, name: string): string {
  const out = join(dir, name);
  saveTrainedEditor(out, ed, { method: 'SERAC', hparams: h as unknown as Record<string, unknown>, base: baseIdentity(model), meta: {} });
  return out;
}

interface KbPerson { id: number; name: string; attributes: Record<string, string> }
const kb = JSON.parse(readFileSync(KB, 'utf8')) as { people: KbPerson[]; templates: Record<string, { template: string; held_out: boolean; held_out_set: string | null }[]> };
const RELATIONS = Object.keys(kb.templates);
const trainingTemplates = (rel: string) => kb.templates[rel].filter((t) => !t.held_out).map((t) => t.template);
/** The eval's rephrase templates (edits.json rephrase_prompt: the 'recombined' held-out set), never trained on. */
const heldOut = (rel: string) => kb.templates[rel].filter((t) => t.held_out_set === 'recombined').map((t) => t.template);

/** Edits of validation persons (133-199), one relation each, with held-out in-scope and out-of-scope queries. */
function validationProbes(n: number) {
  const people = kb.people.filter((p) => p.id >= 133 && p.id <= 199);
  return Array.from({ length: n }, (_, i) => {
    const p = people[i];
    const rel = RELATIONS[i % RELATIONS.length];
    const other = people[(i + 11) % people.length];
    const otherRel = RELATIONS[(i + 1) % RELATIONS.length];
    return {
      edit: normalizeRequest({ prompt: trainingTemplates(rel)[i % 6], subject: p.name, targetNew: 'Zurich' }, i),
      inScope: heldOut(rel).map((t) => t.replace('{}', p.name)),
      // another validation person's same relation, and the same person's other relation, both in held-out wording
      outScope: [heldOut(rel)[0].replace('{}', other.name), heldOut(otherRel)[1].replace('{}', p.name)],
    };
  });
}

describe('scope classifier: routing on held-out queries after a short training', () => {
  let ed: SeracEditor;
  const h = hp({ freeze_cntr: true });
  before(() => {
    ed = new SeracEditor(model, h, tok, 0);
    // 24 training persons (200-223), classifier loss only
    const train = normalizeRequests(kbTrainingRequests(KB, { people: [200, 223], seed: 0 }));
    const losses = trainSteps(ed, train, 40, 12, 'cls');
    assert.ok(losses.at(-1)! < losses[0], `classifier loss ${losses[0]} → ${losses.at(-1)}`);
  });
  after(() => ed.dispose());

  test('held-out rephrases of validation persons are in scope of their edit, other people and relations are not', (t) => {
    const probes = validationProbes(30);
    const w = new SeracWrapper(ed);
    // one edit in memory at a time (the single-edit evaluation)
    let inOk = 0; let inN = 0; let outOk = 0; let outN = 0;
    for (const p of probes) {
      w.add([p.edit], 'e');
      for (const r of w.route(p.inScope)) { inN++; if (r.routed) inOk++; }
      for (const r of w.route(p.outScope)) { outN++; if (!r.routed) outOk++; }
      w.removeEdit('e');
    }
    t.diagnostic(`in-scope routed ${inOk}/${inN}, out-of-scope kept ${outOk}/${outN}`);
    assert.ok(inOk / inN >= 0.8, `in-scope routed ${inOk}/${inN}`);
    assert.ok(outOk / outN >= 0.9, `out-of-scope kept ${outOk}/${outN}`);
  });

  test('with many edits in memory, a held-out query picks its own edit', (t) => {
    const probes = validationProbes(20);
    const w = new SeracWrapper(ed);
    probes.forEach((p, i) => w.add([p.edit], `e${i}`));
    let right = 0;
    probes.forEach((p, i) => { const r = w.route([p.inScope[0]])[0]; if (r.routed && r.entry === i) right++; });
    t.diagnostic(`${right}/20 routed to their own edit`);
    assert.ok(right >= 15, `${right}/20 routed to their own edit`);
    const q = w.route(['The capital of France is'])[0];
    assert.equal(q.routed, false, `an unrelated prompt scores ${q.score}`);
  });

  test('the wrapper: routed queries go to the counterfactual model with the edit in front, the rest to the inner model unchanged', () => {
    const p = validationProbes(1)[0];
    const w = new SeracWrapper(ed);
    const seen: TextScoreRequest[] = [];
    const inner: TextModel = { tokenizer: tok, maxPositions: 128, score: (rs) => rs.map((r) => { seen.push(r); return { logprobs: [0], sum: 0, mean: 0, argmax: [0], ids: [0] }; }), generate: (ps) => ps.map(() => ({ ids: [], text: '' })) };
    const reqs = [{ prompt: p.inScope[0], continuation: ' Zurich' }, { prompt: p.outScope[0], continuation: ' Zurich' }];
    w.score(inner, reqs);
    assert.deepEqual(seen, reqs, 'an empty memory passes everything through');
    seen.length = 0;
    w.add([p.edit], 'e1');
    const got = w.score(inner, reqs);
    assert.deepEqual(seen, [reqs[1]], 'only the out-of-scope query reaches the inner model');
    assert.equal(w.contextFor(p.inScope[0], 0), `${p.edit.text} Zurich ${p.inScope[0]}`);
    assert.equal(counterfactualPrompt({ prompt: 'A was born in', targetNew: ' Oslo' }, 'A is from', ' '), 'A was born in Oslo A is from');
    assert.notEqual(got[0].sum, 0, 'the routed query was scored by the counterfactual model');
  });
});

describe('training', () => {
  test('classifier pairs: rephrases positive for their own edit, locality and other records negative', () => {
    const rs = normalizeRequests(kbTrainingRequests(KB, { people: [200, 201], seed: 0 })).slice(0, 2);
    const { queries, pos, neg } = classifierPairs(rs, false);
    assert.deepEqual(pos.map((p) => [queries[p.query], p.edit]), [[rs[0].rephrasePrompts![0], 0], [rs[0].rephrasePrompts![1], 0], [rs[1].rephrasePrompts![0], 1], [rs[1].rephrasePrompts![1], 1]]);
    assert.ok(neg.some((p) => queries[p.query] === rs[0].rephrasePrompts![0] && p.edit === 1));
    assert.ok(neg.some((p) => queries[p.query] === rs[0].locality!.other_attribute[0].prompt && p.edit === 0));
    assert.equal(classifierPairs(rs, true).neg.length, neg.length + 2 * 2, 'use_all_negatives: each locality probe against every edit');
  });

  test('hard negatives: other subjects written in the record\'s own template, drawn from the pool', () => {
    const pool = normalizeRequests(kbTrainingRequests(KB, { people: [200, 239], seed: 0 }));
    const batch = pool.slice(0, 3);
    const hard = hardNegatives(batch, pool, 2, mulberry32(0));
    assert.equal(hard.length, 3);
    batch.forEach((r, i) => {
      assert.equal(hard[i].length, 2);
      for (const q of hard[i]) {
        const o = pool.find((x) => x.text === q)!;
        assert.equal(o.template, r.template);
        assert.notEqual(o.subject, r.subject);
      }
    });
    const plain = classifierPairs(batch, false);
    assert.equal(classifierPairs(batch, false, hard).neg.length, plain.neg.length + 6);
    assert.deepEqual(hardNegatives(batch, pool, 0, mulberry32(0)), []);
  });

  test('a few steps lower the loss (classifier BCE + counterfactual NLL)', () => {
    const ed = new SeracEditor(model, hp(), tok, 0);
    try {
      const rs = normalizeRequests(kbTrainingRequests(KB, { people: [300, 301], seed: 0 })).slice(0, 4);
      const losses = trainSteps(ed, rs, 4, 4);
      assert.ok(losses[3] < losses[0], `loss ${losses.join(' → ')}`);
      assert.deepEqual(ed.groups().map((g) => g.name), ['classifier', 'counterfactual']);
      assert.ok(![...ed.groups()[1].params.keys()].some((n) => n.includes('wte')), 'frozen token embeddings are not trained');
    } finally {
      ed.dispose();
    }
  });
});

describe('saved editors and edited models', () => {
  let h: SeracHparams;
  let archive: string;
  let trained: SeracEditor;
  const A = normalizeRequest({ prompt: '{} was born in', subject: 'Lucian Northcott', targetNew: 'Zurich' }, 0);
  const probes = ["Lucian Northcott's birthplace is", 'The employer of Lucian Northcott is', 'Margot Westbrook was born in'];
  before(() => {
    h = hp();
    const ed = new SeracEditor(model, h, tok, 3);
    trainSteps(ed, normalizeRequests(kbTrainingRequests(KB, { people: [200, 201], seed: 0 })), 2, 4);
    archive = save(ed, h, 'editor');
    trained = ed; // the saved editor itself, compared with its reloaded copy (a retrained twin may differ by an ulp)
  });
  after(() => trained.dispose());

  test('save editor → load: identical routing and counterfactual scores', () => {
    const ed = trained;
    const loaded = openSeracEditor(model, { ...h, archive }, tok);
    try {
      const a = new SeracWrapper(ed, []);
      const b = new SeracWrapper(loaded, []);
      a.add([A], 'x');
      b.add([A], 'x');
      assert.deepEqual(b.route(probes), a.route(probes));
      const req = [{ prompt: a.contextFor(probes[0], 0), continuation: ' Zurich' }];
      assert.deepEqual(
        (b as unknown as { cntrText: TextModel }).cntrText.score(req),
        (a as unknown as { cntrText: TextModel }).cntrText.score(req),
      );
    } finally {
      loaded.dispose();
    }
  });

  test('EditedModel: batch edit, rollback of one edit, saveState → loadState gives identical outputs', () => {
    const options = { method: 'SERAC', hparams: { ...h, archive } as Record<string, unknown> };
    const B = normalizeRequest({ prompt: '{} works for', subject: 'Margot Westbrook', targetNew: 'Tesla' }, 1);
    const C = normalizeRequest({ prompt: '{} plays the', subject: 'Clarissa Hawthorne', targetNew: 'harp' }, 2);
    const reqs = [A.text, ...probes, C.text].map((p) => ({ prompt: p, continuation: ' Zurich' }));
    const plain = new Editor(model, tok, options);
    const base = plain.edited.score(reqs);
    const ed = new Editor(model, tok, options);
    const [first] = ed.edit([A, B]); // one edit, two entries
    const [second] = ed.edit(C);
    const w = ed.edited.inferenceWrappers()[0] as SeracWrapper;
    assert.equal(w.memory().length, 3);
    assert.deepEqual(w.editIds(), [first.id, second.id]);
    ed.rollback(second.id);
    assert.deepEqual(w.editIds(), [first.id]);
    assert.ok(w.route([C.text]).every((r) => r.entry < 2), 'the rolled-back entry is gone');
    const ref = ed.edited.score(reqs);
    assert.notDeepEqual(ref[0], base[0], 'the edit prompt itself is routed to the counterfactual model');
    ed.saveState(join(dir, 'serac.state'));
    ed.restore();
    assert.deepEqual(ed.edited.score(reqs), base, 'restore: the unedited model');
    const ed2 = new Editor(model, tok, options);
    ed2.loadState(join(dir, 'serac.state'));
    assert.deepEqual(ed2.edited.score(reqs), ref, 'loaded: identical outputs');
    ed2.edit(C);
    assert.equal((ed2.edited.inferenceWrappers()[0] as SeracWrapper).memory().length, 3, 'the loaded memory keeps growing');
    ed2.restore();
  });

  test('clear errors: no archive, an editor of another base model, other hparams', () => {
    assert.throws(() => openSeracEditor(model, hp(), tok), /no trained editor given/);
    assert.throws(() => openSeracEditor(model, hp({ archive: join(dir, 'nope') }), tok), /does not exist/);
    const ed = new SeracEditor(model, h, tok, 0);
    const other = join(dir, 'other-base');
    saveTrainedEditor(other, ed, { method: 'SERAC', hparams: h as unknown as Record<string, unknown>, base: { ...baseIdentity(model), fingerprint: 'f00d' }, meta: {} });
    ed.dispose();
    assert.throws(() => openSeracEditor(model, { ...h, archive: other }, tok), /trained for another base model/);
    assert.throws(() => openSeracEditor(model, { ...h, archive, cls_pool: 'last' }, tok), /cls_pool|shape/);
    assert.throws(() => openSeracEditor(model, { ...h, archive, cls_dim: 64 }, tok), /cls_dim|shape/);
    assert.throws(() => serac.check(model, hp({ cross_attend: true }), 'x.yaml'), /x\.yaml: cross_attend/);
    assert.throws(() => serac.check(model, hp({ cls_layer: 6 }), 'x.yaml'), /cls_layer/);
    assert.throws(() => serac.loadWrapper!({ tensors: {}, meta: { format: 'lmedit-ike' } }, model, { ...h, archive }), /not a SERAC wrapper state/);
  });
});
