// Model benchmarks: forward tokens/s (batch 8 x 64) for factgpt and a randomly initialised GPT-2-small (124M) in
// fp32 and bf16, generation tokens/s with the KV cache, and load time and peak RSS of the ~500 MB GPT-2-small
// checkpoint (measured in a fresh process, so the peak is the loader's alone).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, loadModel, type CausalLM } from '../src/models/index.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { Generator, noGrad, randn, tidy, type DType } from '../src/tensor/index.js';
import { describeTiming, measure, type BenchContext, type BenchSuite } from './harness.js';

const FACTGPT = join(process.cwd(), '..', 'shared', 'data', 'factgpt');

/** A GPT-2-small config (124M parameters). */
const GPT2_SMALL = {
  model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12, n_inner: null,
  activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, eos_token_id: 50256, bos_token_id: 50256, tie_word_embeddings: true,
};

/** GPT-2 XL's shape (1.56B parameters, 6.2 GB in fp32). */
const GPT2_XL = { ...GPT2_SMALL, n_embd: 1600, n_layer: 48, n_head: 25 };

/** Writes a randomly initialised GPT-2 checkpoint (N(0, 0.02) weights, unit LayerNorm gains). */
function writeRandomGpt2(dir: string, config: typeof GPT2_SMALL = GPT2_SMALL): void {
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const d = config.n_embd;
  const shapes: [string, number[]][] = [['transformer.wte.weight', [50257, d]], ['transformer.wpe.weight', [1024, d]]];
  for (let i = 0; i < config.n_layer; i++) {
    const h = `transformer.h.${i}`;
    shapes.push([`${h}.ln_1.weight`, [d]], [`${h}.ln_1.bias`, [d]], [`${h}.attn.c_attn.weight`, [d, 3 * d]], [`${h}.attn.c_attn.bias`, [3 * d]],
      [`${h}.attn.c_proj.weight`, [d, d]], [`${h}.attn.c_proj.bias`, [d]], [`${h}.ln_2.weight`, [d]], [`${h}.ln_2.bias`, [d]],
      [`${h}.mlp.c_fc.weight`, [d, 4 * d]], [`${h}.mlp.c_fc.bias`, [4 * d]], [`${h}.mlp.c_proj.weight`, [4 * d, d]], [`${h}.mlp.c_proj.bias`, [d]]);
  }
  shapes.push(['transformer.ln_f.weight', [d]], ['transformer.ln_f.bias', [d]]);
  const gen = new Generator(0);
  writeSafetensors(join(dir, 'model.safetensors'), shapes.map(([name, shape]) => ({
    name, dtype: 'F32' as const, shape,
    data: () => tidy(() => noGrad(() => (name.includes('ln_') && name.endsWith('weight')
      ? randn(shape, { generator: gen }).mul(0).add(1)
      : randn(shape, { generator: gen }).mul(0.02)).toBytes())),
  })));
}

function forwardTokensPerSecond(ctx: BenchContext, name: string, model: CausalLM): void {
  const ids = Array.from({ length: 8 }, (_, b) => Array.from({ length: 64 }, (_, t) => (1000 + 37 * b + 11 * t) % 50000));
  const t = measure(() => tidy(() => noGrad(() => { model.forward({ inputIds: ids, logits: 'all' }); })), { minIters: 5, minSeconds: 2 });
  ctx.report.value(name, (8 * 64 * 1000) / t.medianMs, 'tokens/s', `batch 8 x 64 tokens, all logits, ${describeTiming(t)}`);
}

function generationTokensPerSecond(ctx: BenchContext, name: string, model: CausalLM): void {
  const prompt = [[464, 2802, 11880, 286, 39808, 7491, 5034, 2821]];
  const n = 64;
  const t = measure(() => { generate(model, prompt, { maxNewTokens: n, eosTokenId: null }); }, { warmup: 1, minIters: 3, minSeconds: 2 });
  ctx.report.value(name, (n * 1000) / t.medianMs, 'tokens/s', `greedy, batch 1, ${n} new tokens with the KV cache after 8, ${describeTiming(t)}`);
}

/** Loads the checkpoint in a fresh process and reports its load seconds and peak RSS (and the bare process's). */
function loadInFreshProcess(dir: string): { seconds: number; peakMB: number; baselineMB: number } {
  const script = `
    import { loadModel } from ${JSON.stringify(join(process.cwd(), 'src/models/index.js'))};
    const base = process.memoryUsage().rss / 1048576;
    const t = performance.now();
    const m = loadModel(${JSON.stringify(dir)});
    const seconds = (performance.now() - t) / 1000;
    console.log(JSON.stringify({ seconds, peakMB: process.resourceUsage().maxRSS / 1024, baselineMB: base, params: m.numParameters() }));`;
  const file = join(dir, 'load.mts');
  writeFileSync(file, script);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`load benchmark failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const DTYPES: DType[] = ['float32', 'bfloat16'];

export const modelsSuite: BenchSuite = {
  name: 'models',
  description: 'forward and generation tokens/s (factgpt, random GPT-2-small 124M), load time and peak RSS of a 500 MB checkpoint',
  benchmarks: [
    ...DTYPES.flatMap((d) => [`forward_factgpt_${d}`, `forward_gpt2_small_${d}`]),
    'generate_factgpt_float32', 'generate_gpt2_small_float32', 'load_gpt2_small_seconds', 'load_gpt2_small_peak_rss',
    'load_gpt2_xl (only with LMEDIT_BENCH_XL=1: writes a 6.2 GB checkpoint to the temp dir)',
  ],
  run(ctx: BenchContext): void {
    const dir = mkdtempSync(join(tmpdir(), 'lmedit-bench-gpt2-'));
    try {
      ctx.report.progress('writing a random GPT-2-small checkpoint');
      writeRandomGpt2(dir);
      const bytes = statSync(join(dir, 'model.safetensors')).size;
      for (const dtype of DTYPES) {
        if (ctx.selected(`forward_factgpt_${dtype}`)) {
          const m = loadModel(FACTGPT, { dtype });
          forwardTokensPerSecond(ctx, `forward_factgpt_${dtype}`, m);
          m.dispose();
        }
        if (ctx.selected(`forward_gpt2_small_${dtype}`)) {
          const m = loadModel(dir, { dtype });
          forwardTokensPerSecond(ctx, `forward_gpt2_small_${dtype}`, m);
          m.dispose();
        }
      }
      if (ctx.selected('generate_factgpt_float32')) {
        const m = loadModel(FACTGPT);
        generationTokensPerSecond(ctx, 'generate_factgpt_float32', m);
        m.dispose();
      }
      if (ctx.selected('generate_gpt2_small_float32')) {
        const m = loadModel(dir);
        generationTokensPerSecond(ctx, 'generate_gpt2_small_float32', m);
        m.dispose();
      }
      if (ctx.selected('load_gpt2_small_seconds') || ctx.selected('load_gpt2_small_peak_rss')) {
        const r = loadInFreshProcess(dir);
        ctx.report.value('load_gpt2_small_seconds', r.seconds, 's', `${(bytes / 1e6).toFixed(0)} MB F32 safetensors, fresh process`);
        ctx.report.value('load_gpt2_small_peak_rss', r.peakMB, 'MB', `process peak; ${r.baselineMB.toFixed(0)} MB resident just before loading (Node + libtorch)`);
        ctx.report.check('load_gpt2_small_rss_over_file', ((r.peakMB - r.baselineMB) * 1048576) / bytes, 'ratio',
          { op: '<=', value: 1.3 }, 'peak RSS added by loading / checkpoint size: one copy of the weights, not two');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    if (process.env.LMEDIT_BENCH_XL === '1' && ctx.selected('load_gpt2_xl')) loadGpt2Xl(ctx);
  },
};

/** A GPT-2-XL-sized (6.2 GB fp32) checkpoint loads on this 24 GiB machine with one copy of the weights in memory. */
function loadGpt2Xl(ctx: BenchContext): void {
  const dir = mkdtempSync(join(tmpdir(), 'lmedit-bench-gpt2xl-'));
  try {
    ctx.report.progress('writing a random GPT-2-XL-sized checkpoint (6.2 GB)');
    writeRandomGpt2(dir, GPT2_XL);
    const bytes = statSync(join(dir, 'model.safetensors')).size;
    const r = loadInFreshProcess(dir);
    ctx.report.value('load_gpt2_xl_seconds', r.seconds, 's', `${(bytes / 1e9).toFixed(2)} GB F32 safetensors, fresh process`);
    ctx.report.value('load_gpt2_xl_peak_rss', r.peakMB, 'MB', `process peak; ${r.baselineMB.toFixed(0)} MB resident before loading`);
    ctx.report.check('load_gpt2_xl_rss_over_file', ((r.peakMB - r.baselineMB) * 1048576) / bytes, 'ratio', { op: '<=', value: 1.3 }, 'one copy of the weights');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
