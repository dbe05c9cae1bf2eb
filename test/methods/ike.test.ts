// IKE (src/methods/ike): EasyEdit's prompt string, the three demonstration kinds, retrieval on a hand-made pool, the
// shared memory (rollback of one edit, sequential retrieval), save/load, overflow; and the edit itself on kbgpt-ctx,
// the model trained to use facts stated in its context.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel, TextLM, type TextModel, type TextScoreRequest } from '../../src/models/index.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import { readFlatCases } from '../../src/eval/cases.js';
import { readHparamsFile, validateHparams } from '../../src/methods/hparams.js';
import { normalizeRequest, type EditRequest } from '../../src/methods/request.js';
import {
  ike, IKE_SCHEMA, IkeWrapper, demonstrationText, factText, ikePrompt, parsePoolRange, poolOverlap, poolRequests, recordDemonstrations,
  retrievalQuery, selectPool, type IkeHparams,
} from '../../src/methods/ike/index.js';
import type { InferenceWrapper } from '../../src/methods/types.js';
import { REPO_ROOT, SHARED_DATA } from '../data.js';

const KBGPT_CTX = join(SHARED_DATA, 'kbgpt-ctx');
const tok = loadTokenizer(KBGPT_CTX);
const hparams = (raw: Record<string, unknown>) => validateHparams<IkeHparams>({ alg_name: 'IKE', ...raw }, IKE_SCHEMA, 'test');
const req = (r: EditRequest, i = 0) => normalizeRequest(r, i);

// Hand-made pool: an instrument, a birthplace and an employer record (the last without a paraphrase).
const POOL = [
  req({ prompt: 'Ada Vance plays the', subject: 'Ada Vance', targetNew: 'violin', groundTruth: 'piano', caseId: 'p0',
    rephrasePrompts: ['The instrument Ada Vance plays is the'], locality: { neighborhood: [{ prompt: 'Bo Lind plays the', groundTruth: 'drums' }] } }, 0),
  req({ prompt: 'Cy Moss was born in', subject: 'Cy Moss', targetNew: 'Oslo', groundTruth: 'Rome', caseId: 'p1',
    rephrasePrompts: ['The birthplace of Cy Moss is'], locality: { neighborhood: [{ prompt: 'Di Park was born in', groundTruth: 'Lima' }] } }, 1),
  req({ prompt: 'Ed Fox works for', subject: 'Ed Fox', targetNew: 'Acme', groundTruth: 'Initech', caseId: 'p2',
    locality: { neighborhood: [{ prompt: 'Flo Gray works for', groundTruth: 'Globex' }] } }, 2),
];
const GUS = req({ prompt: 'Gus Hale was born in', subject: 'Gus Hale', targetNew: 'Paris', groundTruth: 'Bern' });

/** A TextModel that records what it is asked and answers with zeros (no forward pass). */
function recorder(maxPositions = Infinity): TextModel & { seen: TextScoreRequest[]; generated: string[] } {
  const seen: TextScoreRequest[] = [];
  const generated: string[] = [];
  return {
    tokenizer: tok, maxPositions, seen, generated,
    score: (rs) => rs.map((r) => { seen.push(r); return { logprobs: [0], sum: 0, mean: 0, argmax: [0], ids: [0] }; }),
    generate: (ps) => ps.map((p) => { generated.push(p); return { ids: [], text: '' }; }),
  };
}

function session(raw: Record<string, unknown>, pool = POOL) {
  return ike.open(undefined as never, hparams(raw), { tokenizer: tok, seed: 0, pool });
}

describe('IKE prompt: EasyEdit format', () => {
  test('demonstrations, the new fact and the query as compute_icl_edit_quality writes them', () => {
    assert.equal(factText(GUS), 'Gus Hale was born in Paris');
    assert.equal(demonstrationText('Cy Moss was born in Oslo', 'Di Park was born in', 'Lima'), 'New Fact: Cy Moss was born in Oslo\nPrompt: Di Park was born in Lima\n\n');
    assert.equal(ikePrompt(['A\n\n', 'B\n\n'], 'Gus Hale was born in Paris', 'Gus Hale is a native of'), 'A\n\nB\n\nNew Fact: Gus Hale was born in Paris\nPrompt: Gus Hale is a native of');
    assert.equal(ikePrompt([], 'Gus Hale was born in Paris', 'Gus Hale was born in'), 'New Fact: Gus Hale was born in Paris\nPrompt: Gus Hale was born in');
    // ike_main.py's query_sentence
    assert.equal(retrievalQuery(GUS), 'New Fact: Gus Hale was born in Paris\nPrompt: Gus Hale was born in\n\n');
  });

  test('the wrapper sends exactly that text, continuation unchanged; an empty memory passes queries through', () => {
    const s = session({ k: 2 });
    const { wrapper, deltas } = s.compute([GUS], { editId: 'e1' });
    assert.deepEqual(deltas, []);
    const inner = recorder();
    wrapper!.score(inner, [{ prompt: 'Gus Hale is a native of', continuation: ' Paris' }]);
    assert.deepEqual(inner.seen, [{
      prompt: 'New Fact: Cy Moss was born in Oslo\nPrompt: Cy Moss was born in Oslo\n\n' +
        'New Fact: Cy Moss was born in Oslo\nPrompt: Di Park was born in Lima\n\n' +
        'New Fact: Gus Hale was born in Paris\nPrompt: Gus Hale is a native of',
      continuation: ' Paris',
    }]);
    wrapper!.generate(inner, ['Gus Hale is a native of']);
    assert.equal(inner.generated[0], inner.seen[0].prompt);
    wrapper!.removeEdit!('e1');
    assert.equal((wrapper as IkeWrapper).contextFor('Gus Hale is a native of'), 'Gus Hale is a native of');
  });
});

describe('IKE demonstrations', () => {
  test('copy, update and retain from one pool record (encode_ike_facts)', () => {
    const demos = recordDemonstrations(POOL[1], 1);
    assert.deepEqual(demos.map((d) => d.kind), ['copy', 'update', 'retain']);
    assert.deepEqual(demos.map((d) => d.text), [
      'New Fact: Cy Moss was born in Oslo\nPrompt: Cy Moss was born in Oslo\n\n',
      'New Fact: Cy Moss was born in Oslo\nPrompt: The birthplace of Cy Moss is Oslo\n\n',
      'New Fact: Cy Moss was born in Oslo\nPrompt: Di Park was born in Lima\n\n',
    ]);
    assert.deepEqual(demos.map((d) => [d.record, d.caseId]), [[1, 'p1'], [1, 'p1'], [1, 'p1']]);
    assert.deepEqual(recordDemonstrations(POOL[2], 2).map((d) => d.kind), ['copy', 'retain'], 'no paraphrase, no update');
  });

  test('sentences (EasyEdit): the k best of all 8, by BM25 against the edit; ties to the earlier; order by demo_order', () => {
    // Cy Moss's copy and retain sentences both hold "was born in" twice and have 14 terms: a tie, copy first
    const pick = (raw: Record<string, unknown>) => session(raw).compute([GUS], { editId: 'e' }).diagnostics[0].extra!.demonstrations as { kind: string; caseId: string; record: number }[];
    assert.deepEqual(pick({ k: 3 }), [{ kind: 'copy', caseId: 'p1', record: 1 }, { kind: 'retain', caseId: 'p1', record: 1 }, { kind: 'update', caseId: 'p1', record: 1 }]);
    assert.deepEqual(pick({ k: 3, demo_order: 'most_similar_last' }), [{ kind: 'update', caseId: 'p1', record: 1 }, { kind: 'retain', caseId: 'p1', record: 1 }, { kind: 'copy', caseId: 'p1', record: 1 }]);
    assert.deepEqual(pick({ k: 3, retriever: 'tfidf' }).map((d) => d.caseId), ['p1', 'p1', 'p1']);
    assert.equal(pick({ k: 50 }).length, 8, 'k beyond the pool: all');
    assert.deepEqual(pick({ k: 0 }), []);
  });

  test('records (IKE repo): the k nearest records, one demonstration each, kinds drawn from its 4:12:16 mix', () => {
    const pick = (seed: number) => ike.open(undefined as never, hparams({ k: 3, demo_selection: 'records' }), { tokenizer: tok, seed, pool: POOL })
      .compute([GUS], { editId: 'e' }).diagnostics[0].extra!.demonstrations as { kind: string; caseId: string }[];
    const kinds = new Set<string>();
    for (let seed = 0; seed < 20; seed++) {
      const d = pick(seed);
      assert.deepEqual(d.map((x) => x.caseId), ['p1', 'p0', 'p2'], 'nearest record first');
      assert.notEqual(d[2].kind, 'update', 'p2 has no paraphrase: its copy instead');
      d.forEach((x) => kinds.add(x.kind));
    }
    assert.deepEqual([...kinds].sort(), ['copy', 'retain', 'update']);
    assert.deepEqual(pick(7), pick(7), 'seeded');
  });

  test('a pool is required for k > 0; pool ranges are Python slices', () => {
    assert.throws(() => session({ k: 2 }, []), /need a demonstration pool .*pool_file and pool_range/);
    assert.doesNotThrow(() => session({ k: 0 }, []));
    assert.doesNotThrow(() => session({ use_icl_examples: false }, []));
    assert.deepEqual(parsePoolRange('400:600', 600, 'r'), { start: 400, end: 600 });
    assert.deepEqual(parsePoolRange('-200:', 600, 'r'), { start: 400, end: 600 });
    assert.deepEqual(selectPool([1, 2, 3, 4], ':2'), [1, 2]);
    assert.throws(() => parsePoolRange('5:2', 10, 'x.yaml: pool_range'), /x.yaml: pool_range: the slice '5:2' selects no case/);
    assert.throws(() => parsePoolRange('a-b', 10, 'r'), /expected a slice/);
    assert.deepEqual(poolOverlap(POOL, [GUS, req({ prompt: 'Cy Moss was born in', subject: 'Cy Moss', targetNew: 'Oslo' })]), [1]);
  });

  test('hparams: EasyEdit names, lmedit enumerations checked', () => {
    const h = hparams({ k: 16, sentence_model_name: 'x', device: 0, results_dir: './results' });
    assert.equal(h.retriever, 'bm25');
    assert.throws(() => ike.check(undefined as never, hparams({ retriever: 'splade' }), 'f.yaml'), /f.yaml: retriever must be one of bm25, tfidf, embedding/);
    assert.throws(() => ike.check(undefined as never, hparams({ retriever: 'embedding', sentence_model_name: '/nonexistent/all-MiniLM-L6-v2' }), 'f.yaml'), /f.yaml: retriever 'embedding' needs the sentence encoder sentence_model_name '\/nonexistent\/all-MiniLM-L6-v2'/);
    assert.throws(() => ike.check(undefined as never, hparams({ k: -1 }), 'f.yaml'), /k must be >= 0/);
  });
});

describe('IKE memory', () => {
  const people = ['Gus Hale', 'Ivy Cole', 'Jon Reed', 'Kim Ash', 'Lou Hart'];
  const cities = ['Paris', 'Kyiv', 'Quito', 'Hanoi', 'Accra'];

  test('removeEdit of edit 3 of 5 leaves the other four; each query is answered with its own subject\'s fact', () => {
    const s = session({ k: 1 });
    let wrapper: InferenceWrapper | undefined;
    people.forEach((p, i) => {
      const e = s.compute([req({ prompt: `${p} was born in`, subject: p, targetNew: cities[i] })], { editId: `e${i + 1}` });
      assert.ok(wrapper === undefined || e.wrapper === wrapper, 'one shared wrapper');
      wrapper = e.wrapper;
    });
    const w = wrapper as IkeWrapper;
    assert.deepEqual(w.editIds(), ['e1', 'e2', 'e3', 'e4', 'e5']);
    const factOf = (p: string) => w.factFor(`Where was ${p} born? ${p} is a native of`)?.targetNew;
    assert.deepEqual(people.map(factOf), cities.map((c) => ` ${c}`));
    w.removeEdit('e3');
    assert.deepEqual(w.editIds(), ['e1', 'e2', 'e4', 'e5']);
    assert.deepEqual(w.memory().map((f) => f.targetNew), [' Paris', ' Kyiv', ' Hanoi', ' Accra']);
    assert.deepEqual([0, 1, 3, 4].map((i) => factOf(people[i])), [' Paris', ' Kyiv', ' Hanoi', ' Accra']);
    assert.notEqual(factOf('Jon Reed'), ' Quito');
  });
});

describe('IKE on kbgpt-ctx', () => {
  const model = loadModel(KBGPT_CTX);
  const inner = new TextLM(model, tok);
  const cases = readFlatCases(join(KBGPT_CTX, 'edits.json'));
  // pool: the last 200 cases; probed: the first known cases (disjoint, as evaluation's first 200 known)
  const pool = poolRequests(selectPool(cases, '400:600'));
  const probed = cases.filter((c) => c.flags.known_prompt && c.flags.known_locality).slice(0, 10);
  const top1 = (prompt: string, continuation: string, w?: InferenceWrapper) => {
    const [r] = w ? w.score(inner, [{ prompt, continuation }]) : inner.score([{ prompt, continuation }]);
    return { hit: r.argmax[0] === r.ids[0], argmax: r.argmax };
  };

  test('the pool (positions 400–599) shares no edit with the first 200 known cases evaluation uses', () => {
    const evaluated = cases.filter((c) => c.flags.known_prompt !== false).slice(0, 200).map((c) => req(c.request));
    assert.deepEqual(poolOverlap(pool, evaluated), []);
  });

  /** Over the probed cases: edit prompts where the new target becomes the arg-max, neighbours whose arg-max stays. */
  function beforeAfter(h: IkeHparams): { rewrites: number; unchanged: number } {
    let rewrites = 0;
    let unchanged = 0;
    for (const c of probed) {
      const r = req(c.request);
      const { wrapper } = ike.open(model, h, { tokenizer: tok, seed: 0, pool }).compute([r], { editId: String(c.caseId) });
      assert.equal(top1(r.text, r.targetNew).hit, false, `case ${c.caseId}: the new target is not the arg-max before`);
      if (top1(r.text, r.targetNew, wrapper).hit) rewrites++;
      const n = c.locality.neighborhood[0];
      const gt = ` ${n.groundTruth}`;
      if (JSON.stringify(top1(n.prompt, gt).argmax) === JSON.stringify(top1(n.prompt, gt, wrapper).argmax)) unchanged++;
    }
    console.log(`kbgpt-ctx, k = ${h.k}: new target arg-max on ${rewrites}/${probed.length} edit prompts, neighbour unchanged on ${unchanged}/${probed.length}`);
    return { rewrites, unchanged };
  }

  test('one demonstration: the new target becomes the arg-max on the edit prompt; the neighbour\'s arg-max is unchanged', () => {
    const { rewrites, unchanged } = beforeAfter(hparams({ k: 1 }));
    assert.ok(rewrites >= 9, `new target arg-max with the context on ${rewrites} of ${probed.length} edit prompts`);
    assert.ok(unchanged >= 8, `neighbour arg-max unchanged on ${unchanged} of ${probed.length}`);
  });

  test('the shipped hparams/IKE/kbgpt-ctx.yaml edits as well', () => {
    const { raw, file } = readHparamsFile(join(REPO_ROOT, 'hparams/IKE/kbgpt-ctx.yaml'));
    const h = validateHparams<IkeHparams>(raw, IKE_SCHEMA, file);
    ike.check(model, h, file);
    assert.equal(h.pool_range, '400:600');
    const { rewrites, unchanged } = beforeAfter(h);
    assert.ok(rewrites >= 8 && unchanged >= 8, `${rewrites} and ${unchanged} of ${probed.length}`);
  });

  test('state → loadWrapper gives identical scores (through JSON, as saved)', () => {
    const s = ike.open(model, hparams({ k: 2 }), { tokenizer: tok, seed: 0, pool });
    const w = s.compute(probed.slice(0, 3).map((c, i) => req(c.request, i)), { editId: 'a' }).wrapper!;
    const state = w.state();
    const loaded = ike.loadWrapper!({ tensors: {}, meta: JSON.parse(JSON.stringify(state.meta)) }, model, hparams({ k: 7, retriever: 'tfidf' }));
    const probes = probed.slice(0, 3).flatMap((c) => [
      { prompt: c.request.prompt, continuation: ` ${c.request.targetNew}` },
      { prompt: c.rephrases[0], continuation: ` ${c.request.targetNew}` },
      { prompt: c.locality.neighborhood[0].prompt, continuation: ` ${c.locality.neighborhood[0].groundTruth}` },
    ]);
    assert.deepEqual(loaded.score(inner, probes), w.score(inner, probes));
    assert.deepEqual(loaded.editIds!(), ['a']);
    assert.throws(() => ike.loadWrapper!({ tensors: {}, meta: { format: 'grace' } }, model, hparams({})), /not an IKE wrapper state/);
  });

  test('a context longer than the model\'s 256 positions is an error naming the query and the token counts', () => {
    const s = ike.open(model, hparams({ k: 16 }), { tokenizer: tok, seed: 0, pool });
    const c = probed[0];
    const w = s.compute([req(c.request)], { editId: 'x' }).wrapper!;
    const query = c.rephrases[0];
    assert.throws(() => w.score(inner, [{ prompt: query, continuation: ` ${c.request.targetNew}` }]),
      new RegExp(`IKE: the query "${query}" \\(\\d+ tokens\\) with its context \\(16 demonstrations and the new fact\\) with its continuation is \\d+ tokens, more than the model's 256 positions`));
    assert.throws(() => w.generate(inner, [query]), /IKE: the query .* is \d+ tokens, which leaves none of the model's 256 positions to generate into/);
    const empty = new IkeWrapper((w as IkeWrapper).settings, (w as IkeWrapper).demonstrations);
    assert.doesNotThrow(() => empty.score(recorder(4), [{ prompt: query, continuation: ' x' }]), 'an empty memory adds nothing: the inner model decides');
  });
});
