// lmedit edit: one edit from the command line, with the model's answer and target probabilities before and after.
import { Editor } from '../../editor/editor.js';
import { editWithChecks, type CheckedReport } from '../../eval/check.js';
import { loadModel } from '../../models/index.js';
import { loadTokenizer } from '../../io/tokenizer.js';
import { checkAlgName, readHparamsFile } from '../../methods/hparams.js';
import { resolveModelDir } from '../../io/checkpoint.js';
import { dtypeOption, numberOption, parse, requireModel, UsageError } from '../args.js';
import { checkOutputTargets, defaultHparams, hparamOverrides, pct, statsProvider } from '../editing.js';

const USAGE = `usage: lmedit edit --model <dir|repo id> --prompt "The Eiffel Tower is located in" --subject "Eiffel Tower" --target "Rome" [options]

  --method M          ROME (default), R-ROME, MEMIT, EMMET, AlphaEdit, PMET, KN, FT-L, FT-M, GRACE, IKE
  --ground-truth T    the current answer (reported: is the new target now more likely?)
  --hparams FILE      hparams YAML (default: hparams/<METHOD>/<model name>.yaml)
  --set FIELD=VALUE   override one hparams field (repeatable; YAML value), e.g. --set layers=[3]
  --corpus PATH       text for second-moment statistics (default $LMEDIT_CORPUS); cached after the first run
  --samples N         statistics sample budget in chunks (default: the hparams' mom2_n_samples)
  --save DIR          write the edited model (Hugging Face format) to DIR (a new or empty directory)
  --delta FILE        write a compact edit pack (apply it with \`lmedit apply\`) to FILE (a new file)
  --overwrite         let --save replace a saved model and --delta an edit pack (nothing else is replaced,
                      and nothing is ever written inside the source model's directory)
  --seed S            seed for context templates (default 0)
  --json              print the report as JSON`;

export async function editCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    method: { type: 'string' }, prompt: { type: 'string' }, subject: { type: 'string' }, target: { type: 'string' },
    'ground-truth': { type: 'string' }, hparams: { type: 'string' }, set: { type: 'string', multiple: true }, corpus: { type: 'string' }, samples: { type: 'string' },
    save: { type: 'string' }, delta: { type: 'string' }, overwrite: { type: 'boolean' }, seed: { type: 'string' }, json: { type: 'boolean' },
  }, USAGE);
  const modelPath = requireModel(values, USAGE);
  for (const k of ['prompt', 'subject', 'target']) if (!values[k]) throw new UsageError(`--${k} is required\n\n${USAGE}`);
  if (values.overwrite && !values.save && !values.delta) throw new UsageError(`--overwrite applies to --save and --delta\n\n${USAGE}`);
  checkOutputTargets({ save: values.save, delta: values.delta, overwrite: values.overwrite }, resolveModelDir(modelPath)); // before any work
  const method = String(values.method ?? 'ROME').toUpperCase();
  const log = values.json ? undefined : (m: string) => console.error(m);
  log?.(`loading ${modelPath} …`);
  const model = loadModel(modelPath, { dtype: dtypeOption(values) });
  const tok = loadTokenizer(model.source.dir, model.source.rawConfig);
  const hparamsFile = defaultHparams(method, model, values.hparams);
  const overrides = hparamOverrides(values.set);
  const { raw: rawHparams, file: hparamsPath } = readHparamsFile(hparamsFile);
  checkAlgName({ ...rawHparams, ...overrides }, method, hparamsPath);
  const samples = numberOption(values, 'samples') ?? Number(overrides.mom2_n_samples ?? rawHparams.mom2_n_samples ?? 100000);
  const stats = statsProvider(tok, { corpus: values.corpus, samples }, samples);
  const editor = new Editor(model, tok, { method, hparams: hparamsFile, overrides, seed: numberOption(values, 'seed', 0), log, stats });
  const request = { prompt: values.prompt, subject: values.subject, targetNew: values.target, groundTruth: values['ground-truth'] };
  // as far as the context allows (a prompt that fits may leave fewer than 8 positions)
  const answer = () => editor.edited.generate([request.prompt], { maxNewTokens: 8 })[0].text;
  const answerBefore = answer();
  const [record] = editWithChecks(editor, request);
  const answerAfter = answer();
  let saved: string | undefined;
  if (values.save) {
    editor.save(values.save, { overwrite: values.overwrite });
    saved = values.save;
  }
  if (values.delta) editor.saveDelta(values.delta);
  const report = record.reports[0];
  if (values.json) {
    console.log(JSON.stringify({ method, hparams: hparamsFile, answerBefore, answerAfter, report: strip(report), statsKeys: record.statsKeys, seconds: record.seconds, saved, delta: values.delta }, null, 2));
  } else {
    printReport(method, hparamsFile, answerBefore, answerAfter, report, record.statsKeys, record.seconds);
    if (saved) console.log(`saved the edited model to ${saved}`);
    if (values.delta) console.log(`saved the edit pack to ${values.delta}`);
  }
  editor.dispose();
  model.dispose();
}

function strip(r: CheckedReport): CheckedReport {
  const { extra: _extra, ...rest } = r;
  return rest;
}

export function printReport(method: string, hparams: string, before: string, after: string, r: CheckedReport, statsKeys: string[], seconds: number): void {
  const p = (lp: number | undefined) => (lp === undefined ? '—' : pct(Math.exp(lp)));
  console.log(`${method} edit: "${r.prompt}" → "${r.targetNew.trim()}"   (hparams ${hparams})`);
  console.log(`  answer before: ${JSON.stringify(before)}`);
  console.log(`  answer after:  ${JSON.stringify(after)}`);
  console.log(`  P(new target)  ${p(r.before.targetNew)} → ${p(r.after.targetNew)}   (geometric mean over its tokens)`);
  if (r.before.groundTruth !== undefined) console.log(`  P(true answer) ${p(r.before.groundTruth)} → ${p(r.after.groundTruth)}   success: ${r.success ? 'yes' : 'no'}`);
  const trace = r.lossTrace ?? [];
  if (trace.length) console.log(`  loss ${trace[0].loss.toFixed(3)} → ${trace[trace.length - 1].loss.toFixed(3)} in ${trace.length} steps`);
  if (r.norms) console.log(`  norms: ${Object.entries(r.norms).map(([k, v]) => `${k} ${v.toPrecision(4)}`).join(', ')}`);
  console.log(`  ‖ΔW‖ ${r.deltaNorm.toPrecision(4)}, ${seconds.toFixed(2)} s, statistics: ${statsKeys.length ? statsKeys.join(', ') : 'none used'}`);
}
