// Layer second-moment statistics C = E[k kᵀ] (ROME/MEMIT's key covariance) with an on-disk cache; docs/stats.md.
export { StatsCache, defaultStatsDir, type StatsCacheOptions, type StatsEntry, type StatsProgress, type StatsSource } from './cache.js';
export { FileSecondMoments, type FileSecondMomentsOptions } from './file-moments.js';
export {
  accumulateSecondMoments, secondMomentFromSum, keysOf, batchOrder, emptySums, DEFAULT_BATCH_TOKENS,
  type MomentSums, type AccumulateOptions, type StatsDtype,
} from './second-moment.js';
export { chunkCorpus, corpusFiles, corpusTexts, corpusFingerprint, type TokenEncoder, type ChunkOptions, type CorpusChunks } from './corpus.js';
export { modelFingerprint, fileSha256, combinedFingerprint, FINGERPRINT_HEX, type FingerprintOptions } from './fingerprint.js';
export { readMomentFile, writeMomentFile, type StoredMoment } from './store.js';
export { inputWidth, rankProblem, assertFiniteMoment, type RankDeficientPolicy } from './checks.js';
