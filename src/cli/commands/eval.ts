// lmedit eval: edit many cases under a setting and measure them with every protocol (the ROME/MEMIT CounterFact
// probability comparison, EasyEdit's token accuracy, ROME's zsRE accuracy), optionally other-task locality. Writes a
// run directory (src/eval/run.ts): cases.jsonl (resumable), pre.json, summary.json, summary.md.
import { basename } from 'node:path';
import { loadModel } from '../../models/index.js';
import { loadTokenizer } from '../../io/tokenizer.js';
import { readHparamsFile } from '../../methods/hparams.js';
import { Editor } from '../../editor/editor.js';
import type { EditMode } from '../../editor/settings.js';
import { readFlatCases } from '../../eval/cases.js';
import { evaluate, summaryMarkdown } from '../../eval/run.js';
import { readMultipleChoice } from '../../eval/multiple-choice.js';
import { modelFingerprint } from '../../stats/index.js';
import { Progress } from '../progress.js';
import { numberOption, parse, requireModel, UsageError } from '../args.js';
import { defaultHparams, statsProvider } from '../editing.js';

const USAGE = `usage: lmedit eval --model <dir> --method ROME --data <cases.json> --out <run dir> [options]

data
  --n N                 number of cases (default 200)       --offset K   skip the first K cases
  --known               only cases the model knows (known_prompt flag of the data)
setting
  --mode M              single (default), batch, sequential
  --batch-size N        requests per edit in batch/sequential settings (default 1)
  --measure-when W      sequential: each (default: every case right after its edit) or end
  --curve 10,50,100     sequential: measure all edits so far after these numbers of edits
method
  --method NAME         ROME (default), R-ROME, MEMIT, FT-L, FT-M
  --hparams FILE        default hparams/<METHOD>/<model name>.yaml
  --corpus PATH         statistics corpus (default $LMEDIT_CORPUS)   --samples N  statistics budget
  --seed S              the method's seed (context templates; default 0)
extra metrics
  --other-task FILE     multiple-choice JSONL (PIQA fields or {question, choices, label}) measured before and after
  --other-task-n N      items of it to use (default 50)

A rerun into the same --out skips finished cases (single and batch settings). Ctrl-C stops after the current edit
and writes a valid partial summary.`;

export async function evalCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    method: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, n: { type: 'string' }, offset: { type: 'string' },
    known: { type: 'boolean' }, mode: { type: 'string' }, 'batch-size': { type: 'string' }, 'measure-when': { type: 'string' },
    curve: { type: 'string' }, hparams: { type: 'string' }, corpus: { type: 'string' }, samples: { type: 'string' }, seed: { type: 'string' },
    'other-task': { type: 'string' }, 'other-task-n': { type: 'string' },
  }, USAGE);
  const modelPath = requireModel(values, USAGE);
  if (!values.data || !values.out) throw new UsageError(`--data and --out are required\n\n${USAGE}`);
  const mode = (values.mode ?? 'single') as EditMode;
  if (!['single', 'batch', 'sequential'].includes(mode)) throw new UsageError(`--mode must be single, batch or sequential`);
  const measureWhen = values['measure-when'] ?? 'each';
  if (!['each', 'end'].includes(measureWhen)) throw new UsageError(`--measure-when must be each or end`);
  const curve = values.curve ? String(values.curve).split(',').map((x) => {
    const k = Number(x);
    if (!Number.isInteger(k) || k < 1) throw new UsageError(`--curve: '${x}' is not a positive integer`);
    return k;
  }) : undefined;
  if (curve && mode !== 'sequential') throw new UsageError('--curve applies to --mode sequential');
  const method = String(values.method ?? 'ROME').toUpperCase();
  const n = numberOption(values, 'n', 200)!;
  const offset = numberOption(values, 'offset', 0)!;
  let cases = readFlatCases(values.data);
  if (values.known) cases = cases.filter((c) => c.flags.known_prompt !== false);
  cases = cases.slice(offset, offset + n);
  if (cases.length === 0) throw new UsageError(`${values.data}: no cases selected (offset ${offset}, n ${n}${values.known ? ', known only' : ''})`);
  const otherTask = values['other-task']
    ? { file: values['other-task'], items: readMultipleChoice(values['other-task'], { n: numberOption(values, 'other-task-n', 50) }) }
    : undefined;

  const model = loadModel(modelPath);
  const tok = loadTokenizer(model.source.dir, model.source.rawConfig);
  const hparamsFile = defaultHparams(method, model, values.hparams);
  const samples = numberOption(values, 'samples') ?? Number(readHparamsFile(hparamsFile).raw.mom2_n_samples ?? 100000);
  const stats = statsProvider(tok, { corpus: values.corpus, samples }, samples);
  const editor = new Editor(model, tok, { method, hparams: hparamsFile, stats, seed: numberOption(values, 'seed', 0) });

  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    console.error('\nlmedit eval: stopping after the current edit (Ctrl-C again to quit at once; finished cases are kept)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const progress = new Progress(`${method} ${mode}`, cases.length, { unit: 'cases' });
  try {
    const summary = await evaluate({
      editor, cases, out: values.out, mode, batchSize: numberOption(values, 'batch-size', 1), measureWhen: measureWhen as 'each' | 'end', curve, otherTask,
      meta: {
        name: basename(values.out), command: ['lmedit', 'eval', ...argv], modelFingerprint: modelFingerprint(model.source.dir),
        data: { file: values.data, format: 'flat', n, offset, known: Boolean(values.known), selected: cases.length },
      },
      signal: controller.signal,
      onProgress: (done) => progress.update(done),
    });
    progress.finish();
    console.log(summaryMarkdown(summary));
    if (!summary.run.complete) console.error(`lmedit eval: partial run (${summary.run.casesDone}/${summary.run.casesTotal} cases); rerun the same command to continue`);
  } finally {
    process.off('SIGINT', onSigint);
    editor.dispose();
    model.dispose();
  }
}
