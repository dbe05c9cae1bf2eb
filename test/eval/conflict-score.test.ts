// How conflict warnings are scored on a sequential run (src/eval/conflict-score.ts), on scripted case lines (no model):
// lost = took right after its edit and fails now; precision/recall over the edits that took; the same-subject predictor
// counts only later edits (not cases of the same batch). And the other-attribute probes built from kbgpt's kb.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { conflictScore } from '../../src/eval/conflict-score.js';
import type { CaseScores, ProbeScore } from '../../src/eval/measure.js';
import type { EditCase } from '../../src/eval/cases.js';
import type { CaseLine } from '../../src/eval/summarize.js';
import { loadCases, mergeAddons, otherAttributeAddons, OTHER_ATTRIBUTE } from '../../src/eval/datasets/index.js';
import { KBGPT } from '../data.js';

/** A probe whose primary answer wins (true) or loses against its comparison. */
const probe = (wins: boolean): ProbeScore => ({
  primary: { ids: [1], logprobs: [wins ? -0.1 : -5], argmax: [1] },
  comparison: { ids: [2], logprobs: [wins ? -5 : -0.1], argmax: [1] },
}) as ProbeScore;
const scores = (wins: boolean): CaseScores => ({ rewrite: [probe(wins)], rephrase: [], locality: {}, portability: {} }) as unknown as CaseScores;
const edit = (id: number, subject: string): EditCase => ({
  caseId: id, request: { prompt: `${subject} p${id}`, subject, targetNew: 't' }, rephrases: [], locality: {}, portability: {}, flags: {},
});
const line = (id: number, editsApplied: number, took: boolean, conflicts?: CaseLine['conflicts']): CaseLine => ({
  caseId: id, method: 'X', mode: 'sequential', editsApplied, pre: scores(false), post: scores(took), metrics: {}, conflicts,
});

test('precision and recall of the warnings against the edits lost by now', () => {
  const cases = [edit(0, 'A'), edit(1, 'B'), edit(2, 'A'), edit(3, 'C'), edit(4, 'D')];
  const lines = [
    line(0, 1, true), line(1, 2, true), line(2, 3, true, [{ caseId: 0, editId: 'edit-1', module: 'm', reach: 0.9 }]),
    line(3, 4, false, [{ caseId: 1, editId: 'edit-2', module: 'm', reach: 0.6 }]), line(4, 5, true, []),
  ];
  // now: case 0 lost (warned, same subject), case 1 kept (warned: a false alarm), case 4 lost (not warned), case 3 never took
  const now = [scores(false), scores(true), scores(true), scores(false), scores(false)];
  const s = conflictScore(lines, cases, now)!;
  assert.equal(s.took, 4);
  assert.equal(s.lost, 2);
  assert.deepEqual(s.warnings, { flagged: 2, hits: 1, precision: 50, recall: 50 });
  assert.deepEqual(s.sameSubject, { flagged: 1, hits: 1, precision: 100, recall: 50 });
});

test('cases of one batch are not "later" for the same-subject predictor; no warnings recorded → no score', () => {
  const cases = [edit(0, 'A'), edit(1, 'A')];
  const batch = [line(0, 2, true, []), line(1, 2, true, [])];
  const s = conflictScore(batch, cases, [scores(true), scores(true)])!;
  assert.equal(s.sameSubject.flagged, 0);
  assert.equal(s.warnings.precision, undefined, 'nothing flagged: no precision');
  assert.equal(s.warnings.recall, undefined, 'nothing lost: no recall');
  assert.equal(conflictScore([line(0, 1, true)], cases.slice(0, 1), [scores(true)]), undefined);
});

test("kbgpt other-attribute probes: the subject's other attributes, never one a case of the dataset edits", () => {
  const all = loadCases(join(KBGPT, 'edits.json'), { n: 1e9 }).cases;
  const first = all.slice(0, 3);
  const addons = otherAttributeAddons(join(KBGPT, 'kb.json'), first, all) as { case_id: number; locality: Record<string, { prompt: string; ground_truth: string }[]> }[];
  assert.equal(addons.length, 3);
  // case 0 is Roderick Zielinski's birth city; case 1 his employer: neither comes back as an other attribute
  const probes = addons[0].locality[OTHER_ATTRIBUTE];
  assert.ok(probes.length >= 2, JSON.stringify(probes));
  assert.ok(probes.every((p) => p.prompt.includes('Roderick Zielinski')));
  assert.ok(!probes.some((p) => p.ground_truth === 'Warsaw' || p.ground_truth === 'Siemens'), JSON.stringify(probes));
  assert.ok(probes.some((p) => p.ground_truth === 'composer'), 'his occupation is one');
  const merged = mergeAddons(first, addons, 'other-attribute');
  assert.deepEqual(merged[0].locality[OTHER_ATTRIBUTE].map((p) => p.groundTruth), probes.map((p) => p.ground_truth));
  assert.throws(() => otherAttributeAddons(join(KBGPT, 'edits.json'), first, all), /not a knowledge base/);
});
