// lmedit: knowledge editing for language models, in TypeScript on libtorch.
export * from './tensor/index.js';
export * from './models/index.js';
export { loadTokenizer, encodeBatch, type Tokenizer } from './io/tokenizer.js';
export { BertModel, loadBertModel, type BertInput, type BertOutput } from './models/bert.js';
export { BertEmbedder, loadBertTokenizer, type BertEmbedderOptions } from './models/bert-embedder.js';
export { resolveModelDir, readModelConfig } from './io/checkpoint.js';
export { readSafetensorsHeader, writeSafetensors, writeShardedSafetensors } from './io/safetensors.js';
export { assertFinite, isAllFinite, NonFiniteError } from './io/finite.js';
export { prepareOutDir } from './io/out-dir.js';
export { StatsCache, FileSecondMoments, modelFingerprint, type StatsCacheOptions } from './stats/index.js';
export { Editor, type EditorOptions, type EditRecord, type RequestReport } from './editor/editor.js';
export { methodFor, methodNames, registerMethod } from './editor/methods.js';
export { EditedModel, type AppliedEdit } from './editor/edited-model.js';
export { saveEditedModel, loadEditedModel, saveEditState, loadEditState, type SaveStateOptions } from './editor/persist.js';
export { readStateFile, writeStateFile, STATE_FILE, type StateManifest } from './editor/state-file.js';
export { normalizeRequest, type EditRequest, type NormalizedRequest, type PromptAnswer } from './methods/request.js';
export { readHparamsFile, validateHparams, checkAlgName } from './methods/hparams.js';
export { MemoryValueCache, DiskValueCache, scopedValueCache, type ValueCache, type CachedValue } from './methods/value-cache.js';
export type {
  EditMethod, MethodSession, SessionContext, ComputeContext, Edit, InferenceWrapper, EditContext, MethodResult, WeightDelta, SecondMoment, SecondMomentProvider, LossStep,
} from './methods/types.js';
export {
  loadTrainedEditor, saveTrainedEditor, baseIdentity, editorTensors, EDITOR_FILE,
  type TrainableEditor, type TrainedMethod, type TrainRecord, type ParamGroup, type StepContext, type StepLoss, type EditorManifest,
} from './methods/trained.js';
export { TRAINING_FIELDS, type TrainingHparams } from './methods/trained-hparams.js';
export { trainEditor, type TrainOptions, type TrainSummary, type TrainProgress } from './train/trainer.js';
export { readTrainLog, type LogLine } from './train/log.js';
export { kbTrainingRequests } from './eval/datasets/kb-train.js';
export { runSetting, runSettingAsync, type EditMode, type SettingOptions } from './editor/settings.js';
export { readFlatCases, NEIGHBORHOOD, type EditCase, type Probe } from './eval/cases.js';
export { loadCases, detectFormat, mergeAddons, loadAddons, distractingNeighbors, type DatasetFormat, type LoadCasesOptions } from './eval/datasets/index.js';
export { checkRequests, editWithChecks, type PromptCheck, type CheckedReport, type CheckedRecord } from './eval/check.js';
export { measureCases, modelScorer, scoreText, tokenAccuracy, unchangedShare, type CaseScores, type ProbeScore, type TokenScore, type Scorer, type ScoreSource } from './eval/measure.js';
export { summarizeMetrics, type Protocol, type CaseMetrics, type Summary } from './eval/protocol.js';
export { PROTOCOLS, protocolFor, summarizeAll } from './eval/protocols.js';
export { romeProtocol, firstTokenProtocol, ROME_PROTOCOL, FIRST_TOKEN_PROTOCOL } from './eval/rome-protocol.js';
export { easyEditProtocol, romeZsreProtocol, EASYEDIT_PROTOCOL, ROME_ZSRE_PROTOCOL } from './eval/easyedit-protocol.js';
export { readMultipleChoice, multipleChoiceAccuracy, type ChoiceItem } from './eval/multiple-choice.js';
export { wordTokenize } from './eval/word-tokenize.js';
export { nGramEntropy, TfidfModel, generateForMetrics, fluency } from './eval/generation.js';
export { mergeShards, summarizeLines } from './eval/summarize.js';
export { prepareRunDir, type RunIdentity } from './eval/run-dir.js';
export { evaluate, runIdentity, dataReferenceTexts, readCaseLines, summaryMarkdown, type EvaluateOptions, type RunSummary, type CaseLine } from './eval/run.js';
export { writeReport, readRuns } from './report/index.js';
