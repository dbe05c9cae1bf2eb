// Hugging Face causal language models: load, run, trace, intervene, install patches, score, generate, save.
export { CausalLM, type ForwardInput, type ForwardOutput, type KVCache, type ParameterSnapshot } from './model.js';
export { loadModel, type LoadOptions } from './load.js';
export { saveModel, type SaveOptions } from './save.js';
export { generate, generateText, type GenerateOptions } from './generate.js';
export { scoreContinuations, nextTokenLogprobs, type ScoreRequest, type ScoreResult } from './score.js';
export { padBatch, type PaddedBatch } from './batch.js';
export { Hooks, addAt, replaceAt, gatherAt, type TraceSpec, type Retained, type Positions } from './trace.js';
export { architectureFor, registerArchitecture, supportedModelTypes } from './registry.js';
export type { Architecture, ModelDims, ModuleTemplates } from './architecture.js';
export { applyPatches, lastRealPositions, type ModulePatch, type PatchContext, type PatchState } from './patch.js';
export { TextLM, type TextModel, type TextScoreRequest, type TextScoreResult, type TextGeneration } from './text.js';
export type { ScoreOptions } from './score.js';
export { T5Model, loadT5Model, saveT5Model, isT5Checkpoint, disposeT5Cache, type T5Cache, type T5ForwardInput, type T5ForwardOutput, type T5LoadOptions } from './t5-model.js';
export { T5TextLM, t5PromptIds, scoreT5, generateT5, generateT5Text, firstTokenLogprobsT5, type T5TextOptions } from './t5-text.js';
export { summarizeT5, formatT5Summary, t5Logits, type T5Summary, type T5LogitsReport } from './t5-summary.js';
export { parseT5Config, relativePositionBucket, type T5Config } from './t5.js';
export {
  isEncoderDecoder, modelFamily, loadEditableModel, textModelFor, saveEditableModel, targetStates, prefixStates, prefixLast, rowsAt,
  type EditableModel, type TargetPass, type TargetPassOptions, type PrefixPass,
} from './editable.js';
export type { LanguageModel } from './model.js';
export { initT5Params, randomT5Model } from './t5-init.js';
