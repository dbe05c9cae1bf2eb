// lmedit eval: edit many cases under a setting and measure them with every protocol (the ROME/MEMIT CounterFact
// probability comparison, EasyEdit's token accuracy, ROME's zsRE accuracy), optionally other-task locality. Writes a
// run directory (src/eval/run.ts): cases.jsonl (resumable), pre.json, summary.json, summary.md.
import { basename, join } from 'node:path';
import { loadEditableModel, textModelFor } from '../../models/index.js';
import { casesThatFit } from '../../eval/fit.js';
import { loadTokenizer } from '../../io/tokenizer.js';
import { readHparamsFile } from '../../methods/hparams.js';
import { Editor } from '../../editor/editor.js';
import type { EditMode } from '../../editor/settings.js';
import { distractingNeighbors, loadAddons, loadCases, type DatasetFormat } from '../../eval/datasets/index.js';
import { TfidfModel, type CorpusSplit } from '../../eval/generation.js';
import { dataReferenceTexts } from '../../eval/run.js';
import { evaluate, summaryMarkdown } from '../../eval/run.js';
import { readMultipleChoice } from '../../eval/multiple-choice.js';
import { defaultStatsDir, modelFingerprint } from '../../stats/index.js';
import { Progress } from '../progress.js';
import { numberOption, parse, requireModel, UsageError } from '../args.js';
import { defaultHparams, hparamOverrides, methodPool, statsProvider } from '../editing.js';

const USAGE = `usage: lmedit eval --model <dir> --method ROME --data <cases.json> --out <run dir> [options]

data (formats: flat CounterFact/EasyEdit, zsRE MEND, ROME CounterFact, KnowEdit, MQuAKE; docs/datasets.md)
  --format F            auto (default), flat, zsre, counterfact-rome, knowedit, mquake
  --n N                 number of cases (default 200)       --offset K   skip the first K cases
  --sample-seed S       draw the n cases at random (reproducibly) instead of the first n
  --known               only cases the model knows (known_prompt flag of the data)
  --skip-invalid        drop records that do not follow the format, or whose probes do not fit the model's
                        context (counted), instead of stopping
  --addons FILE         per-case portability/locality add-on lists (subject replace, one-hop, …) to merge
  --distracting         add distracting-neighbour locality probes (the edit statement before each neighbour)
setting
  --mode M              single (default), batch, sequential
  --batch-size N        requests per edit in batch/sequential settings (default 1)
  --measure-when W      sequential: each (default: every case right after its edit) or end
  --curve 10,50,100     sequential: measure all edits so far after these numbers of edits
method
  --method NAME         ROME (default), R-ROME, MEMIT, EMMET, AlphaEdit, PMET, KN, FT-L, FT-M, GRACE, T-Patcher,
                        WISE, CaliNet, IKE
  --hparams FILE        default hparams/<METHOD>/<model name>.yaml
  --set FIELD=VALUE     override one hparams field (repeatable; YAML value), e.g. --set mom2_update_weight=1000
  --editor DIR          a trained editor (lmedit train --out) for MEND, KE, SERAC: sets the hparams' archive
  --corpus PATH         statistics corpus (default $LMEDIT_CORPUS)   --samples N  statistics budget
  --seed S              the method's seed (context templates; default 0)
  --value-cache DIR     reuse optimised values (ROME v*, MEMIT z) computed on the unedited model by earlier runs
                        (e.g. MEMIT at several batch sizes, ROME then R-ROME); the summary counts the reused ones
extra metrics
  --other-task FILE     multiple-choice JSONL (PIQA fields or {question, choices, label}) measured before and after
  --other-task-n N      items of it to use (default 50)
  --generation          fluency (n-gram entropy of top-k samples, ×100) before and after each edit
  --idf-corpus FILE     with --generation: TF-IDF consistency against the case's reference texts, IDF from FILE
  --idf-split S         documents of the IDF corpus: paragraphs (default), lines, wikitext-articles
  --references-from-data  reference texts of a case = the other cases' statements whose answer is its new target

--out must be new or empty, or a run directory of the same run (run.json: model, data, method, hparams, setting,
seeds): a rerun skips finished cases (sequential: resumes from the checkpoint state.safetensors), another run is
refused naming what differs. Ctrl-C stops after the current edit and writes a valid partial summary.`;

export async function evalCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    method: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, n: { type: 'string' }, offset: { type: 'string' },
    known: { type: 'boolean' }, mode: { type: 'string' }, 'batch-size': { type: 'string' }, 'measure-when': { type: 'string' },
    curve: { type: 'string' }, hparams: { type: 'string' }, set: { type: 'string', multiple: true }, editor: { type: 'string' }, corpus: { type: 'string' }, samples: { type: 'string' }, seed: { type: 'string' }, 'value-cache': { type: 'string' },
    'other-task': { type: 'string' }, 'other-task-n': { type: 'string' }, format: { type: 'string' }, 'sample-seed': { type: 'string' },
    'skip-invalid': { type: 'boolean' }, addons: { type: 'string' }, distracting: { type: 'boolean' }, generation: { type: 'boolean' },
    'idf-corpus': { type: 'string' }, 'references-from-data': { type: 'boolean' }, 'idf-split': { type: 'string' },
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
  const sampleSeed = numberOption(values, 'sample-seed');
  const loaded = loadCases(values.data, {
    format: (values.format ?? 'auto') as DatasetFormat | 'auto', n, offset, seed: sampleSeed, known: Boolean(values.known), skipInvalid: Boolean(values['skip-invalid']),
  });
  let cases = loaded.cases;
  if (cases.length === 0) throw new UsageError(`${values.data}: no cases selected (offset ${offset}, n ${n}${values.known ? ', known only' : ''})`);
  const skippedTotal = loaded.skipped.emptyTarget + loaded.skipped.invalid;
  if (skippedTotal > 0) console.error(`lmedit eval: ${values.data}: skipped ${loaded.skipped.emptyTarget} records without a new target and ${loaded.skipped.invalid} invalid ones`);
  if (values.addons) cases = loadAddons(cases, values.addons);
  if (values.distracting) cases = distractingNeighbors(cases);
  if (values['references-from-data']) cases = dataReferenceTexts(cases, loadCases(values.data, { format: loaded.format, skipInvalid: true }).cases);
  if (values['idf-corpus'] && !values.generation) throw new UsageError('--idf-corpus needs --generation');
  const otherTask = values['other-task']
    ? { file: values['other-task'], items: readMultipleChoice(values['other-task'], { n: numberOption(values, 'other-task-n', 50) }) }
    : undefined;

  const model = loadEditableModel(modelPath);
  const tok = loadTokenizer(model.source.dir, model.source.rawConfig);
  const window = textModelFor(model, tok).maxPositions;
  const { fit, overflow } = casesThatFit(tok, cases, window);
  if (overflow.length && !values['skip-invalid']) {
    throw new UsageError(`${values.data}: ${overflow.length} case(s) do not fit the model's context (${overflow.slice(0, 3).join('; ')}${overflow.length > 3 ? '; …' : ''}); drop them with --skip-invalid`);
  }
  if (overflow.length) console.error(`lmedit eval: ${values.data}: skipped ${overflow.length} case(s) that do not fit the model's ${window} positions (first: ${overflow[0]})`);
  cases = fit;
  if (cases.length === 0) throw new UsageError(`${values.data}: no case fits the model's context`);
  const hparamsFile = defaultHparams(method, model, values.hparams);
  const overrides = hparamOverrides(values.set);
  if (values.editor) overrides.archive = values.editor;
  const samples = numberOption(values, 'samples') ?? Number(overrides.mom2_n_samples ?? readHparamsFile(hparamsFile).raw.mom2_n_samples ?? 100000);
  const stats = statsProvider(tok, { corpus: values.corpus, samples }, samples);
  const pool = methodPool(hparamsFile, overrides);
  const progress = new Progress(`${method} ${mode}`, cases.length, { unit: 'cases' });
  const editor = new Editor(model, tok, {
    method, hparams: hparamsFile, overrides, stats, seed: numberOption(values, 'seed', 0), valueCache: values['value-cache'],
    log: (m) => progress.note(m), // progress inside a chunk (MEMIT's z i/n in a batch of 1,000)
    pool: pool?.requests,
  });

  const generation = values.generation
    ? { tfidf: values['idf-corpus'] ? TfidfModel.fromCorpus(values['idf-corpus'], { split: idfSplit(values['idf-split']), cacheDir: join(defaultStatsDir(), '..', 'tfidf') }) : undefined }
    : undefined;
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    console.error('\nlmedit eval: stopping after the current edit (Ctrl-C again to quit at once; finished cases are kept)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const summary = await evaluate({
      editor, cases, out: values.out, mode, batchSize: numberOption(values, 'batch-size', 1), measureWhen: measureWhen as 'each' | 'end', curve, otherTask, generation,
      meta: {
        name: basename(values.out), command: ['lmedit', 'eval', ...argv], modelFingerprint: modelFingerprint(model.source.dir),
        data: {
          file: values.data, format: loaded.format, n, offset, sampleSeed: sampleSeed ?? null, known: Boolean(values.known), selected: cases.length,
          skipped: loaded.skipped, addons: values.addons ?? null, distracting: Boolean(values.distracting), overflowSkipped: overflow.length,
          pool: pool ? { file: pool.file, range: pool.range, size: pool.requests.length } : null,
        },
      },
      signal: controller.signal,
      onProgress: (done) => progress.update(done),
      onResume: (done) => progress.resume(done),
      onWarning: (m) => progress.note(`warning: ${m}`),
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

function idfSplit(v: string | undefined): CorpusSplit {
  const s = v ?? 'paragraphs';
  if (!['paragraphs', 'lines', 'wikitext-articles'].includes(s)) throw new UsageError(`--idf-split must be paragraphs, lines or wikitext-articles`);
  return s as CorpusSplit;
}
