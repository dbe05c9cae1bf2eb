// Training records for trained editors from kbgpt's kb.json (src/eval/datasets/kb-train.ts): seeded, only the
// requested people, training templates only (the evaluation's held-out rephrase templates never appear), a new
// target that differs from the truth, locality from another person and another attribute; errors name the option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kbTrainingRequests, parsePeopleRange } from '../../src/eval/datasets/kb-train.js';
import { KBGPT } from '../data.js';

const KB = join(KBGPT, 'kb.json');
const kb = JSON.parse(readFileSync(KB, 'utf8'));

test('kb-train: the requested people only, training templates only, a changed target, locality elsewhere', () => {
  const recs = kbTrainingRequests(KB, { people: [200, 219], seed: 3 });
  const names = new Set(kb.people.filter((p: any) => p.id >= 200 && p.id <= 219).map((p: any) => p.name));
  assert.equal(recs.length, 20 * Object.keys(kb.templates).length);
  const heldOut = Object.values(kb.templates).flatMap((ts: any) => ts.filter((t: any) => t.held_out).map((t: any) => t.template));
  for (const r of recs) {
    assert.ok(names.has(r.subject));
    assert.notEqual(r.targetNew, r.groundTruth);
    for (const p of [r.prompt, ...r.rephrasePrompts!.map((x) => x.replace(r.subject, '{}'))]) assert.ok(!heldOut.includes(p), `held-out template used: ${p}`);
    assert.equal(new Set([r.prompt.replace('{}', r.subject), ...r.rephrasePrompts!]).size, 3, 'edit prompt and two distinct rephrases');
    const [n] = r.locality!.neighborhood;
    assert.ok(!n.prompt.includes(r.subject), 'neighborhood is another person');
    assert.ok([...names].some((x) => n.prompt.includes(x as string)), 'neighborhood person from the same range');
  }
  assert.deepEqual(kbTrainingRequests(KB, { people: [200, 219], seed: 3 }), recs, 'seeded');
  assert.notDeepEqual(kbTrainingRequests(KB, { people: [200, 219], seed: 4 }).map((r) => r.targetNew), recs.map((r) => r.targetNew));
});

test('kb-train: bad ranges and relations are refused naming the option', () => {
  assert.throws(() => parsePeopleRange('9-3', '--val-people'), /--val-people: expected a person-id range FIRST-LAST/);
  assert.throws(() => parsePeopleRange('abc', '--train-people'), /--train-people/);
  assert.throws(() => kbTrainingRequests(KB, { people: [5000, 5001], seed: 0 }), /holds 0 people/);
  assert.throws(() => kbTrainingRequests(KB, { people: [0, 9], seed: 0, relations: ['pet'] }), /no relation 'pet'/);
});
