// lmedit train: trains an editor (MEND, KE, SERAC) for a base model on edit records and writes the editor directory
// (editor.safetensors, train-log.jsonl, checkpoint.safetensors, curves-*.svg/png, summary.json). Resumable: rerun the
// same command after an interruption (Ctrl-C, kill -9) and training continues from the last checkpoint, to the same
// final weights. docs/training.md.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isEncoderDecoder, loadEditableModel } from '../../models/index.js';
import { requireCausal } from '../../methods/architecture.js';
import { loadTokenizer } from '../../io/tokenizer.js';
import { writeFileAtomicSync } from '../../io/atomic.js';
import { prepareOutDir } from '../../io/out-dir.js';
import { checkAlgName, readHparamsFile, validateHparams } from '../../methods/hparams.js';
import { normalizeRequest, type EditRequest } from '../../methods/request.js';
import { baseIdentity, type TrainRecord } from '../../methods/trained.js';
import type { TrainingHparams } from '../../methods/trained-hparams.js';
import { methodFor, methodNames } from '../../editor/methods.js';
import { loadCases } from '../../eval/datasets/index.js';
import type { EditCase } from '../../eval/cases.js';
import { kbTrainingRequests, parsePeopleRange } from '../../eval/datasets/kb-train.js';
import { trainEditor, type TrainSummary } from '../../train/trainer.js';
import { readTrainLog, LOG_FILE } from '../../train/log.js';
import { writeTrainingCharts } from '../../report/training.js';
import { dtypeOption, numberOption, parse, requireModel, UsageError } from '../args.js';
import { defaultHparams, hparamOverrides } from '../editing.js';
import { Progress, formatSeconds } from '../progress.js';

const USAGE = `usage: lmedit train --method MEND --model <dir> --out <editor dir> <training data> [options]

  Trains an editor (MEND, KE, SERAC) for the base model and writes it to --out; evaluate it with
  \`lmedit eval --method MEND --editor <editor dir> …\`. Rerun the same command to resume an interrupted run.

training data (one of)
  --kb FILE --train-people A-B --val-people C-D
                     records generated from a knowledge base (kbgpt's kb.json) for two person-id ranges, disjoint
                     from the evaluated people (kbgpt: evaluated 0-132, validation 133-199, training 200-399)
  --data FILE --val-data FILE
                     edit-record files (any lmedit eval format, e.g. counterfact-mend's counterfact-train.json and
                     counterfact-val.json)
  --n-train N / --n-val N   use the first N records of each

options
  --hparams FILE     default hparams/<METHOD>/<model name>.yaml (trainer fields: lr, batch_size, max_iters,
                     val_interval, early_stop_patience, model_save_pt, max_train_seconds, … docs/training.md)
  --set FIELD=VALUE  override one hparams field (repeatable)
  --seed S           overrides the hparams' seed

  Example (kbgpt):
    npx lmedit train --method MEND --model ../shared/data/kbgpt --kb ../shared/data/kbgpt/kb.json \\
      --train-people 200-399 --val-people 133-199 --out editors/kbgpt-mend`;

function records(values: Record<string, any>): { train: EditRequest[]; val: EditRequest[]; source: Record<string, unknown> } {
  const nTrain = numberOption(values, 'n-train');
  const nVal = numberOption(values, 'n-val');
  const cut = (xs: EditRequest[], n?: number) => (n === undefined ? xs : xs.slice(0, n));
  if (values.kb) {
    if (values.data) throw new UsageError('give either --kb (with --train-people / --val-people) or --data / --val-data, not both');
    if (!values['train-people'] || !values['val-people']) throw new UsageError(`--kb needs --train-people and --val-people\n\n${USAGE}`);
    const tp = parsePeopleRange(values['train-people'], '--train-people');
    const vp = parsePeopleRange(values['val-people'], '--val-people');
    if (tp[0] <= vp[1] && vp[0] <= tp[1]) throw new UsageError(`--train-people ${tp.join('-')} and --val-people ${vp.join('-')} overlap: validation must be held out`);
    const seed = numberOption(values, 'seed', 0)!;
    return {
      train: cut(kbTrainingRequests(values.kb, { people: tp, seed }), nTrain),
      val: cut(kbTrainingRequests(values.kb, { people: vp, seed: seed + 1 }), nVal),
      source: { kb: values.kb, trainPeople: tp, valPeople: vp },
    };
  }
  if (!values.data || !values['val-data']) throw new UsageError(`training data: --kb … or --data and --val-data are required\n\n${USAGE}`);
  const read = (file: string, n?: number) => editRecordsFromCases(loadCases(file, { n: n ?? Number.MAX_SAFE_INTEGER }).cases);
  return { train: read(values.data, nTrain), val: read(values['val-data'], nVal), source: { data: values.data, valData: values['val-data'] } };
}

/**
 * Training records from dataset cases: the request with the case's paraphrases as rephrasePrompts and its locality
 * probes (the losses read both: MEND's rephrase NLL and locality KL, SERAC's in-scope and out-of-scope examples).
 */
export function editRecordsFromCases(cases: readonly EditCase[]): EditRequest[] {
  return cases.map((c) => ({
    ...c.request,
    rephrasePrompts: c.request.rephrasePrompts ?? c.rephrases,
    locality: c.request.locality ?? Object.fromEntries(Object.entries(c.locality).map(([k, ps]) => [k, ps.map((p) => ({ prompt: p.prompt, groundTruth: p.groundTruth }))])),
  }));
}

function normalizeAll(reqs: EditRequest[], what: string): TrainRecord[] {
  return reqs.map((r, i) => {
    try {
      return normalizeRequest(r, i);
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}`, { cause: e });
    }
  });
}

export async function trainCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    method: { type: 'string' }, out: { type: 'string' }, kb: { type: 'string' }, 'train-people': { type: 'string' }, 'val-people': { type: 'string' },
    data: { type: 'string' }, 'val-data': { type: 'string' }, 'n-train': { type: 'string' }, 'n-val': { type: 'string' },
    hparams: { type: 'string' }, set: { type: 'string', multiple: true }, seed: { type: 'string' },
  }, USAGE);
  if (!values.method || !values.out) throw new UsageError(`--method and --out are required\n\n${USAGE}`);
  const { method, defaults } = methodFor(values.method);
  if (!method.trained) {
    const trained = methodNames().filter((n) => methodFor(n).method.trained);
    throw new UsageError(`${method.name} is not a trained editor; methods that train: ${trained.join(', ') || 'none'}`);
  }
  const data = records(values);
  const train = normalizeAll(data.train, 'training records');
  const val = normalizeAll(data.val, 'validation records');
  const overlap = new Set(train.map((r) => `${r.text}\u0000${r.targetNew}`));
  if (val.some((r) => overlap.has(`${r.text}\u0000${r.targetNew}`))) console.error('lmedit train: warning: some validation records also occur in the training records');

  const model = loadEditableModel(requireModel(values, USAGE), { dtype: dtypeOption(values) });
  if (isEncoderDecoder(model) && !method.encoderDecoder) {
    try {
      requireCausal(model, method.name);
    } finally {
      model.dispose();
    }
  }
  const tok = loadTokenizer(model.source.dir, model.source.rawConfig);
  const hparamsFile = defaultHparams(method.name, model, values.hparams);
  const overrides = { ...hparamOverrides(values.set), ...(values.seed !== undefined ? { seed: numberOption(values, 'seed') } : {}) };
  const raw = { ...defaults, ...readHparamsFile(hparamsFile).raw, ...overrides };
  checkAlgName(raw, method.name, hparamsFile);
  const hparams = validateHparams<TrainingHparams & Record<string, unknown>>(raw, method.schema, hparamsFile);
  method.check(model, hparams, hparamsFile);

  prepareOutDir(values.out, 'editor');
  const base = baseIdentity(model);
  const { archive: _archive, ...identityHparams } = hparams;
  const identity = createHash('sha256').update(JSON.stringify({
    method: method.name, hparams: identityHparams, base: base.fingerprint, train: train.map((r) => [r.text, r.targetNew]), val: val.map((r) => [r.text, r.targetNew]),
  })).digest('hex').slice(0, 16);
  const resuming = existsSync(join(values.out, 'checkpoint.safetensors'));
  console.error(`lmedit train: ${method.name} on ${model.source.dir}: ${train.length} training / ${Math.min(val.length, hparams.val_steps)} validation records${resuming ? ' (resuming)' : ''} → ${values.out}`);

  const editor = method.trained.create(model, hparams, { tokenizer: tok, seed: hparams.seed });
  let progress: Progress | undefined;
  let stop = false;
  const onSigint = () => { stop = true; console.error('\nlmedit train: stopping after this step (checkpoint kept; rerun to resume)'); };
  process.on('SIGINT', onSigint);
  let summary: TrainSummary;
  try {
    summary = trainEditor(editor, {
      train, val, hparams, outDir: values.out, identity, shouldStop: () => stop,
      manifest: { method: method.name, hparams: { ...hparams, archive: null }, base },
      onProgress: (p) => {
        if (!progress) {
          progress = new Progress(`${method.name} train`, p.total, { unit: 'steps' });
          progress.resume(p.step - 1);
        }
        progress.update(p.step);
        const val = p.val ? ` · val ${hparams.early_stop_key} ${p.val[hparams.early_stop_key]?.toFixed(3)}` : '';
        progress.note(`loss ${p.loss.toFixed(4)}${val} · best ${p.best ? `${p.best.value.toFixed(3)} @${p.best.step}` : '—'}`, p.val ? 0 : 60_000);
      },
    });
  } finally {
    process.off('SIGINT', onSigint);
    editor.dispose();
  }
  const log = readTrainLog(join(values.out, LOG_FILE));
  const charts = writeTrainingCharts(values.out, log, `${method.name} on ${basename(base.source)}`);
  writeFileAtomicSync(join(values.out, 'summary.json'), JSON.stringify({ method: method.name, hparamsFile, data: data.source, ...summary }, null, 2) + '\n');
  const best = summary.best ? `best ${hparams.early_stop_key} ${summary.best.value.toFixed(4)} at step ${summary.best.step}` : 'no validation yet';
  console.log(`${method.name}: ${summary.steps}/${summary.totalSteps} steps (${summary.epochs.toFixed(2)} epochs), stopped by ${summary.stoppedBy}; ${best}; `
    + `${formatSeconds(summary.seconds)} training, peak RSS ${summary.peakRssMb.toFixed(0)} MB`);
  for (const f of [summary.editorFile, join(values.out, LOG_FILE), ...charts, join(values.out, 'summary.json')]) if (f) console.log(`wrote ${f}`);
  if (summary.stoppedBy === 'interrupted') console.log('interrupted: rerun the same command to resume');
}
