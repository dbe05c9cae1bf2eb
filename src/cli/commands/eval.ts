// lmedit eval: edit many cases under a setting and measure them with the ROME/MEMIT CounterFact protocol.
// Writes <out>/cases.jsonl (one line per case, appended as it goes: a rerun skips finished cases), summary.json and
// summary.md. The pre-edit scores are computed once and stored in <out>/pre.json.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../models/index.js';
import { loadTokenizer } from '../../io/tokenizer.js';
import { readHparamsFile } from '../../methods/hparams.js';
import { Editor } from '../../editor/editor.js';
import { runSetting, type EditMode } from '../../editor/settings.js';
import { readFlatCases, type EditCase } from '../../eval/cases.js';
import { caseMetrics, scoreCases, summarize, ROME_PROTOCOL, type RomeCaseScores } from '../../eval/rome-protocol.js';
import { Progress } from '../progress.js';
import { numberOption, parse, requireModel, UsageError } from '../args.js';
import { defaultHparams, statsProvider } from '../editing.js';

const USAGE = `usage: lmedit eval --model <dir> --method ROME --data <cases.json> --out <dir> [options]

  --n N               number of cases (default 200)     --offset K   skip the first K cases
  --known             only cases the model knows (known_prompt flag of the data)
  --mode M            single (default), batch, sequential
  --batch-size N      requests per edit in batch/sequential modes (default 1)
  --measure-when W    sequential: each (default) or end
  --hparams FILE      default hparams/<METHOD>/<model name>.yaml
  --corpus PATH       statistics corpus (default $LMEDIT_CORPUS)   --samples N  statistics budget`;

export async function evalCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    method: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, n: { type: 'string' }, offset: { type: 'string' },
    known: { type: 'boolean' }, mode: { type: 'string' }, 'batch-size': { type: 'string' }, 'measure-when': { type: 'string' },
    hparams: { type: 'string' }, corpus: { type: 'string' }, samples: { type: 'string' }, seed: { type: 'string' },
  }, USAGE);
  const modelPath = requireModel(values, USAGE);
  if (!values.data || !values.out) throw new UsageError(`--data and --out are required\n\n${USAGE}`);
  const mode = (values.mode ?? 'single') as EditMode;
  if (!['single', 'batch', 'sequential'].includes(mode)) throw new UsageError(`--mode must be single, batch or sequential`);
  const method = String(values.method ?? 'ROME').toUpperCase();
  let cases = readFlatCases(values.data);
  if (values.known) cases = cases.filter((c) => c.flags.known_prompt !== false);
  const offset = numberOption(values, 'offset', 0)!;
  cases = cases.slice(offset, offset + numberOption(values, 'n', 200)!);
  const model = loadModel(modelPath);
  const tok = loadTokenizer(model.source.dir, model.source.rawConfig);
  const hparamsFile = defaultHparams(method, model, values.hparams);
  const samples = numberOption(values, 'samples') ?? Number(readHparamsFile(hparamsFile).raw.mom2_n_samples ?? 100000);
  const stats = statsProvider(tok, { corpus: values.corpus, samples }, samples);
  const editor = new Editor(model, tok, { method, hparams: hparamsFile, stats, seed: numberOption(values, 'seed', 0) });
  mkdirSync(values.out, { recursive: true });
  const casesFile = join(values.out, 'cases.jsonl');
  const done = new Set<string>(existsSync(casesFile) ? readFileSync(casesFile, 'utf8').split('\n').filter(Boolean).map((l) => String(JSON.parse(l).caseId)) : []);
  if (done.size > 0 && mode !== 'single') throw new UsageError(`${casesFile} exists: resuming is supported in single mode; use a new --out`);
  const todo = cases.filter((c) => !done.has(String(c.caseId)));
  const pre = preScores(model, tok, cases, join(values.out, 'pre.json'));
  const progress = new Progress(`${method} ${mode}`, cases.length, { unit: 'cases' });
  progress.update(cases.length - todo.length);
  const started = performance.now();
  runSetting(editor, todo.map((c) => c.request), {
    mode,
    batchSize: numberOption(values, 'batch-size', 1),
    measureWhen: values['measure-when'] === 'end' ? 'end' : 'each',
    measure: (requests, records) => {
      const chunk = requests.map((r) => todo.find((c) => c.request === r)!);
      const post = scoreCases(model, tok, chunk);
      chunk.forEach((c, i) => {
        const rec = records.find((x) => x.requests.some((q) => q.caseId === c.caseId));
        const line = {
          caseId: c.caseId, protocol: ROME_PROTOCOL, mode, method,
          pre: pre.get(String(c.caseId)), post: post[i], metrics: caseMetrics(post[i]),
          seconds: rec ? rec.seconds / rec.requests.length : undefined,
        };
        appendFileSync(casesFile, JSON.stringify(line) + '\n');
      });
      return post;
    },
    onProgress: (n) => progress.update(cases.length - todo.length + n),
  });
  progress.finish();
  const lines = readFileSync(casesFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const summary = {
    protocol: ROME_PROTOCOL, method, mode, batchSize: numberOption(values, 'batch-size', 1), data: values.data, model: model.source.dir,
    hparams: editor.hparams, hparamsFile, statsKeys: [...new Set(editor.history.flatMap((r) => r.statsKeys))],
    pre: summarize(lines.map((l) => caseMetrics(l.pre))), post: summarize(lines.map((l) => l.metrics)),
    secondsPerCase: (performance.now() - started) / 1000 / Math.max(1, todo.length),
  };
  writeFileSync(join(values.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  const row = (name: string, s: Record<string, number>) => `| ${name} | ${s.n} | ${f(s.ES)} | ${f(s.PS)} | ${f(s.NS)} | ${f(s.S)} | ${f(s.EM)} | ${f(s.PM)} | ${f(s.NM)} |`;
  const md = [`# ${method} (${mode}${mode !== 'single' ? `, batch ${summary.batchSize}` : ''}) on ${values.data}`, '',
    `protocol ${ROME_PROTOCOL}; hparams ${hparamsFile}; statistics ${summary.statsKeys.join(', ') || 'none'}`, '',
    '| | n | ES | PS | NS | S | EM | PM | NM |', '|---|---|---|---|---|---|---|---|---|',
    row('before', summary.pre), row('after', summary.post), ''].join('\n');
  writeFileSync(join(values.out, 'summary.md'), md);
  console.log(md);
  editor.dispose();
  model.dispose();
}

function f(x: number): string {
  return Number.isNaN(x) ? '—' : x.toFixed(1);
}

/** Pre-edit scores for every case, computed once per output directory. */
function preScores(model: Parameters<typeof scoreCases>[0], tok: Parameters<typeof scoreCases>[1], cases: EditCase[], file: string): Map<string, RomeCaseScores> {
  const cached: Record<string, RomeCaseScores> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const missing = cases.filter((c) => !(String(c.caseId) in cached));
  if (missing.length > 0) {
    const s = scoreCases(model, tok, missing);
    missing.forEach((c, i) => { cached[String(c.caseId)] = s[i]; });
    writeFileSync(file, JSON.stringify(cached));
  }
  return new Map(Object.entries(cached));
}
