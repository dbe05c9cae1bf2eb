// GRACE layer/radius sweep on kbgpt's HELD-OUT cases (docs/grace.md, "Choosing kbgpt's layer"): the last 20 cases of
// data/kbgpt/edits.json known on prompt, rephrase and locality (case ids 577-599; the evaluation uses the first 200
// known cases, ids 0-212). For each layer and radius the cases are edited one after another into one codebook, then
// all of them are measured (next-token probabilities after the prompt alone, first tokens):
//   ES  P(target_new) > P(ground_truth) on the prompt;
//   PS  the same on the held-out rephrase;
//   NS  the locality prompt's arg-max is the one before any edit.
// Usage: node --import tsx scripts/grace-sweep.ts [--layers 0,1,2,3,4,5] [--eps 1,10] [--n_iter 100] [--cases 20]
//        [--out sweep.json] [--data kbgpt|factgpt]   (--eps '' prints only the distance table; factgpt: the last
//        known records of data/factgpt/facts.json, a check of the radius scale there)
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, nextTokenLogprobs, type CausalLM } from '../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../src/io/tokenizer.js';
import { tidy } from '../src/tensor/index.js';
import { grace, type GraceAdaptor, type GraceHparams } from '../src/methods/grace/index.js';
import { validateHparams } from '../src/methods/hparams.js';
import { normalizeRequest } from '../src/methods/request.js';
import { FACTGPT, KBGPT } from '../test/data.js';

interface Case { case_id: number; prompt: string; subject: string; target_new: string; ground_truth: string; rephrase_prompt: string; locality_prompt: string }

const { values: args } = parseArgs({
  options: {
    layers: { type: 'string', default: '0,1,2,3,4,5' }, eps: { type: 'string', default: '1,10' },
    n_iter: { type: 'string', default: '100' }, cases: { type: 'string', default: '20' }, out: { type: 'string' },
    data: { type: 'string', default: 'kbgpt' },
  },
});
const list = (s: string) => (s === '' ? [] : s.split(',').map(Number));

const MODEL_DIR = args.data === 'factgpt' ? FACTGPT : KBGPT;

function heldOut(n: number): Case[] {
  const file = args.data === 'factgpt' ? join(FACTGPT, 'facts.json') : join(KBGPT, 'edits.json');
  const json = JSON.parse(readFileSync(file, 'utf8'));
  const all = args.data === 'factgpt' ? json.records : json.cases;
  return all.filter((c: any) => c.known_prompt && c.known_rephrase && c.known_locality).slice(-n);
}

/** Per prompt: [P(first token of a), P(first token of b), arg-max]. */
function nextToken(model: CausalLM, tok: Tokenizer, prompts: string[], a: string[], b: string[]): number[][] {
  return tidy(() => {
    const lp = nextTokenLogprobs(model, prompts.map((p) => tok.encode(p)));
    return prompts.map((_, i) => {
      const row = lp.select(0, i);
      const p = (s: string) => Math.exp(row.select(0, tok.encode(` ${s}`)[0]).item());
      return [p(a[i]), p(b[i]), row.argmax().item()];
    });
  });
}

function measure(model: CausalLM, tok: Tokenizer, cases: Case[], localityBefore: number[]) {
  const news = cases.map((c) => c.target_new);
  const truths = cases.map((c) => c.ground_truth);
  const success = (rows: number[][]) => rows.filter(([pn, pt]) => pn > pt).length / rows.length;
  const es = success(nextToken(model, tok, cases.map((c) => c.prompt), news, truths));
  const ps = success(nextToken(model, tok, cases.map((c) => c.rephrase_prompt), news, truths));
  const loc = nextToken(model, tok, cases.map((c) => c.locality_prompt), news, truths);
  const ns = loc.filter((r, i) => r[2] === localityBefore[i]).length / cases.length;
  return { ES: 100 * es, PS: 100 * ps, NS: 100 * ns };
}

/** The c_fc input at the last token of each prompt, per layer: [layer][prompt] → vector. */
function lastTokenInputs(model: CausalLM, tok: Tokenizer, prompts: string[]): number[][][] {
  const modules = Array.from({ length: model.dims.numLayers }, (_, l) => `transformer.h.${l}.mlp.c_fc`);
  const out: number[][][] = modules.map(() => []);
  for (const p of prompts) {
    tidy(() => {
      const { traces } = model.trace({ inputIds: [tok.encode(p)], logits: 'none' }, modules.map((m) => ({ module: m, retainInput: true, retainOutput: false })));
      modules.forEach((m, l) => out[l].push(traces.get(m)!.input!.select(0, 0).select(0, -1).toFlatArray()));
    });
  }
  return out;
}

const dist = (a: number[], b: number[]) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Per layer, median distances from each edit's key to its rephrase, to the nearest other key, and from each locality query to its nearest key. */
function distanceTable(model: CausalLM, tok: Tokenizer, cases: Case[]): void {
  const keys = lastTokenInputs(model, tok, cases.map((c) => c.prompt));
  const reph = lastTokenInputs(model, tok, cases.map((c) => c.rephrase_prompt));
  const loc = lastTokenInputs(model, tok, cases.map((c) => c.locality_prompt));
  console.log('| layer | key ↔ own rephrase | key ↔ nearest other key | locality ↔ nearest key | rephrase ↔ nearest other key |');
  console.log('| --- | --- | --- | --- | --- |');
  keys.forEach((ks, l) => {
    const own = ks.map((k, i) => dist(k, reph[l][i]));
    const other = ks.map((k, i) => Math.min(...ks.filter((_, j) => j !== i).map((o) => dist(k, o))));
    const locNear = loc[l].map((q) => Math.min(...ks.map((k) => dist(q, k))));
    const rephOther = reph[l].map((q, i) => Math.min(...ks.filter((_, j) => j !== i).map((k) => dist(q, k))));
    console.log(`| ${l} | ${median(own).toFixed(1)} | ${median(other).toFixed(1)} | ${median(locNear).toFixed(1)} | ${median(rephOther).toFixed(1)} |`);
  });
}

function runOne(model: CausalLM, tok: Tokenizer, cases: Case[], layer: number, eps: number, nIter: number, localityBefore: number[]) {
  const h = validateHparams<GraceHparams>({
    alg_name: 'GRACE', inner_params: [`transformer.h[${layer}].mlp.c_fc.weight`], eps, n_iter: nIter, val_init: 'warm',
  }, grace.schema, 'sweep');
  grace.check(model, h, 'sweep');
  const session = grace.open(model, h, { tokenizer: tok, seed: 0 });
  const started = performance.now();
  let adaptor: GraceAdaptor | undefined;
  const actions: Record<string, number> = {};
  const lossLast: number[] = [];
  cases.forEach((c, i) => {
    const r = normalizeRequest({ prompt: c.prompt, subject: c.subject, targetNew: c.target_new, groundTruth: c.ground_truth, caseId: c.case_id }, i);
    const edit = session.compute([r], { editId: `e${i + 1}` });
    adaptor = edit.patches![0] as GraceAdaptor;
    const x = edit.diagnostics[0].extra as { action: string; lossLast: number };
    actions[x.action] = (actions[x.action] ?? 0) + 1;
    lossLast.push(x.lossLast);
  });
  const seconds = (performance.now() - started) / 1000 / cases.length;
  const uninstall = model.install(adaptor!);
  try {
    const m = measure(model, tok, cases, localityBefore);
    const radii = adaptor!.book.epsilons();
    return {
      layer, eps, ...m, keys: adaptor!.book.size, actions, meanRadius: radii.reduce((s, x) => s + x, 0) / radii.length,
      maxLossLast: Math.max(...lossLast), secondsPerEdit: seconds,
    };
  } finally {
    uninstall();
    adaptor!.dispose();
    session.dispose();
  }
}

function main(): void {
  const model = loadModel(MODEL_DIR);
  const tok = loadTokenizer(MODEL_DIR);
  const cases = heldOut(Number(args.cases));
  console.log(`held-out cases: ${cases.map((c) => c.case_id).join(', ')}`);
  distanceTable(model, tok, cases);
  if (args.eps === '') return;
  const before = nextToken(model, tok, cases.map((c) => c.locality_prompt), cases.map((c) => c.target_new), cases.map((c) => c.ground_truth));
  const localityBefore = before.map((r) => r[2]);
  const rows = [];
  console.log('| layer | eps | ES | PS | NS | keys | placements | mean ε | max last loss | s/edit |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const layer of list(args.layers!)) {
    for (const eps of list(args.eps!)) {
      const r = runOne(model, tok, cases, layer, eps, Number(args.n_iter), localityBefore);
      rows.push(r);
      const acts = Object.entries(r.actions).map(([k, v]) => `${k} ${v}`).join(', ');
      console.log(`| ${layer} | ${eps} | ${r.ES.toFixed(0)} | ${r.PS.toFixed(0)} | ${r.NS.toFixed(0)} | ${r.keys} | ${acts} | ${r.meanRadius.toFixed(2)} | ${r.maxLossLast.toFixed(3)} | ${r.secondsPerEdit.toFixed(1)} |`);
      if (args.out) writeFileSync(args.out, JSON.stringify({ cases: cases.map((c) => c.case_id), rows }, null, 1));
    }
  }
  model.dispose();
}

main();
