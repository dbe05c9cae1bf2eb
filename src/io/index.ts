// lmedit's I/O layer: safetensors, checkpoint directories and tokenizers. Works with bytes and descriptors only;
// it never imports the tensor engine (models/ turns TensorEntry descriptors into tensors).
export {
  readSafetensorsHeader, readTensorBytes, readTensorInto, writeSafetensors, encodeSafetensorsHeader,
  openCheckpointWeights, writeShardedSafetensors, tensorByteLength, numelOf, isSafetensorsDtype,
  SAFETENSORS_DTYPE_BYTES, SAFETENSORS_TO_ENGINE_DTYPE, ENGINE_TO_SAFETENSORS_DTYPE, MAX_HEADER_BYTES,
  SAFETENSORS_INDEX, SAFETENSORS_SINGLE,
  type SafetensorsDtype, type EngineDtype, type TensorEntry, type SafetensorsFile, type TensorToWrite,
  type CheckpointWeights, type ShardedWriteOptions, type ShardedWriteResult,
} from './safetensors.js';
export {
  resolveModelDir, hfHubCacheDir, readModelConfig, readGenerationConfig, type ResolveOptions, type ModelConfig,
} from './checkpoint.js';
export {
  loadTokenizer, encodeBatch, type Tokenizer, type EncodeOptions, type DecodeOptions, type BatchOptions, type SpecialTokens,
} from './tokenizer.js';
export { HfTokenizer, gpt2FilesToTokenizerJson } from './hf-tokenizer.js';
export { Llama2cTokenizer, readLlama2cVocab, type Llama2cPiece } from './llama2c-tokenizer.js';
export { writeFileAtomic, writeFileAtomicSync } from './atomic.js';
