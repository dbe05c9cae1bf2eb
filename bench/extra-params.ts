// The extra-parameter editors on kbgpt (T-Patcher, WISE, CaliNet, with GRACE beside them) and the edit-conflict check:
//   <method>_edit_seconds          median per edit (compute + apply) of 5 sequential edits into one model;
//                                  CaliNet: per fact of one batch of 5
//   <method>_score_ratio           scoring 32 requests with those 5 edits installed / the unedited model
//   conflict_check_ms              Editor's conflict check of one ROME-shaped edit against 500 earlier keys
// Ratios compare within one run (absolute times on a shared machine are noisy).
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { loadModel, TextLM, type CausalLM } from '../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../src/io/tokenizer.js';
import { Editor } from '../src/editor/editor.js';
import { findConflicts } from '../src/editor/conflicts.js';
import { keysMemoryName } from '../src/methods/footprint.js';
import { keep, randn, Generator } from '../src/tensor/index.js';
import type { Edit } from '../src/methods/types.js';
import { measure, median, describeTiming, type BenchContext, type BenchSuite } from './harness.js';

const KBGPT = join(process.cwd(), '..', 'shared', 'data', 'kbgpt');
const METHODS = ['GRACE', 'T-Patcher', 'WISE', 'CaliNet'];
const EDITS = 5;
const key = (m: string) => m.toLowerCase().replace('-', '');

function kbgptCases(n: number) {
  return (JSON.parse(readFileSync(join(KBGPT, 'edits.json'), 'utf8')).cases as any[]).filter((c) => c.known_prompt).slice(0, n)
    .map((c) => ({ prompt: c.prompt, subject: c.subject, targetNew: c.target_new, groundTruth: c.ground_truth }));
}

function methodSuite(ctx: BenchContext, model: CausalLM, tok: Tokenizer, m: string): void {
  if (!ctx.selected(`${key(m)}_edit_seconds`) && !ctx.selected(`${key(m)}_score_ratio`)) return;
  const editor = new Editor(model, tok, { method: m, hparams: join('hparams', m.toUpperCase(), 'kbgpt.yaml') });
  try {
    const cases = kbgptCases(EDITS);
    const records = m === 'CaliNet' ? editor.edit(cases) : cases.map((r) => editor.edit(r)[0]);
    const perEdit = m === 'CaliNet' ? [records[0].seconds / cases.length] : records.map((r) => r.seconds);
    ctx.report.value(`${key(m)}_edit_seconds`, median(perEdit), 's', m === 'CaliNet' ? `per fact of one batch of ${EDITS}` : `median of ${EDITS} sequential edits`);
    const texts = kbgptCases(32).map((r) => ({ prompt: r.prompt, continuation: ` ${r.targetNew}` }));
    const edited = measure(() => { editor.edited.score(texts); }, { minIters: 5, minSeconds: 1 });
    const plain = new TextLM(model, tok);
    editor.restore();
    const base = measure(() => { plain.score(texts); }, { minIters: 5, minSeconds: 1 });
    ctx.report.value(`${key(m)}_score_ratio`, edited.medianMs / base.medianMs, 'ratio', `32 requests with ${EDITS} edits installed / unedited: ${describeTiming(edited)} vs ${describeTiming(base)}`);
  } finally {
    editor.restore();
    editor.dispose();
  }
}

/** One rank-one edit of layer 0's down-projection against 500 earlier edits' keys (random, kbgpt-sized). */
function conflictCheck(ctx: BenchContext, model: CausalLM): void {
  if (!ctx.selected('conflict_check_ms')) return;
  const module = 'transformer.h.0.mlp.c_proj';
  const g = new Generator(0);
  const dIn = 4 * model.dims.hiddenSize;
  const keys = (n: number) => keep(randn([dIn, n], { generator: g }));
  const edit: Edit = {
    deltas: [{ param: `${module}.weight`, left: keep(randn([dIn, 1], { generator: g })), right: keep(randn([model.dims.hiddenSize, 1], { generator: g })) }],
    diagnostics: [], statsKeys: [], memory: { [keysMemoryName(module)]: keys(1) },
  };
  const earlier = Array.from({ length: 500 }, (_, i) => ({
    id: `edit-${i + 1}`, requests: [], edit: { deltas: [], diagnostics: [], statsKeys: [], memory: { [keysMemoryName(module)]: keys(1) } } as Edit,
  }));
  const t = measure(() => { findConflicts(model, 'edit-501', edit, earlier); }, { minIters: 5, minSeconds: 1 });
  ctx.report.value('conflict_check_ms', t.medianMs, 'ms', `one rank-one edit against 500 earlier keys at its module: ${describeTiming(t)}`);
  for (const e of [edit, ...earlier.map((x) => x.edit)]) {
    for (const x of Object.values(e.memory ?? {})) x.dispose();
    for (const d of e.deltas) { d.left?.dispose(); d.right?.dispose(); }
  }
}

export const extraParamsSuite: BenchSuite = {
  name: 'extra',
  description: 'seconds per edit and inference cost of GRACE, T-Patcher, WISE and CaliNet on kbgpt; the edit-conflict check',
  benchmarks: [...METHODS.flatMap((m) => [`${key(m)}_edit_seconds`, `${key(m)}_score_ratio`]), 'conflict_check_ms'],
  run(ctx: BenchContext): void {
    const model = loadModel(KBGPT);
    const tok = loadTokenizer(KBGPT);
    try {
      for (const m of METHODS) methodSuite(ctx, model, tok, m);
      conflictCheck(ctx, model);
    } finally {
      model.dispose();
    }
  },
};
