// Second-moment statistics computed once and reused by every method and run: from memory, else from the disk cache,
// else computed over the corpus (continuing an interrupted run from its checkpoint) and stored.
//
// Layout: <cacheDir>/<model fingerprint>/<module>__<corpus fingerprint>__n<samples>[__t<tokens>]__c<chunk>__<dtype>.safetensors
// The key is that path relative to cacheDir, without the extension; methods record it with their results.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dispose, keep, type Tensor } from '../tensor/index.js';
import type { CausalLM } from '../models/index.js';
import { loadTokenizer } from '../io/tokenizer.js';
import type { SecondMoment, SecondMomentProvider } from '../methods/types.js';
import { chunkCorpus, corpusFingerprint, type CorpusChunks, type TokenEncoder } from './corpus.js';
import { modelFingerprint } from './fingerprint.js';
import {
  accumulateSecondMoments, emptySums, secondMomentFromSum, type MomentSums, type StatsDtype,
} from './second-moment.js';
import {
  lmeditVersion, partialFileFor, readMomentFile, readPartial, writeMomentFile, writePartial,
} from './store.js';

/** Where a `get` found its statistics. */
export type StatsSource = 'memory' | 'disk' | 'computed';

export interface StatsEntry extends SecondMoment {
  module: string;
  /** The cache file holding C. */
  file: string;
  source: StatsSource;
}

/** Reported after planning (chunksDone = where the run starts) and after every batch. */
export interface StatsProgress {
  modules: string[];
  chunksDone: number;
  chunksTotal: number;
  tokensDone: number;
  tokensTotal: number;
  /** Chunks already done by an earlier, interrupted run (0 for a fresh start). */
  resumedFrom: number;
}

export interface StatsCacheOptions {
  /** Text file, directory of .txt/.jsonl files, or JSONL file (see corpus.ts). */
  corpus: string;
  /** Chunks to average over (0 or undefined: the whole corpus). */
  samples?: number;
  /** Token budget (0 or undefined: none). */
  tokens?: number;
  /** Tokens per chunk; default min(model positions, 1024). */
  chunk?: number;
  /** Dtype of the keys' products and of the stored C (default float32; the sum is float64 either way). */
  dtype?: StatsDtype;
  /** JSONL field holding the text (default `text`). */
  field?: string;
  /** Default $LMEDIT_CACHE/stats, else ~/.cache/lmedit/stats. */
  cacheDir?: string;
  /** Tokenizer for the corpus; default the model directory's own (loadTokenizer). */
  tokenizer?: TokenEncoder;
  /** Tokens per forward pass (default 2048). */
  batchTokens?: number;
  /** Seconds between checkpoints of a running computation (default 60; 0 = after every batch). */
  checkpointSeconds?: number;
  onProgress?: (p: StatsProgress) => void;
  /** One-line messages (computing, resuming, stored). */
  log?: (message: string) => void;
}

export function defaultStatsDir(): string {
  return path.join(process.env.LMEDIT_CACHE ?? path.join(os.homedir(), '.cache', 'lmedit'), 'stats');
}

/** Resolved settings of one model's statistics. */
interface Plan {
  modelFp: string;
  corpusFp: string;
  chunk: number;
}

export class StatsCache implements SecondMomentProvider {
  readonly cacheDir: string;
  readonly dtype: StatsDtype;
  private readonly memory = new Map<string, StatsEntry>();
  private readonly corpusChunks = new Map<string, CorpusChunks>();
  /** Fingerprints and chunk length per model, worked out at its first `get` (edits do not change its files). */
  private readonly plans = new WeakMap<CausalLM, Plan>();

  constructor(readonly options: StatsCacheOptions) {
    this.cacheDir = path.resolve(options.cacheDir ?? defaultStatsDir());
    this.dtype = options.dtype ?? 'float32';
    if (this.dtype !== 'float32' && this.dtype !== 'float64') throw new Error(`stats dtype must be float32 or float64, got ${this.dtype}`);
    for (const [name, v] of [['samples', options.samples], ['tokens', options.tokens]] as const) {
      if (v !== undefined && !(Number.isInteger(v) && v >= 0)) throw new Error(`${name} must be a non-negative integer, got ${v}`);
    }
  }

  /** C for one module (SecondMomentProvider). */
  get(model: CausalLM, moduleName: string): StatsEntry {
    return this.getMany(model, [moduleName])[0];
  }

  /** C for several modules; the missing ones are computed together, in the same forward passes. */
  getMany(model: CausalLM, modules: readonly string[]): StatsEntry[] {
    for (const m of modules) assertModule(model, m);
    const plan = this.plan(model);
    const missing: string[] = [];
    const found = new Map<string, StatsEntry>();
    for (const module of new Set(modules)) {
      const key = this.keyOf(plan, module);
      const inMemory = this.memory.get(key);
      if (inMemory) found.set(module, { ...inMemory, source: 'memory' });
      else if (fs.existsSync(this.fileOf(key))) found.set(module, this.remember(this.readCached(model, key, module)));
      else missing.push(module);
    }
    for (const e of this.compute(model, plan, missing)) found.set(e.module, this.remember(e));
    return modules.map((m) => found.get(m)!);
  }

  /** The cache key of a module's statistics under this cache's settings (fingerprints the model and corpus). */
  keyFor(model: CausalLM, moduleName: string): string {
    assertModule(model, moduleName);
    return this.keyOf(this.plan(model), moduleName);
  }

  /** The file a key is stored in. */
  fileOf(key: string): string {
    return path.join(this.cacheDir, `${key}.safetensors`);
  }

  /** Frees the tensors held in memory. */
  dispose(): void {
    for (const e of this.memory.values()) e.mom2.dispose();
    this.memory.clear();
  }

  private plan(model: CausalLM): Plan {
    let plan = this.plans.get(model);
    if (plan === undefined) {
      plan = this.makePlan(model);
      this.plans.set(model, plan);
    }
    return plan;
  }

  private makePlan(model: CausalLM): Plan {
    const fp = { cacheDir: this.cacheDir };
    const chunk = this.options.chunk ?? Math.min(model.dims.maxPositions, 1024);
    if (!Number.isInteger(chunk) || chunk <= 0) throw new Error(`chunk must be a positive integer, got ${chunk}`);
    if (chunk > model.dims.maxPositions) {
      throw new Error(`chunk ${chunk} is longer than the model's ${model.dims.maxPositions} positions`);
    }
    return {
      modelFp: modelFingerprint(model.source.dir, fp),
      corpusFp: corpusFingerprint(this.options.corpus, this.options.field, fp),
      chunk,
    };
  }

  private keyOf(plan: Plan, module: string): string {
    const o = this.options;
    const budget = `n${o.samples || 'all'}` + (o.tokens ? `__t${o.tokens}` : '');
    return `${plan.modelFp}/${module}__${plan.corpusFp}__${budget}__c${plan.chunk}__${this.dtype}`;
  }

  private remember(e: StatsEntry): StatsEntry {
    keep(e.mom2);
    this.memory.set(e.key, e);
    return e;
  }

  private readCached(model: CausalLM, key: string, module: string): StatsEntry {
    const file = this.fileOf(key);
    const { mom2, count } = readMomentFile(file, this.dtype, model.device);
    return { mom2, count, key, module, file, source: 'disk' };
  }

  private chunksFor(model: CausalLM, plan: Plan): CorpusChunks {
    const id = `${model.source.dir}|${plan.chunk}`;
    let c = this.corpusChunks.get(id);
    if (c === undefined) {
      const encoder = this.options.tokenizer ?? loadTokenizer(model.source.dir, model.source.rawConfig);
      const o = this.options;
      c = chunkCorpus(o.corpus, encoder, { chunk: plan.chunk, samples: o.samples, tokens: o.tokens, field: o.field });
      this.corpusChunks.set(id, c);
    }
    return c;
  }

  /** Computes the missing modules, grouped by where their checkpoints left off (a fresh start is position 0). */
  private compute(model: CausalLM, plan: Plan, modules: string[]): StatsEntry[] {
    if (modules.length === 0) return [];
    const corpus = this.chunksFor(model, plan);
    const starts = new Map<number, { modules: string[]; state: MomentSums }>();
    for (const module of modules) {
      const key = this.keyOf(plan, module);
      const resumed = this.resume(key, corpus.chunks.length);
      const group = starts.get(resumed?.chunksDone ?? 0) ?? { modules: [], state: { ...emptySums(), chunksDone: resumed?.chunksDone ?? 0, count: resumed?.count ?? 0 } };
      group.modules.push(module);
      if (resumed) group.state.sums.set(module, keep(resumed.sum));
      starts.set(group.state.chunksDone, group);
    }
    try {
      return [...starts.values()].flatMap(({ modules: group, state }) => this.run(model, plan, corpus, group, state));
    } finally {
      for (const { state } of starts.values()) dispose([...state.sums.values()]);
    }
  }

  /** A usable checkpoint for `key`, or undefined (a damaged or foreign one is reported and discarded). */
  private resume(key: string, chunksTotal: number): { sum: Tensor; count: number; chunksDone: number } | undefined {
    const partial = partialFileFor(this.fileOf(key));
    if (!fs.existsSync(partial)) return undefined;
    try {
      const p = readPartial(partial, key);
      if (p.chunksDone <= chunksTotal) return p;
      p.sum.dispose();
      this.options.log?.(`ignoring ${partial}: it is past the end of the corpus (${p.chunksDone} > ${chunksTotal} chunks)`);
    } catch (e) {
      this.options.log?.(`ignoring damaged checkpoint ${partial}: ${(e as Error).message}`);
    }
    fs.rmSync(partial, { force: true });
    return undefined;
  }

  private run(model: CausalLM, plan: Plan, corpus: CorpusChunks, modules: string[], state: MomentSums): StatsEntry[] {
    const keys = modules.map((m) => this.keyOf(plan, m));
    const resumedFrom = state.chunksDone;
    const report = () => this.options.onProgress?.({
      modules, chunksDone: state.chunksDone, chunksTotal: corpus.chunks.length, tokensDone: state.count, tokensTotal: corpus.tokens, resumedFrom,
    });
    const checkpoint = () => {
      if (state.chunksDone === 0) return;
      modules.forEach((m, i) => writePartial(partialFileFor(this.fileOf(keys[i])), keys[i], { sum: state.sums.get(m)!, count: state.count, chunksDone: state.chunksDone }));
    };
    this.options.log?.(`computing C for ${modules.join(', ')} over ${corpus.chunks.length} chunks (${corpus.tokens} tokens) of ${this.options.corpus}` +
      (resumedFrom > 0 ? `, resuming at chunk ${resumedFrom}` : ''));
    report();
    const every = (this.options.checkpointSeconds ?? 60) * 1000;
    let lastCheckpoint = Date.now();
    let saved = state.chunksDone;
    try {
      accumulateSecondMoments(model, modules, corpus.chunks, state, {
        dtype: this.dtype,
        batchTokens: this.options.batchTokens,
        onBatch: () => {
          if (Date.now() - lastCheckpoint >= every && state.chunksDone < corpus.chunks.length) {
            checkpoint();
            saved = state.chunksDone;
            lastCheckpoint = Date.now();
          }
          report();
        },
      });
    } catch (e) {
      if (state.chunksDone > saved) checkpoint(); // keep what was done; the next run continues from here
      throw e;
    }
    return modules.map((module, i) => this.store(model, plan, corpus, module, keys[i], state));
  }

  private store(model: CausalLM, plan: Plan, corpus: CorpusChunks, module: string, key: string, state: MomentSums): StatsEntry {
    const file = this.fileOf(key);
    const mom2 = secondMomentFromSum(state.sums.get(module)!, state.count, this.dtype);
    const o = this.options;
    writeMomentFile(file, mom2, {
      key, count: String(state.count), module, model: model.source.dir, modelFingerprint: plan.modelFp,
      corpus: path.resolve(o.corpus), corpusFingerprint: plan.corpusFp, field: o.field ?? 'text',
      samples: String(o.samples || 'all'), tokensBudget: String(o.tokens || 'none'), chunk: String(plan.chunk),
      chunks: String(corpus.chunks.length), dtype: this.dtype, computeDtype: model.dtype,
      created: new Date().toISOString(), lmeditVersion: lmeditVersion(),
    });
    fs.rmSync(partialFileFor(file), { force: true });
    o.log?.(`stored ${file}`);
    return { mom2, count: state.count, key, module, file, source: 'computed' };
  }
}

function assertModule(model: CausalLM, module: string): void {
  if (!model.modulePaths().includes(module)) {
    throw new Error(`module '${module}' is not in the ${model.modelType} model at ${model.source.dir} (lmedit inspect lists its modules)`);
  }
}
