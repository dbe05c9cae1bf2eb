// Dataset loaders: each format's mapping to EditCases on the shared files (zsRE, ROME-format CounterFact, flat
// CounterFact, kbgpt, factgpt) and on fixtures written from the documented formats (KnowEdit, MQuAKE, add-ons);
// streaming equals a full JSON.parse, sampling is reproducible, and every schema error names file, record and field.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFlatCases } from '../../src/eval/cases.js';
import {
  DatasetError, detectFormat, distractingNeighbors, FORMATS, loadAddons, loadCases, mergeAddons, mulberry32, readRecords, type DatasetFormat,
} from '../../src/eval/datasets/index.js';
import { KBGPT, FACTGPT, SHARED_DATA } from '../data.js';

const ZSRE = join(SHARED_DATA, 'zsre-mend-1k', 'zsre_mend_train-1k.json');
const ROME_CF = join(SHARED_DATA, 'counterfact-rome-sample', 'most_orthogonal.json');
const MEND_CF = join(SHARED_DATA, 'counterfact-mend', 'counterfact-edit.json');
const dir = mkdtempSync(join(tmpdir(), 'lmedit-datasets-'));
let files = 0;
/** Writes a fixture file (JSON of `data`, or the text itself) and returns its path. */
function fixture(data: unknown, ext = 'json'): string {
  const f = join(dir, `f${files++}.${ext}`);
  writeFileSync(f, typeof data === 'string' || Buffer.isBuffer(data) ? data : JSON.stringify(data));
  return f;
}
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** An assert.throws matcher: a DatasetError whose message contains every part, in order. */
const datasetError = (...parts: string[]) => (e: unknown) => {
  assert.ok(e instanceof DatasetError, `expected a DatasetError, got ${e}`);
  assert.match(e.message, new RegExp(parts.map(escape).join('.*')));
  return true;
};

describe('zsRE (MEND format)', () => {
  const raw = JSON.parse(readFileSync(ZSRE, 'utf8'));
  const loaded = loadCases(ZSRE);

  test('1,000 records, the 2 with alt == "" skipped as EasyEdit does', () => {
    assert.equal(loaded.format, 'zsre');
    assert.equal(loaded.total, 1000);
    assert.equal(loaded.complete, true);
    assert.deepEqual(loaded.skipped, { emptyTarget: 2, invalid: 0, notKnown: 0 });
    assert.equal(loaded.cases.length, 998);
    const ids = new Set(loaded.cases.map((c) => c.caseId));
    assert.ok(!ids.has(534) && !ids.has(723) && raw[534].alt === '' && raw[723].alt === '');
  });

  test('src → prompt, alt → target, answers[0] → ground truth, rephrase, loc → neighbourhood', () => {
    assert.deepEqual(loaded.cases[0], {
      caseId: 0,
      request: { prompt: 'What is the product made by UniFirst?', subject: 'UniFirst', targetNew: 'unmanned aircraft', groundTruth: 'uniform', caseId: 0 },
      rephrases: ['What will be the product of UniFirst?'],
      locality: { neighborhood: [{ prompt: "nq question: john goodman's character in the big lebowski", groundTruth: 'Walter Sobchak' }] },
      portability: {},
      flags: {},
    });
    const multi = loaded.cases.find((c) => c.caseId === 13)!;
    assert.deepEqual(raw[13].answers, ['Beneden Merwede', 'Noord']);
    assert.equal(multi.request.groundTruth, 'Beneden Merwede');
  });

  test('portability variant → one_hop; a subject missing from src is an error naming the record, or skipped', () => {
    const good = { ...raw[0], portability: { 'New Question': 'Who makes uniforms?', 'New Answer': 'UniFirst' } };
    const f = fixture([good, { ...raw[1], subject: 'Nowhere' }, { ...raw[2], alt: 3 }]);
    assert.deepEqual(loadCases(f, { n: 1 }).cases[0].portability, { one_hop: [{ prompt: 'Who makes uniforms?', groundTruth: 'UniFirst' }] });
    assert.throws(() => loadCases(f), datasetError(`${f}: record 1: `, "subject from 'subject'", "'Nowhere' does not occur"));
    const r = loadCases(f, { skipInvalid: true });
    assert.equal(r.cases.length, 1);
    assert.equal(r.skipped.invalid, 2);
    assert.equal(r.problems[1], `${f}: record 2: field 'alt' must be a string, got 3`);
  });
});

describe('CounterFact (ROME/MEMIT format)', () => {
  const raw = JSON.parse(readFileSync(ROME_CF, 'utf8'));
  const { cases, format } = loadCases(ROME_CF);

  test('request, paraphrases, neighbourhood (true object), attribute (new object), generation prompts', () => {
    assert.equal(format, 'counterfact-rome');
    assert.deepEqual(cases.map((c) => c.caseId), [4088, 1356, 17593, 6716, 17140, 491, 1273, 10612, 10855, 21299]);
    const c = cases[0];
    assert.deepEqual(c.request, { prompt: '{}, a citizen of', subject: 'Ferdinand de Saussure', targetNew: 'Belgium', groundTruth: 'Switzerland', caseId: 4088 });
    assert.deepEqual(c.rephrases, raw[0].paraphrase_prompts);
    assert.deepEqual(c.locality.neighborhood, raw[0].neighborhood_prompts.map((prompt: string) => ({ prompt, groundTruth: 'Switzerland' })));
    assert.deepEqual(c.locality.attribute, raw[0].attribute_prompts.map((prompt: string) => ({ prompt, groundTruth: 'Belgium' })));
    assert.equal(c.locality.neighborhood.length, 10);
    assert.deepEqual(c.generationPrompts, raw[0].generation_prompts);
    assert.equal(loadCases(join(SHARED_DATA, 'counterfact-rome-sample', 'least_orthogonal.json')).cases.length, 10);
  });

  test('a missing nested field is named by its path', () => {
    const bad = structuredClone(raw.slice(0, 2));
    delete bad[1].requested_rewrite.target_true.str;
    const f = fixture(bad);
    assert.throws(() => loadCases(f), datasetError(`${f}: record 1: field 'requested_rewrite.target_true.str' is missing`));
    bad[1].requested_rewrite.target_true = { str: 'x' };
    bad[1].neighborhood_prompts[3] = 7;
    writeFileSync(f, JSON.stringify(bad));
    assert.throws(() => loadCases(f), datasetError(`${f}: record 1: field 'neighborhood_prompts[3]' must be a string, got 7`));
  });

  test('distracting neighbours: the edit statement before each neighbourhood prompt, the neighbour\'s answer kept', () => {
    const [d] = distractingNeighbors(cases.slice(0, 1));
    assert.equal(d.locality.distracting.length, 10);
    assert.deepEqual(d.locality.distracting[0], { prompt: 'Ferdinand de Saussure, a citizen of Belgium. Ludwig Hohl, who holds a citizenship from', groundTruth: 'Switzerland' });
    assert.equal(cases[0].locality.distracting, undefined, 'the input is not changed');
  });
});

describe('flat CounterFact, kbgpt and factgpt', () => {
  const full = readFlatCases(MEND_CF);

  test('streaming n=5 offset=100 equals the same slice of a full parse, reading only that far', () => {
    const r = loadCases(MEND_CF, { n: 5, offset: 100 });
    assert.equal(r.format, 'flat');
    assert.deepEqual(r.cases, full.slice(100, 105));
    assert.equal(r.total, 105);
    assert.equal(r.complete, false);
    // The start of the file alone (cut mid-record) still gives the first cases; the whole of it is an error.
    const cut = fixture(readFileSync(MEND_CF).subarray(0, 200_000));
    assert.deepEqual(loadCases(cut, { n: 5, offset: 100, chunkBytes: 4096 }).cases, full.slice(100, 105));
    assert.throws(() => loadCases(cut), datasetError(`${cut}: truncated JSON`, 'not closed'));
  });

  test('seeded sampling: reproducible, distinct seeds differ, uniform over cases after offset, in file order', () => {
    const position = new Map(full.map((c, i) => [c.caseId, i]));
    const a = loadCases(MEND_CF, { n: 20, offset: 5000, seed: 7 }).cases;
    assert.deepEqual(loadCases(MEND_CF, { n: 20, offset: 5000, seed: 7 }).cases, a);
    const b = loadCases(MEND_CF, { n: 20, offset: 5000, seed: 8 }).cases;
    assert.notDeepEqual(a.map((c) => c.caseId), b.map((c) => c.caseId));
    const at = a.map((c) => position.get(c.caseId)!);
    assert.equal(new Set(at).size, 20);
    assert.ok(at.every((p, i) => p >= 5000 && (i === 0 || p > at[i - 1])), 'after offset, in file order');
    a.forEach((c, i) => assert.deepEqual(c, full[at[i]]));
    const r = mulberry32(1);
    const draws = Array.from({ length: 20000 }, r);
    assert.ok(Math.abs(draws.reduce((s, x) => s + x, 0) / draws.length - 0.5) < 0.01 && draws.every((x) => x >= 0 && x < 1));
  });

  test('kbgpt ("cases" after other keys) and factgpt ("records") auto-detected as flat; known filter', () => {
    for (const f of [join(KBGPT, 'edits.json'), join(FACTGPT, 'facts.json')]) {
      const r = loadCases(f);
      assert.equal(r.format, 'flat', f);
      assert.deepEqual(r.cases, readFlatCases(f), f);
      const known = loadCases(f, { known: true });
      assert.deepEqual(known.cases, r.cases.filter((c) => c.flags.known_prompt !== false));
      assert.equal(known.skipped.notKnown, r.cases.length - known.cases.length);
    }
    const kb = readFlatCases(join(KBGPT, 'edits.json')).filter((c) => c.flags.known_prompt);
    assert.deepEqual(loadCases(join(KBGPT, 'edits.json'), { known: true, n: 3, offset: 100 }).cases, kb.slice(100, 103), 'offset counts selected cases');
  });
});

describe('KnowEdit (fixtures in the documented format)', () => {
  const records = [
    { // wiki_counterfact: answers as [[str, alias, ...]]
      subject: 'Kuala Lumpur', prompt: 'The name of the country which Kuala Lumpur is associated with is', target_new: 'Hungary', ground_truth: 'Malaysia',
      portability: {
        Reasoning: [{ prompt: 'The official language of the country Kuala Lumpur is associated with is', ground_truth: [['Hungarian', 'Magyar']] }],
        Subject_Aliasing: [{ prompt: 'The name of the country which KL is associated with is', ground_truth: [['Hungary']] }, { prompt: 'empty answer', ground_truth: [[]] }],
        Logical_Generalization: [],
      },
      locality: {
        Relation_Specificity: [{ prompt: 'The name of the mayor of Kuala Lumpur is', ground_truth: [['', 'Mahadi Che Ngah']] }],
        Forgetfulness: [{ prompt: 'The name of the country which Kuala Lumpur is associated with, which is not Hungary, is', ground_truth: [['Malaysia']] }],
      },
    },
    { // ZsRE: ground_truth a list, rephrase_prompt, cond
      subject: 'Watts Humphrey', prompt: 'What university did Watts Humphrey attend?', target_new: 'University of Michigan', ground_truth: ['Illinois Institute of Technology'],
      rephrase_prompt: 'What university did Watts Humphrey take part in?', cond: 'x',
      portability: { Reasoning: [{ prompt: 'What is the university Watts Humphrey attended known for?', ground_truth: ['research'] }] },
      locality: { Relation_Specificity: [{ prompt: 'The gender of Watts Humphrey is', ground_truth: ['male'] }] },
    },
    { // WikiBio: concept / text / labels
      concept: 'Ramesh Kumar', text: 'Ramesh Kumar is an Indian cricketer.', labels: 'He plays for Delhi.',
      locality: { Relation_Specificity: [{ prompt: ['Ramesh Kumar was born in'], ground_truth: ['Delhi'] }] },
    },
  ];
  const f = fixture(records);

  test('fields, portability and locality names, unwrapped answers, empty answers dropped', () => {
    const r = loadCases(f);
    assert.equal(r.format, 'knowedit');
    const [cf, zsre, bio] = r.cases;
    assert.deepEqual(cf.request, { prompt: records[0].prompt, subject: 'Kuala Lumpur', targetNew: 'Hungary', groundTruth: 'Malaysia', caseId: 0 });
    assert.deepEqual(cf.portability, {
      reasoning: [{ prompt: 'The official language of the country Kuala Lumpur is associated with is', groundTruth: 'Hungarian' }],
      subject_aliasing: [{ prompt: 'The name of the country which KL is associated with is', groundTruth: 'Hungary' }],
    });
    assert.deepEqual(cf.locality, {
      relation_specificity: [{ prompt: 'The name of the mayor of Kuala Lumpur is', groundTruth: 'Mahadi Che Ngah' }],
      forgetfulness: [{ prompt: 'The name of the country which Kuala Lumpur is associated with, which is not Hungary, is', groundTruth: 'Malaysia' }],
    });
    assert.equal(zsre.request.groundTruth, 'Illinois Institute of Technology');
    assert.deepEqual(zsre.rephrases, ['What university did Watts Humphrey take part in?']);
    assert.deepEqual(zsre.portability.reasoning[0].groundTruth, 'research');
    assert.deepEqual(bio.request, { prompt: 'Ramesh Kumar is an Indian cricketer.', subject: 'Ramesh Kumar', targetNew: 'He plays for Delhi.', caseId: 2 });
    assert.deepEqual(bio.locality.relation_specificity, [{ prompt: 'Ramesh Kumar was born in', groundTruth: 'Delhi' }]);
  });

  test('a probe item of the wrong type is named by its path', () => {
    const bad = structuredClone(records);
    (bad[1] as any).portability.Reasoning[0].ground_truth = [{ answer: 'x' }];
    const g = fixture(bad);
    assert.throws(() => loadCases(g), datasetError(`${g}: record 1: field 'portability.Reasoning[0].ground_truth[0]' must be a string or a list of strings`));
  });
});

describe('MQuAKE (fixture)', () => {
  const record = {
    case_id: 7,
    requested_rewrite: [
      { prompt: '{} is a citizen of', subject: 'Ellie Kemper', target_new: { str: 'Croatia', id: 'Q224' }, target_true: { str: 'United States of America', id: 'Q30' }, relation_id: 'P27', question: 'What is the country of citizenship of Ellie Kemper?' },
      { prompt: 'The head of state of {} is', subject: 'Croatia', target_new: { str: 'Joe Biden' }, target_true: { str: 'Zoran Milanović' } },
    ],
    questions: ['Who is the head of state of the country Ellie Kemper is a citizen of?', 'Who leads the country of citizenship of Ellie Kemper?'],
    answer: 'Joe Biden', answer_alias: ['Biden'], new_answer: 'Joe Biden', new_answer_alias: [],
  };

  test('first rewrite → request, the others → additionalRequests, questions → portability.multi_hop', () => {
    const f = fixture([record, { ...record, case_id: 8, answer: 'Zoran Milanović', requested_rewrite: record.requested_rewrite.slice(0, 1) }]);
    const r = loadCases(f);
    assert.equal(r.format, 'mquake');
    const [c, single] = r.cases;
    assert.deepEqual(c.request, { prompt: '{} is a citizen of', subject: 'Ellie Kemper', targetNew: 'Croatia', groundTruth: 'United States of America', caseId: 7 });
    assert.deepEqual(c.additionalRequests, [{ prompt: 'The head of state of {} is', subject: 'Croatia', targetNew: 'Joe Biden', groundTruth: 'Zoran Milanović', caseId: 7 }]);
    assert.deepEqual(c.rephrases, ['What is the country of citizenship of Ellie Kemper?']);
    assert.deepEqual(c.portability.multi_hop, record.questions.map((prompt) => ({ prompt, groundTruth: 'Joe Biden', groundTruthBefore: 'Joe Biden', answerAliases: [], answerAliasesBefore: ['Biden'] })));
    assert.equal(single.additionalRequests, undefined);
    assert.equal(single.portability.multi_hop[0].groundTruthBefore, 'Zoran Milanović');
  });

  test('an invalid second rewrite is named by its index', () => {
    const f = fixture([{ ...record, requested_rewrite: [record.requested_rewrite[0], { ...record.requested_rewrite[1], prompt: 'no placeholder' }] }]);
    assert.throws(() => loadCases(f), datasetError(`${f}: record 0: `, "prompt from 'requested_rewrite[1].prompt'", "'Croatia' does not occur"));
  });
});

describe('add-ons', () => {
  const cases = loadCases(ROME_CF, { n: 3 }).cases;
  const probe = (p: string, a: string) => ({ prompt: p, ground_truth: a });

  test('by case_id (lists or single objects) and by position; probes appended to lists of the same name', () => {
    const f = fixture([
      { case_id: 1356, portability: { subject_replace: [probe('a', 'b'), probe('c', [['d', 'dd']] as any)] }, locality: { neighborhood: probe('e', 'f') } },
      { case_id: '4088', locality: { other_attribution: [probe('g', 'h')] } },
    ]);
    const merged = loadAddons(cases, f);
    assert.deepEqual(merged[1].portability.subject_replace, [{ prompt: 'a', groundTruth: 'b' }, { prompt: 'c', groundTruth: 'd' }]);
    assert.equal(merged[1].locality.neighborhood.length, 11);
    assert.deepEqual(merged[1].locality.neighborhood[10], { prompt: 'e', groundTruth: 'f' });
    assert.deepEqual(merged[0].locality.other_attribution, [{ prompt: 'g', groundTruth: 'h' }]);
    assert.equal(cases[1].locality.neighborhood.length, 10, 'the input is not changed');
    const byPosition = mergeAddons(cases, [{}, {}, { portability: { one_hop: probe('x', 'y') } }], 'mem.json');
    assert.deepEqual(byPosition[2].portability.one_hop, [{ prompt: 'x', groundTruth: 'y' }]);
  });

  test('unknown case_id, misaligned positions and bad probes are errors naming the file and entry', () => {
    assert.throws(() => mergeAddons(cases, [{ case_id: 5, portability: {} }], 'a.json'), datasetError('a.json: entry 0: case_id 5 is not among the 3 cases'));
    assert.deepEqual(mergeAddons(cases, [{ case_id: 5, portability: { x: probe('a', 'b') } }], 'a.json', { ignoreUnknown: true }), cases);
    assert.throws(() => mergeAddons(cases, [{}, {}], 'a.json'), datasetError('a.json: 2 entries without case_id cannot be aligned with 3 cases'));
    assert.throws(() => mergeAddons(cases, [{ case_id: 4088 }, {}], 'a.json'), datasetError("a.json: entry 1: field 'case_id' is missing"));
    assert.throws(() => mergeAddons(cases, [{}, {}, { locality: { x: [{ prompt: 'p' }] } }], 'a.json'), datasetError("a.json: entry 2: field 'locality.x[0].ground_truth' is missing or empty"));
    assert.throws(() => mergeAddons(cases, { case_id: 1 }, 'a.json'), datasetError('a.json: expected a list of add-on entries'));
  });
});

describe('format detection and schema errors', () => {
  test('detectFormat by fields; an unknown record lists the fields seen', () => {
    const ex: [unknown, DatasetFormat][] = [
      [{ prompt: 'a b', subject: 'a', target_new: 'c', ground_truth: 'd' }, 'flat'],
      [{ src: 'a?', alt: 'b', answers: ['c'], subject: 'a' }, 'zsre'],
      [{ case_id: 1, requested_rewrite: { prompt: '{} x' } }, 'counterfact-rome'],
      [{ requested_rewrite: [], questions: [] }, 'mquake'],
      [{ subject: 'a', prompt: 'a b', target_new: 'c', locality: {} }, 'knowedit'],
      [{ subject: 'a', prompt: 'a b', target_new: 'c', ground_truth: ['d'] }, 'knowedit'],
      [{ concept: 'a', text: 'a b', labels: 'c' }, 'knowedit'],
    ];
    for (const [r, fmt] of ex) assert.equal(detectFormat(r), fmt, JSON.stringify(r));
    const f = fixture([{ question: 'q', answer: 'a' }]);
    assert.throws(() => loadCases(f), datasetError(`${f}: record 0: cannot tell the dataset format from the fields seen: question, answer. Expected one of: flat (`));
    assert.throws(() => loadCases(f, { format: 'zsre' }), datasetError(`${f}: record 0: field 'alt' is missing`));
  });

  test('malformed records give DatasetErrors naming the field, never TypeErrors', () => {
    const valid: Record<DatasetFormat, unknown> = {
      flat: { case_id: 3, prompt: 'a b', subject: 'a', target_new: 'c', ground_truth: 'd', rephrase_prompt: 'e', locality_prompt: 'f', locality_ground_truth: 'g', portability: { x: { prompt: 'h', ground_truth: 'i' } } },
      zsre: JSON.parse(readFileSync(ZSRE, 'utf8'))[0],
      'counterfact-rome': JSON.parse(readFileSync(ROME_CF, 'utf8'))[0],
      knowedit: { subject: 'a', prompt: 'a b', target_new: ['c'], ground_truth: 'd', rephrase_prompt: 'e', portability: { Reasoning: [{ prompt: 'p', ground_truth: [['q']] }] }, locality: { Forgetfulness: { prompt: 'p', ground_truth: 'q' } } },
      mquake: { case_id: 1, requested_rewrite: [{ prompt: '{} b', subject: 'a', target_new: { str: 'c' }, target_true: { str: 'd' }, question: 'e' }], questions: ['f'], answer: 'g', new_answer: 'h' },
    };
    const bad = [null, 3, 'x', [], {}, [null], [3], true];
    /** Every way of replacing one value (at any depth) of `v` by a bad value. */
    function* mutations(v: unknown): Generator<unknown> {
      if (v === null || typeof v !== 'object') return;
      for (const key of Object.keys(v)) {
        const child = (v as any)[key];
        for (const b of [...bad, undefined]) yield Array.isArray(v) ? v.map((x, i) => (String(i) === key ? b : x)) : { ...v, [key]: b };
        for (const m of mutations(child)) yield Array.isArray(v) ? v.map((x, i) => (String(i) === key ? m : x)) : { ...v, [key]: m };
      }
    }
    let errors = 0;
    for (const [name, record] of Object.entries(valid) as [DatasetFormat, unknown][]) {
      assert.ok(FORMATS[name].parse(record, 0, 'f: record 0'), `${name}: the valid record parses`);
      for (const m of [...bad, ...mutations(record)]) {
        try {
          FORMATS[name].parse(m, 0, 'f: record 0');
        } catch (e) {
          assert.ok(e instanceof DatasetError, `${name} ${JSON.stringify(m)}: ${(e as Error).stack}`);
          assert.match(e.message, /^f: record 0[: ]/);
          errors++;
        }
      }
    }
    assert.ok(errors > 100, `${errors} malformed records rejected`);
  });

  test('malformed JSON names the file, the record and the byte', () => {
    const trunc = fixture('[{"prompt": "a"}, {"prompt": "b [');
    assert.throws(() => [...readRecords(trunc)], datasetError(`${trunc}: truncated JSON: record 1 starting at byte 18 is not closed`));
    const badRecord = fixture('[{"a": 1},\n {"a": tru}]');
    assert.throws(() => [...readRecords(badRecord)], datasetError(`${badRecord}: record 1 (byte 12): not valid JSON`));
    assert.throws(() => [...readRecords(fixture('[{"a": 1},]'))], datasetError("expected record 1 at byte 10, found ']'"));
    assert.throws(() => [...readRecords(fixture('[{"a": 1}] x'))], datasetError("unexpected 'x' at byte 11"));
    assert.throws(() => [...readRecords(fixture('[{"a": 1} {"a": 2}]'))], datasetError("expected ',' or ']' after record 0 at byte 10"));
    assert.throws(() => [...readRecords(fixture(''))], datasetError('the file is empty'));
    assert.throws(() => [...readRecords(fixture('"text"'))], datasetError('expected a JSON array'));
    assert.throws(() => [...readRecords(join(dir, 'missing.json'))], datasetError('missing.json: cannot read'));
    assert.throws(() => loadCases(fixture('[]')), datasetError('holds no records'));
  });
});

describe('streaming JSON reader', () => {
  const tricky = [
    { s: 'quote " inside', t: 'brackets ] } [ { in a string', u: 'back\\slash\\', v: '\\"', w: '\\\\' },
    { unicode: '\u00e9\u4e2d\ud83d\ude00 é中😀', esc: '\n\t\r\b\f\u0000\u001f', slash: '/' },
    { nested: [[[]], {}, { a: [{ b: '}' }] }], nums: [0, -1.5e-7, 1e300], lit: [true, false, null] },
    [1, 'two', { three: 3 }],
    42,
    'a string record',
  ];

  test('any chunk size gives exactly what JSON.parse gives', () => {
    const compact = fixture(JSON.stringify(tricky));
    const pretty = fixture(JSON.stringify(tricky, null, 1));
    for (const chunkBytes of [1, 2, 3, 7, 64, 1 << 20]) {
      for (const f of [compact, pretty]) assert.deepEqual([...readRecords(f, { chunkBytes })].map((r) => r.record), JSON.parse(readFileSync(f, 'utf8')), `chunk ${chunkBytes}`);
    }
    const bytes = readFileSync(compact);
    for (const { record, index, byte } of readRecords(compact)) {
      const own = Buffer.from(JSON.stringify(record));
      assert.deepEqual(bytes.subarray(byte, byte + own.length), own, `record ${index} starts at byte ${byte}`);
    }
  });

  test('wrapper objects, JSON lines, a byte-order mark', () => {
    const expect = tricky;
    const variants = [
      fixture({ description: 'x ] } "records"', summary: { cases: [1, 2], data: 'no' }, records: tricky, after: [1] }),
      fixture({ data: tricky }),
      fixture(tricky.map((r) => JSON.stringify(r)).join('\n') + '\n', 'jsonl'),
      fixture(tricky.slice(0, 3).map((r) => JSON.stringify(r)).join('\r\n'), 'txt'),
      fixture('\ufeff' + JSON.stringify(tricky)),
    ];
    variants.forEach((f, i) => {
      const want = i === 3 ? expect.slice(0, 3) : expect;
      for (const chunkBytes of [3, 1 << 20]) assert.deepEqual([...readRecords(f, { chunkBytes })].map((r) => r.record), want, `variant ${i}`);
    });
    assert.deepEqual([...readRecords(fixture({ records: [] }))], []);
  });

  test('stopping early leaves the rest unread', () => {
    const f = fixture('[{"a": 1}, {"a": 2}, this is not JSON');
    const it = readRecords(f);
    assert.deepEqual(it.next().value?.record, { a: 1 });
    assert.deepEqual(it.next().value?.record, { a: 2 });
    it.return(undefined);
  });
});
