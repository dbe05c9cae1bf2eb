// Second-moment statistics computed once and reused by every method and run: from memory, else from the disk cache,
// else computed over the corpus (continuing an interrupted run from its checkpoint) and stored.
//
// Layout: <cacheDir>/<model fingerprint>/<module>__<corpus fingerprint>__n<samples>[__t<tokens>]__c<chunk>__<dtype>.safetensors
// The key is that path relative to cacheDir, without the extension; methods record it with their results. n and t
// are the budgets asked for, unless the corpus ran out before them: then they are what C was actually averaged over
// (asking 2,312 samples of a 16-chunk corpus stores n16, not n2312).
//
// Refused (or, with rankDeficient: 'warn', reported): C over fewer tokens than a key has features (singular), and C
// that is not finite — when computed (nothing is stored) and when read from the cache (naming the file).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dispose, keep, type Tensor } from '../tensor/index.js';
import type { CausalLM } from '../models/index.js';
import { loadTokenizer } from '../io/tokenizer.js';
import type { SecondMoment, SecondMomentProvider } from '../methods/types.js';
import { chunkCorpus, corpusFingerprint, type CorpusChunks, type TokenEncoder } from './corpus.js';
import { modelFingerprint } from './fingerprint.js';
import { assertFiniteMoment, inputWidth, onRankProblem, rankProblem, warner, type RankDeficientPolicy } from './checks.js';
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
  /** One-line messages (computing, resuming, stored, warnings). */
  log?: (message: string) => void;
  /**
   * C averaged over fewer tokens than a key has features is singular, and C⁻¹k meaningless: 'error' (default)
   * refuses before computing it and when such a file is found in the cache; 'warn' goes on with a warning (through
   * `log`, else a process warning), for tests and inspection.
   */
  rankDeficient?: RankDeficientPolicy;
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
    for (const e of this.compute(model, plan, missing)) found.set(e.module, e);
    return modules.map((m) => found.get(m)!);
  }

  /**
   * The cache key of a module's statistics under this cache's settings (fingerprints the model and corpus), as
   * asked: the key `get` looks up first. When the corpus runs out before the sample or token budget, `get` stores
   * and returns C under the key of what it was averaged over instead (StatsEntry.key).
   */
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

  /** The key asked for, or (given the corpus) the key of what C is averaged over when the corpus ran out first. */
  private keyOf(plan: Plan, module: string, corpus?: CorpusChunks): string {
    const o = this.options;
    let samples: number | 'all' = o.samples || 'all';
    let tokens = o.tokens || 0;
    if (corpus !== undefined && ranOut(corpus, o)) {
      if (o.samples) samples = corpus.chunks.length;
      if (o.tokens) tokens = corpus.tokens;
    }
    const budget = `n${samples}` + (tokens ? `__t${tokens}` : '');
    return `${plan.modelFp}/${module}__${plan.corpusFp}__${budget}__c${plan.chunk}__${this.dtype}`;
  }

  private get policy(): RankDeficientPolicy {
    return this.options.rankDeficient ?? 'error';
  }

  /** Refuses (or warns about) C of `module` over `count` tokens when that is fewer than its keys' width. */
  private checkRank(count: number, width: number | undefined, what: string, fix: string): void {
    const problem = width === undefined ? undefined : rankProblem(count, width);
    if (problem !== undefined) onRankProblem(`${what}: ${problem}; ${fix}`, this.policy, warner(this.options.log));
  }

  private remember(e: StatsEntry): StatsEntry {
    keep(e.mom2);
    this.memory.set(e.key, e);
    return e;
  }

  private readCached(model: CausalLM, key: string, module: string): StatsEntry {
    const file = this.fileOf(key);
    const { mom2, count } = readMomentFile(file, this.dtype, model.device); // refuses non-finite values, naming the file
    try {
      this.checkRank(count, mom2.shape[0], `${file} (C of ${module})`,
        'delete the file and compute C over a larger corpus or sample budget (at least as many tokens as features)');
    } catch (e) {
      mom2.dispose();
      throw e;
    }
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

  /**
   * The modules not found under the key asked for: found under the key of what the corpus actually holds, else
   * computed, grouped by where their checkpoints left off (a fresh start is position 0). Every result is remembered.
   */
  private compute(model: CausalLM, plan: Plan, missing: string[]): StatsEntry[] {
    if (missing.length === 0) return [];
    const corpus = this.chunksFor(model, plan);
    const o = this.options;
    const found: StatsEntry[] = [];
    const modules: string[] = [];
    for (const module of missing) {
      const key = this.keyOf(plan, module, corpus);
      const inMemory = this.memory.get(key);
      if (inMemory) found.push({ ...inMemory, source: 'memory' });
      else if (fs.existsSync(this.fileOf(key))) found.push(this.remember(this.readCached(model, key, module)));
      else modules.push(module);
    }
    if (modules.length === 0) return found;
    if (ranOut(corpus, o)) {
      o.log?.(`${o.corpus} holds only ${corpus.chunks.length} chunks (${corpus.tokens} tokens), less than the budget asked for ` +
        `(${[o.samples ? `${o.samples} samples` : '', o.tokens ? `${o.tokens} tokens` : ''].filter(Boolean).join(', ')}): ` +
        `C is averaged over all of it and stored under that count`);
    }
    for (const module of modules) {
      this.checkRank(corpus.tokens, inputWidth(model, module), `C of ${module} over ${o.corpus} (${corpus.chunks.length} chunk${corpus.chunks.length === 1 ? '' : 's'})`,
        'use a larger corpus or sample budget (at least as many tokens as features; ROME/MEMIT use 100,000 samples)');
    }
    const starts = new Map<number, { modules: string[]; state: MomentSums }>();
    for (const module of modules) {
      const key = this.keyOf(plan, module, corpus);
      const resumed = this.resume(key, corpus.chunks.length);
      const group = starts.get(resumed?.chunksDone ?? 0) ?? { modules: [], state: { ...emptySums(), chunksDone: resumed?.chunksDone ?? 0, count: resumed?.count ?? 0 } };
      group.modules.push(module);
      if (resumed) group.state.sums.set(module, keep(resumed.sum));
      starts.set(group.state.chunksDone, group);
    }
    try {
      return [...found, ...[...starts.values()].flatMap(({ modules: group, state }) => this.run(model, plan, corpus, group, state)).map((e) => this.remember(e))];
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
    const keys = modules.map((m) => this.keyOf(plan, m, corpus));
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
    try {
      assertFiniteMoment(mom2, `C of ${module} computed over ${o.corpus}`,
        `; not stored (${file}). Check that the model's weights are finite; a bfloat16/float16 compute dtype can overflow (compute in float32)`);
      this.checkRank(state.count, mom2.shape[0], `C of ${module} over ${o.corpus}`, 'use a larger corpus or sample budget');
    } catch (e) {
      mom2.dispose();
      fs.rmSync(partialFileFor(file), { force: true }); // a checkpoint of the same sums would resume into the same result
      throw e;
    }
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

/** The corpus ended before every budget that was given was reached (so the chunks are the whole corpus). */
function ranOut(corpus: CorpusChunks, o: StatsCacheOptions): boolean {
  if (!o.samples && !o.tokens) return false;
  return (!o.samples || corpus.chunks.length < o.samples) && (!o.tokens || corpus.tokens < o.tokens);
}

function assertModule(model: CausalLM, module: string): void {
  if (!model.modulePaths().includes(module)) {
    throw new Error(`module '${module}' is not in the ${model.modelType} model at ${model.source.dir} (lmedit inspect lists its modules)`);
  }
}
