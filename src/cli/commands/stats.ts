// lmedit stats --model <dir> --layers 2,3 --corpus <path>: precomputes second-moment statistics into the cache.
import { loadModel, type CausalLM } from '../../models/index.js';
import { rankProblem, StatsCache, type StatsDtype, type StatsEntry, type StatsProgress } from '../../stats/index.js';
import { dtypeOption, numberOption, parse, requireModel, UsageError } from '../args.js';
import { formatSeconds, Progress } from '../progress.js';

const USAGE = `usage: lmedit stats --model <dir|repo id> --corpus <path> --layers <list> [options]

Computes the second-moment statistics C = E[k kᵀ] of the rewrite module's input at each layer (the key covariance
ROME and MEMIT use) and stores them in the statistics cache, where every method and run finds them. An interrupted
run continues from its last checkpoint when started again. See docs/stats.md.

  --layers L          layers, e.g. 2,3 or 0-5 (module: the model's rewrite module, e.g. transformer.h.{}.mlp.c_proj)
  --modules M         explicit module paths instead of --layers (comma-separated)
  --corpus PATH       text file, directory of .txt/.jsonl files, or JSONL file
  --field NAME        JSONL field holding the text (default text)
  --samples N         chunks to average over (default: the whole corpus)
  --tokens N          token budget (default: none)
  --chunk N           tokens per chunk, each a forward pass from position 0 (default: min(model positions, 1024))
  --dtype D           float32 (default) or float64: dtype of the key products and of the stored C
  --compute-dtype D   the model's compute dtype: float32 (default), bfloat16, float16, float64
  --cache-dir DIR     statistics cache (default $LMEDIT_CACHE/stats, else ~/.cache/lmedit/stats)
  --batch-tokens N    tokens per forward pass (default 2048)
  --json              print the results as JSON`;

/** "2,3" or "0-5" or "0-2,7" → layer numbers, each checked against the model. */
export function parseLayers(spec: string, numLayers: number): number[] {
  const layers: number[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const range = /^(\d+)-(\d+)$/.exec(part);
    const [lo, hi] = range ? [Number(range[1]), Number(range[2])] : [Number(part), Number(part)];
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || !/^\d+(-\d+)?$/.test(part) || lo > hi) {
      throw new UsageError(`--layers: '${part}' is not a layer number or range (e.g. 2,3 or 0-5)`);
    }
    for (let l = lo; l <= hi; l++) {
      if (l >= numLayers) throw new UsageError(`--layers: layer ${l} does not exist (the model has layers 0-${numLayers - 1})`);
      layers.push(l);
    }
  }
  if (layers.length === 0) throw new UsageError('--layers: no layers given');
  return [...new Set(layers)];
}

function statsDtype(value: string | undefined): StatsDtype {
  if (value === undefined) return 'float32';
  if (value !== 'float32' && value !== 'float64') throw new UsageError(`--dtype must be float32 or float64 (the statistics' dtype), got '${value}'`);
  return value;
}

function positiveInt(values: Record<string, any>, name: string): number | undefined {
  const n = numberOption(values, name);
  if (n !== undefined && !(Number.isInteger(n) && n > 0)) throw new UsageError(`--${name} must be a positive integer, got '${values[name]}'`);
  return n;
}

function modulesOf(model: CausalLM, values: Record<string, any>): string[] {
  if (values.modules !== undefined) {
    if (values.layers !== undefined) throw new UsageError('give --layers or --modules, not both');
    return String(values.modules).split(',').map((s) => s.trim()).filter(Boolean);
  }
  if (values.layers === undefined) throw new UsageError(`--layers (or --modules) is required\n\n${USAGE}`);
  return parseLayers(String(values.layers), model.dims.numLayers).map((l) => model.templates.rewriteModule.replace('{}', String(l)));
}

/** A progress bar over the tokens this run computes (a resumed run counts from where it starts). */
function progressBar(): (p: StatsProgress) => void {
  let bar: Progress | undefined;
  let startTokens = 0;
  return (p) => {
    if (bar === undefined) {
      startTokens = p.tokensDone;
      if (p.resumedFrom > 0) console.error(`resuming at chunk ${p.resumedFrom}/${p.chunksTotal} (${p.tokensDone} tokens done)`);
      bar = new Progress(`C ${p.modules.join(', ')}`, p.tokensTotal - startTokens, { unit: 'tokens' });
    }
    bar.update(p.tokensDone - startTokens);
    if (p.chunksDone === p.chunksTotal) {
      if (process.stderr.isTTY) bar.finish(); // draws the last state and ends the line (a log already has its 100% line)
      bar = undefined;
    }
  };
}

function describe(e: StatsEntry): string {
  const status = e.source === 'computed' ? 'computed' : 'cached';
  const problem = rankProblem(e.count, e.mom2.shape[0]);
  return `${e.module}  ${status}  (${e.count} tokens)\n  key   ${e.key}\n  file  ${e.file}` +
    (problem ? `\n  WARNING: ${problem}; ROME and MEMIT refuse these statistics (use more --samples or a larger corpus)` : '');
}

export async function statsCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    layers: { type: 'string' }, modules: { type: 'string' }, corpus: { type: 'string' }, field: { type: 'string' },
    samples: { type: 'string' }, tokens: { type: 'string' }, chunk: { type: 'string' }, 'compute-dtype': { type: 'string' },
    'cache-dir': { type: 'string' }, 'batch-tokens': { type: 'string' }, json: { type: 'boolean' },
  }, USAGE);
  const dir = requireModel(values, USAGE);
  if (!values.corpus) throw new UsageError(`--corpus is required (a text file, a directory of .txt/.jsonl files, or a JSONL file)\n\n${USAGE}`);
  const dtype = statsDtype(values.dtype);
  const options = {
    corpus: values.corpus as string, field: values.field as string | undefined, dtype, cacheDir: values['cache-dir'] as string | undefined,
    samples: positiveInt(values, 'samples'), tokens: positiveInt(values, 'tokens'), chunk: positiveInt(values, 'chunk'),
    batchTokens: positiveInt(values, 'batch-tokens'),
  };
  const model = loadModel(dir, { dtype: dtypeOption({ dtype: values['compute-dtype'] }), device: values.device });
  // Rank-deficient C is stored with a warning here (precomputing is also for inspection); the editing commands refuse it.
  const stats = new StatsCache({ ...options, onProgress: progressBar(), log: (m) => console.error(m), rankDeficient: 'warn' });
  try {
    const modules = modulesOf(model, values);
    const started = performance.now();
    const entries = stats.getMany(model, modules);
    const seconds = (performance.now() - started) / 1000;
    if (values.json) {
      console.log(JSON.stringify(entries.map((e) => ({
        module: e.module, source: e.source, count: e.count, key: e.key, file: e.file,
        ...(rankProblem(e.count, e.mom2.shape[0]) ? { warning: rankProblem(e.count, e.mom2.shape[0]) } : {}),
      })), null, 2));
      return;
    }
    for (const e of entries) console.log(describe(e));
    const computed = entries.find((e) => e.source === 'computed');
    if (computed) console.log(`computed in ${formatSeconds(seconds)}`);
  } finally {
    stats.dispose();
    model.dispose();
  }
}
