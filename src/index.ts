// lmedit: knowledge editing for language models, in TypeScript on libtorch.
export * from './tensor/index.js';
export * from './models/index.js';
export { loadTokenizer, encodeBatch, type Tokenizer } from './io/tokenizer.js';
export { resolveModelDir, readModelConfig } from './io/checkpoint.js';
export { readSafetensorsHeader, writeSafetensors, writeShardedSafetensors } from './io/safetensors.js';
export { StatsCache, FileSecondMoments, modelFingerprint, type StatsCacheOptions } from './stats/index.js';
export { Editor, type EditorOptions, type EditRecord, type RequestReport } from './editor/editor.js';
export { methodFor, methodNames, registerMethod } from './editor/methods.js';
export { writePack, readPackManifest, applyPack, type PackManifest } from './editor/pack.js';
export { normalizeRequest, type EditRequest, type NormalizedRequest, type PromptAnswer } from './methods/request.js';
export { readHparamsFile, validateHparams } from './methods/hparams.js';
export type { EditMethod, EditContext, MethodResult, WeightDelta, SecondMoment, SecondMomentProvider, LossStep } from './methods/types.js';
