// Causal tracing (src/locate/causal-trace.ts): the mechanism on a tiny model, and the kbgpt numbers of
// data/kbgpt/PROVENANCE.md ("Causal trace") reproduced within sampling error.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/models/index.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import { Generator, noGrad, tidy } from '../../src/tensor/index.js';
import {
  averageCausalTrace, causalTrace, subjectEmbeddingStd, subjectTokenRange, tokenCategory, traceWithPatch, windowLayers,
  type TraceCase,
} from '../../src/locate/index.js';
import { renderHeatmap } from '../../src/report/heatmap.js';
import { KBGPT } from '../data.js';

const model = loadModel(KBGPT);
const tok = loadTokenizer(model.source.dir, model.source.rawConfig);
const PROMPT = 'Roderick Zielinski was born in';
const SUBJECT = 'Roderick Zielinski';

describe('causal trace: mechanism', () => {
  test('windows follow the reference ([l - floor(w/2), l + ceil(w/2)) clipped)', () => {
    assert.deepEqual(windowLayers(0, 3, 6), [0, 1]);
    assert.deepEqual(windowLayers(2, 3, 6), [1, 2, 3]);
    assert.deepEqual(windowLayers(5, 3, 6), [4, 5]);
    assert.deepEqual(windowLayers(3, 10, 6), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(windowLayers(2, 1, 6), [2]);
  });

  test('subject token range and token categories', () => {
    const r = subjectTokenRange(tok, PROMPT, SUBJECT);
    const ids = tok.encode(PROMPT);
    assert.equal(tok.decode(ids.slice(r[0], r[1])).trim(), SUBJECT);
    assert.equal(r[0], 0);
    assert.throws(() => subjectTokenRange(tok, PROMPT, 'Nobody Here'), /does not occur in the prompt/);
    assert.equal(tokenCategory(r[1] - 1, r, ids.length), 2);
    assert.equal(tokenCategory(ids.length - 1, r, ids.length), 5);
  });

  test('noise 0: the corrupted run is the clean one, every restored score equals the clean P', () => {
    for (const kind of ['hidden', 'mlp', 'attn'] as const) {
      const r = causalTrace(model, tok, { prompt: PROMPT, subject: SUBJECT, kind, noise: 0, samples: 2, window: kind === 'hidden' ? 1 : 3 });
      assert.ok(Math.abs(r.low - r.high) < 1e-5, `${kind}: low ${r.low} vs high ${r.high}`);
      for (const row of r.scores) for (const v of row) assert.ok(Math.abs(v - r.high) < 1e-5, `${kind}: ${v} vs ${r.high}`);
      assert.equal(r.scores.length, model.dims.numLayers);
      assert.equal(r.scores[0].length, r.tokenIds.length);
    }
  });

  test('restoring everything the noise reaches gives back the clean P; restoring nothing gives the corrupted P', () => {
    const ids = tok.encode(PROMPT);
    const range = subjectTokenRange(tok, PROMPT, SUBJECT);
    const answer = tidy(() => noGrad(() => model.forward({ inputIds: [ids], logits: 'last' }).logits!.select(0, 0).argmax().item()));
    const o = { samples: 4, noiseStd: 0.3, generator: new Generator(1) };
    const L = model.dims.numLayers;
    const everyLayerSubject = [];
    for (let l = 0; l < L; l++) for (let t = range[0]; t < range[1]; t++) everyLayerSubject.push({ module: `transformer.h.${l}`, position: t });
    const embedSubject = [];
    for (let t = range[0]; t < range[1]; t++) embedSubject.push({ module: model.templates.embed, position: t });
    const lastLayerAll = ids.map((_, t) => ({ module: `transformer.h.${L - 1}`, position: t }));
    const r = traceWithPatch(model, ids, range, answer, [[], [...embedSubject, ...everyLayerSubject], lastLayerAll, everyLayerSubject], o);
    assert.ok(r.groups[0] < r.clean - 0.05, `noise should hurt: corrupted ${r.groups[0]} vs clean ${r.clean}`);
    assert.ok(Math.abs(r.groups[1] - r.clean) < 1e-5, `embedding + every layer at the subject: ${r.groups[1]} vs ${r.clean}`);
    assert.ok(Math.abs(r.groups[2] - r.clean) < 1e-5, `last block at every token: ${r.groups[2]} vs ${r.clean}`);
    // Block outputs at the subject only: later tokens still saw corrupted embeddings in layer 0's attention.
    assert.ok(r.groups[3] > r.groups[0], `every block at the subject recovers most: ${r.groups[3]} vs corrupted ${r.groups[0]}`);
  });

  test('heatmap: one cell per (token, layer), SVG and PNG', () => {
    const r = causalTrace(model, tok, { prompt: PROMPT, subject: SUBJECT, samples: 2 });
    const { svg, png } = renderHeatmap({
      values: r.tokenIds.map((_, t) => r.scores.map((row) => row[t])), rowLabels: r.tokens,
      columnLabels: r.scores.map((_, l) => String(l)), markedRows: [0, 1], title: 'test', min: r.low,
    });
    const cells = r.tokenIds.length * model.dims.numLayers;
    assert.equal((svg.match(/<rect /g) ?? []).length, 1 + cells + 20); // background, cells, colour bar
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  });

  test('the same seed gives the same trace; errors name the option', () => {
    const a = causalTrace(model, tok, { prompt: PROMPT, subject: SUBJECT, samples: 3, seed: 7, tokens: 'subject_last' });
    const b = causalTrace(model, tok, { prompt: PROMPT, subject: SUBJECT, samples: 3, seed: 7, tokens: 'subject_last' });
    assert.deepEqual(a.scores, b.scores);
    assert.throws(() => causalTrace(model, tok, { prompt: PROMPT, subject: SUBJECT, samples: 0 }), /'samples'/);
    assert.throws(() => causalTrace(model, tok, { prompt: PROMPT, subject: SUBJECT, kind: 'nope' as 'mlp' }), /unknown trace kind/);
    assert.throws(() => causalTrace(model, tok, { prompt: PROMPT, subject: SUBJECT, noise: -1 }), /'noise'/);
  });
});

// ---- PROVENANCE.md "Causal trace" -------------------------------------------------------------------------------
// "60 known facts (birth_city and employer, training template 0, known facts) ... std 0.1771 = 3 x std of
// subject-token embeddings, 10 samples; mean P(answer) clean 0.782, corrupted 0.090."
const THEIRS = {
  high: 0.782, low: 0.090, noiseStd: 0.1771,
  mlp1: [0.0194, 0.0114, 0.0099, 0.0039, 0.0008, 0.0],
  mlp3: [0.0198, 0.0205, 0.0138, 0.01, 0.0041, 0.0008],
  hidden: [0.0196, 0.0189, 0.0142, 0.0083, 0.0027, 0.0],
};

/**
 * The selection is not spelled out beyond the sentence above. We take kb.json's people in order with template 0 of
 * birth_city and of employer ("{} was born in", ...), keep the facts the model knows (arg-max first token = the
 * answer's first token), the first 30 of each relation: 60 facts.
 */
function kbgptCases(perRelation: number): TraceCase[] {
  const kb = JSON.parse(readFileSync(join(KBGPT, 'kb.json'), 'utf8'));
  const out: TraceCase[] = [];
  for (const rel of ['birth_city', 'employer']) {
    const template: string = kb.templates[rel][0].template;
    let n = 0;
    for (const p of kb.people) {
      if (n >= perRelation) break;
      const answer: string = p.attributes[rel];
      if (answer === undefined) continue;
      const prompt = template.replace('{}', p.name);
      const ids = tok.encode(prompt);
      const top = tidy(() => noGrad(() => model.forward({ inputIds: [ids], logits: 'last' }).logits!.select(0, 0).argmax().item()));
      if (top !== tok.encode(` ${answer}`)[0]) continue;
      out.push({ prompt, subject: p.name, answer });
      n++;
    }
  }
  return out;
}

describe('causal trace: kbgpt PROVENANCE figures', () => {
  const cases = kbgptCases(30);
  const std = subjectEmbeddingStd(model, tok, cases.map((c) => c.subject));
  const fmt = (xs: number[]) => `[${xs.map((x) => x.toFixed(4)).join(', ')}]`;

  test('60 known facts; noise std = 3 x subject-token embedding std matches 0.1771', () => {
    assert.equal(cases.length, 60);
    console.log(`# noise std ours ${(3 * std).toFixed(4)} theirs ${THEIRS.noiseStd}`);
    assert.ok(Math.abs(3 * std - THEIRS.noiseStd) < 0.01, `3 x std ${3 * std}`);
  });

  for (const [name, kind, window] of [['hidden', 'hidden', 1], ['mlp1', 'mlp', 1], ['mlp3', 'mlp', 3]] as const) {
    test(`${name}: clean/corrupted means and the per-layer indirect effect at the last subject token`, () => {
      const t0 = Date.now();
      const r = averageCausalTrace(model, tok, cases, { kind, window, samples: 10, noiseStd: THEIRS.noiseStd, seed: 0 });
      const theirs = THEIRS[name];
      console.log(`# ${name}: clean ${r.high.toFixed(3)} corrupted ${r.low.toFixed(3)} (${Date.now() - t0} ms)`);
      console.log(`#   ours   ${fmt(r.lastSubjectEffect)}\n#   stderr ${fmt(r.lastSubjectStderr)}\n#   theirs ${fmt(theirs)}`);
      assert.ok(Math.abs(r.high - THEIRS.high) < 0.03, `clean ${r.high}`);
      assert.ok(Math.abs(r.low - THEIRS.low) < 0.03, `corrupted ${r.low}`);
      r.lastSubjectEffect.forEach((v, l) => {
        const tol = 4 * r.lastSubjectStderr[l] + 0.003;
        assert.ok(Math.abs(v - theirs[l]) <= tol, `layer ${l}: ours ${v.toFixed(4)} theirs ${theirs[l]} (tolerance ${tol.toFixed(4)})`);
      });
    });
  }
});
