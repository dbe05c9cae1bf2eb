// The new method families on kbgpt: what an installed patch and an inference wrapper cost at inference, as ratios
// within one run (absolute times on a shared machine are noisy), and seconds per GRACE / IKE edit.
//   patch_empty_forward_ratio      forward with an empty GRACE adaptor installed / without (target ≤ 1.05)
//   incremental_score_ratio        scoring prompt + continuation token by token on the KV cache / in one pass
//   grace_score_ratio              scoring with a 10-key codebook (incremental) / the plain model (one pass)
//   ike_score_ratio                scoring through IKE's context (one fact, k 0) / the plain model
//   grace_edit_seconds, ike_edit_seconds   median per edit (compute + apply)
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { loadModel, scoreContinuations, TextLM, type CausalLM } from '../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../src/io/tokenizer.js';
import { Editor } from '../src/editor/editor.js';
import { readHparamsFile } from '../src/methods/hparams.js';
import { GraceAdaptor } from '../src/methods/grace/adaptor.js';
import { measure, median, describeTiming, type BenchContext, type BenchSuite } from './harness.js';

const KBGPT = join(process.cwd(), '..', 'shared', 'data', 'kbgpt');

function kbgptCases(n: number) {
  return (JSON.parse(readFileSync(join(KBGPT, 'edits.json'), 'utf8')).cases as any[]).filter((c) => c.known_prompt).slice(0, n)
    .map((c) => ({ prompt: c.prompt, subject: c.subject, targetNew: c.target_new, groundTruth: c.ground_truth }));
}

function probes(tok: Tokenizer, n: number) {
  return kbgptCases(n).map((r) => ({ prompt: tok.encode(r.prompt.replace('{}', r.subject)), continuation: tok.encode(` ${r.targetNew}`) }));
}

const ROUNDS = 20;

/**
 * Times `fn` under two setups (each run before its timing and undone after), alternating A, B, A, B, … so that load
 * from other processes falls on both alike, and reports median(A) / median(B).
 */
function ratio(ctx: BenchContext, name: string, fns: [() => void, () => void], setups: [() => () => void, () => () => void], what: string, target?: number): void {
  const samples: number[][] = [[], []];
  for (let round = 0; round < ROUNDS; round++) {
    for (const k of [0, 1]) {
      const undo = setups[k]();
      try {
        if (round === 0) fns[k](); // warm-up
        const t0 = performance.now();
        fns[k]();
        samples[k].push(performance.now() - t0);
      } finally {
        undo();
      }
    }
  }
  const [a, b] = samples.map((x) => median(x));
  ctx.report.value(name, a / b, 'ratio', `${what}: median ${a.toFixed(1)} vs ${b.toFixed(1)} ms over ${ROUNDS} alternating rounds${target !== undefined ? ` (target ≤ ${target})` : ''}`);
}

const nothing = () => () => undefined;

function graceSuite(ctx: BenchContext, model: CausalLM, tok: Tokenizer): void {
  const reqs = probes(tok, 32);
  const onePass = () => { scoreContinuations(model, reqs, { incremental: false }); };
  if (ctx.selected('patch_empty_forward_ratio')) {
    const adaptor = new GraceAdaptor('transformer.h.4.mlp.c_fc', { eps: 10, replacement: 'replace_last', eps_expand: 'coverage' });
    ratio(ctx, 'patch_empty_forward_ratio', [onePass, onePass], [() => model.install(adaptor), nothing], '32 requests scored in one pass with an empty GRACE adaptor installed / without', 1.05);
  }
  if (ctx.selected('incremental_score_ratio')) {
    ratio(ctx, 'incremental_score_ratio', [() => { scoreContinuations(model, reqs, { incremental: true }); }, onePass], [nothing, nothing],
      '32 requests token by token on the KV cache / in one pass (plain model)');
  }
  if (!ctx.selected('grace_edit_seconds') && !ctx.selected('grace_score_ratio')) return;
  const hparams = readHparamsFile('hparams/GRACE/kbgpt.yaml').raw;
  const editor = new Editor(model, tok, { method: 'GRACE', hparams });
  const times = kbgptCases(10).map((r) => editor.edit(r)[0].seconds);
  ctx.report.value('grace_edit_seconds', median(times), 's', `median of ${times.length} sequential edits into one codebook, n_iter ${hparams.n_iter}`);
  const texts = kbgptCases(32).map((r) => ({ prompt: r.prompt.replace('{}', r.subject), continuation: ` ${r.targetNew}` }));
  const t = measure(() => { editor.edited.score(texts); }, { minIters: 5, minSeconds: 1 });
  editor.restore();
  const o = measure(onePass, { minIters: 5, minSeconds: 1 });
  ctx.report.value('grace_score_ratio', t.medianMs / o.medianMs, 'ratio', `32 requests with a 10-key codebook (scored incrementally) / the unedited model in one pass: ${describeTiming(t)} vs ${describeTiming(o)}`);
  editor.dispose();
}

function ikeSuite(ctx: BenchContext, model: CausalLM, tok: Tokenizer): void {
  if (!ctx.selected('ike_score_ratio') && !ctx.selected('ike_edit_seconds')) return;
  const editor = new Editor(model, tok, { method: 'IKE', hparams: readHparamsFile('hparams/IKE/kbgpt-ctx.yaml').raw });
  const times = kbgptCases(10).map((r) => editor.edit(r)[0].seconds);
  if (ctx.selected('ike_edit_seconds')) ctx.report.value('ike_edit_seconds', median(times), 's', `median of ${times.length} edits (adding a fact to the memory)`);
  if (ctx.selected('ike_score_ratio')) {
    const texts = kbgptCases(32).map((r) => ({ prompt: r.prompt.replace('{}', r.subject), continuation: ` ${r.targetNew}` }));
    const plain = new TextLM(model, tok);
    ratio(ctx, 'ike_score_ratio', [() => { editor.edited.score(texts); }, () => { plain.score(texts); }], [nothing, nothing],
      '32 requests through the IKE context (10 facts in memory, k 0) / the plain model');
  }
  editor.restore();
  editor.dispose();
}

export const familiesSuite: BenchSuite = {
  name: 'families',
  description: 'inference cost of installed patches and inference wrappers (ratios), seconds per GRACE / IKE edit, on kbgpt',
  benchmarks: ['patch_empty_forward_ratio', 'incremental_score_ratio', 'grace_score_ratio', 'grace_edit_seconds', 'ike_score_ratio', 'ike_edit_seconds'],
  run(ctx: BenchContext): void {
    const model = loadModel(KBGPT);
    const tok = loadTokenizer(KBGPT);
    try {
      graceSuite(ctx, model, tok);
      ikeSuite(ctx, model, tok);
    } finally {
      model.dispose();
    }
  },
};
