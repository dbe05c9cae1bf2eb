// lmedit trace: ROME-style causal tracing of one fact (a tokens × layers heatmap) or the mean over many known facts
// (per-layer indirect effect at the subject's last token, and the paper's token-category heatmap).
import * as path from 'node:path';
import { loadModel } from '../../models/index.js';
import { loadTokenizer } from '../../io/tokenizer.js';
import { prepareOutDir } from '../../io/out-dir.js';
import { writeFileAtomicSync } from '../../io/atomic.js';
import { loadCases } from '../../eval/datasets/index.js';
import {
  averageCausalTrace, causalTrace, defaultWindow, indirectEffects, TOKEN_CATEGORIES, TRACE_KINDS,
  type AverageTraceResult, type CausalTraceResult, type TraceCase, type TraceKind,
} from '../../locate/index.js';
import { KIND_COLORS, renderHeatmap } from '../../report/heatmap.js';
import { dtypeOption, numberOption, parse, requireModel, UsageError } from '../args.js';
import { Progress } from '../progress.js';

const USAGE = `usage: lmedit trace --model <dir|repo id> --prompt "text" --subject "text" [--answer "text"]
                    [--kind hidden|mlp|attn] [--window N] [--samples 10] [--noise 3 | --noise-std S]
                    [--seed 0] [--max-rows 128] [--out DIR] [--json]
       lmedit trace --model <dir|repo id> --data edits.json [--known] [--n 100] [--offset 0] [--all-tokens] ...

Causal tracing (Meng et al. 2022): Gaussian noise is added to the subject's token embeddings (std = --noise × the
std of subject-token embeddings, or --noise-std), then one site at a time is restored to its clean value and
P(answer's first token) measured, averaged over --samples corrupted rows.
  --kind     hidden = block output (default), mlp = MLP output, attn = attention output
  --window   consecutive layers restored together, centred on the layer (default 1 for hidden, 10 for mlp/attn)
  --answer   default: the clean model's arg-max
  --data     average over the cases of a dataset file (the answer is each case's ground truth); --known keeps the
             facts the dataset marks as known; --all-tokens also averages the paper's token categories (slower)
  --out      directory for trace.json, trace.svg and trace.png (a new or empty directory, or one lmedit made)`;

const OPTIONS = {
  prompt: { type: 'string' }, subject: { type: 'string' }, answer: { type: 'string' },
  kind: { type: 'string' }, window: { type: 'string' }, samples: { type: 'string' }, noise: { type: 'string' },
  'noise-std': { type: 'string' }, seed: { type: 'string' }, 'max-rows': { type: 'string' }, out: { type: 'string' },
  json: { type: 'boolean' }, data: { type: 'string' }, known: { type: 'boolean' }, n: { type: 'string' },
  offset: { type: 'string' }, 'all-tokens': { type: 'boolean' },
} as const;

function intOption(values: Record<string, any>, name: string, min: number): number | undefined {
  const v = numberOption(values, name);
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got '${values[name]}'`);
  return v;
}

function nonNegative(values: Record<string, any>, name: string): number | undefined {
  const v = numberOption(values, name);
  if (v !== undefined && v < 0) throw new UsageError(`--${name} must be ≥ 0, got '${values[name]}'`);
  return v;
}

export async function traceCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, OPTIONS, USAGE);
  const dir = requireModel(values, USAGE);
  const kind = (values.kind ?? 'hidden') as TraceKind;
  if (!TRACE_KINDS.includes(kind)) throw new UsageError(`--kind must be one of ${TRACE_KINDS.join(', ')}, got '${values.kind}'`);
  const window = intOption(values, 'window', 1) ?? defaultWindow(kind);
  const samples = intOption(values, 'samples', 1) ?? 10;
  const seed = intOption(values, 'seed', 0) ?? 0;
  const maxRows = intOption(values, 'max-rows', 2);
  const noise = nonNegative(values, 'noise');
  const noiseStd = nonNegative(values, 'noise-std');
  if (noise !== undefined && noiseStd !== undefined) throw new UsageError('give at most one of --noise and --noise-std');
  const averaging = values.data !== undefined;
  if (averaging && (values.prompt !== undefined || values.subject !== undefined)) throw new UsageError('--data averages over a dataset: do not also give --prompt/--subject');
  if (!averaging) {
    if (values.prompt === undefined || values.subject === undefined) throw new UsageError(`give --prompt and --subject (or --data)\n\n${USAGE}`);
    if (!String(values.prompt).includes(values.subject)) throw new UsageError(`--subject '${values.subject}' does not occur in --prompt '${values.prompt}'`);
  } else if (values.answer !== undefined) {
    throw new UsageError('--answer is for a single trace; with --data each case\'s ground truth is the answer');
  }
  const n = intOption(values, 'n', 1);
  const offset = intOption(values, 'offset', 0);

  // Check the output directory before the (long) work.
  const out = values.out === undefined ? undefined : prepareOutDir(values.out, 'trace', { writes: ['trace.json', 'trace.svg', 'trace.png'] });
  const model = loadModel(dir, { dtype: dtypeOption(values) });
  const tok = loadTokenizer(model.source.dir, model.source.rawConfig);
  const common = { kind, window, samples, seed, maxRows, noise, noiseStd };
  try {
    if (!averaging) {
      const progress = new Progress('trace', tok.encode(values.prompt).length * model.dims.numLayers, { unit: 'sites' });
      const r = causalTrace(model, tok, {
        ...common, prompt: values.prompt, subject: values.subject, answer: values.answer,
        onProgress: (done) => progress.update(done),
      });
      progress.finish();
      const files = out ? writeSingle(out.dir, r, dir) : [];
      if (values.json) console.log(JSON.stringify({ model: dir, ...r, indirectEffects: indirectEffects(r), files }, null, 2));
      else printSingle(r, files);
      return;
    }
    const loaded = loadCases(values.data, { known: values.known ?? false, n: n ?? 100, offset });
    const cases: TraceCase[] = loaded.cases.map((c) => {
      const prompt = c.request.prompt.includes('{}') ? c.request.prompt.replace('{}', c.request.subject) : c.request.prompt;
      return { prompt, subject: c.request.subject, answer: c.request.groundTruth };
    });
    if (cases.length === 0) throw new UsageError(`--data ${values.data}: no cases selected`);
    for (const c of cases) {
      if (!c.prompt.includes(c.subject)) throw new Error(`--data ${values.data}: subject '${c.subject}' does not occur in the prompt '${c.prompt}'`);
    }
    const progress = new Progress('trace', cases.length, { unit: 'facts' });
    const r = averageCausalTrace(model, tok, cases, { ...common, allTokens: values['all-tokens'] ?? false, onProgress: (d) => progress.update(d) });
    progress.finish();
    const files = out ? writeAverage(out.dir, r, dir, values.data) : [];
    if (values.json) console.log(JSON.stringify({ model: dir, data: values.data, ...r, files }, null, 2));
    else printAverage(r, files);
  } finally {
    model.dispose();
  }
}

function kindName(kind: TraceKind, window: number): string {
  const what = kind === 'hidden' ? 'block output' : kind === 'mlp' ? 'MLP output' : 'attention output';
  return window > 1 ? `${what} (window ${window})` : what;
}

function writeSingle(dir: string, r: CausalTraceResult, model: string): string[] {
  const { svg, png } = renderHeatmap({
    // rows = tokens, columns = layers (the paper's Figure 1)
    values: r.tokenIds.map((_, t) => r.scores.map((row) => row[t])),
    rowLabels: r.tokens, columnLabels: r.scores.map((_, l) => String(l)),
    markedRows: Array.from({ length: r.subjectRange[1] - r.subjectRange[0] }, (_, i) => r.subjectRange[0] + i),
    title: `Restoring ${kindName(r.kind, r.window)}`, xLabel: 'layer', valueLabel: `p(${r.answer.text.trim()})`,
    color: KIND_COLORS[r.kind], min: r.low,
  });
  return writeAll(dir, { model, ...r, indirectEffects: indirectEffects(r) }, svg, png);
}

function writeAverage(dir: string, r: AverageTraceResult, model: string, data: string): string[] {
  const byCategory = r.categoryEffect;
  const values = byCategory
    ? TOKEN_CATEGORIES.map((_, k) => byCategory.map((row) => row[k]))
    : [r.lastSubjectEffect];
  const { svg, png } = renderHeatmap({
    values, rowLabels: byCategory ? [...TOKEN_CATEGORIES] : ['last subject token'],
    columnLabels: r.lastSubjectEffect.map((_, l) => String(l)),
    title: `Average indirect effect, ${kindName(r.kind, r.window)}, ${r.n} facts`, xLabel: 'layer', valueLabel: 'AIE',
    color: KIND_COLORS[r.kind], min: 0,
  });
  return writeAll(dir, { model, data, ...r }, svg, png);
}

function writeAll(dir: string, json: unknown, svg: string, png: Buffer): string[] {
  const files = ['trace.json', 'trace.svg', 'trace.png'].map((f) => path.join(dir, f));
  writeFileAtomicSync(files[0], JSON.stringify(json, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  writeFileAtomicSync(files[1], svg);
  writeFileAtomicSync(files[2], png);
  return files;
}

function printSingle(r: CausalTraceResult, files: string[]): void {
  console.log(`answer ${JSON.stringify(r.answer.text)} (id ${r.answer.id}); P clean ${r.high.toFixed(4)}, corrupted ${r.low.toFixed(4)} (noise std ${r.noiseStd.toFixed(4)}, ${r.samples} samples)`);
  console.log(`restored ${kindName(r.kind, r.window)}; P(answer) per token (rows) and layer (columns), * = subject:`);
  const w = Math.max(...r.tokens.map((t) => JSON.stringify(t).length)) + 2;
  console.log(' '.repeat(w) + r.scores.map((_, l) => String(l).padStart(7)).join(''));
  r.tokens.forEach((t, i) => {
    const mark = i >= r.subjectRange[0] && i < r.subjectRange[1] ? '*' : ' ';
    console.log((JSON.stringify(t) + mark).padEnd(w) + r.scores.map((row) => row[i].toFixed(4).padStart(7)).join(''));
  });
  for (const f of files) console.log(`wrote ${f}`);
}

function printAverage(r: AverageTraceResult, files: string[]): void {
  console.log(`${r.n} facts; mean P(answer) clean ${r.high.toFixed(4)}, corrupted ${r.low.toFixed(4)} (noise std ${r.noiseStd.toFixed(4)}, ${r.samples} samples)`);
  console.log(`mean indirect effect of restoring the ${kindName(r.kind, r.window)} at the subject's last token:`);
  r.lastSubjectEffect.forEach((v, l) => console.log(`  layer ${String(l).padStart(3)}  ${v.toFixed(4)} ± ${r.lastSubjectStderr[l].toFixed(4)}`));
  const best = r.lastSubjectEffect.indexOf(Math.max(...r.lastSubjectEffect));
  console.log(`largest at layer ${best}`);
  if (r.categoryEffect) {
    console.log('by token category (rows) and layer (columns):');
    TOKEN_CATEGORIES.forEach((c, k) => console.log(`  ${c.padEnd(24)}${r.categoryEffect!.map((row) => (Number.isFinite(row[k]) ? row[k].toFixed(4) : '   -  ').padStart(8)).join('')}`));
  }
  for (const f of files) console.log(`wrote ${f}`);
}
