// Engine benchmarks: matmul throughput against the CPU's theoretical peak, and one GPT-2-small block written with
// the TypeScript API against the same block in C++ inside the addon (and in PyTorch when it is installed).
import { getNumThreads, noGrad, randn, tidy } from '../src/tensor/index.js';
import { performance } from 'node:perf_hooks';
import { native } from '../src/tensor/native.js';
import { cpuPeak } from './cpu.js';
import { blockStep, checkBlock, disposeBlockInputs, GPT2_SMALL, makeBlockInputs } from './gpt2-block.js';
import { describeTiming, measure, summarize, type BenchContext, type BenchSuite, type Reporter } from './harness.js';
import { pytorchUnavailable, runPytorchBlock } from './pytorch.js';

const SHORT: Record<'float32' | 'bfloat16', string> = { float32: 'fp32', bfloat16: 'bf16' };

/** Targets from the issue: fp32 2048³ matmul at ≥ 85% of peak; the TS block within 1.15× of the C++ block. */
const TARGET_PCT_OF_PEAK = 85;
const TARGET_TS_OVER_CPP = 1.15;

/** Timed steps per block measurement (the issue asks for at least 20). */
const BLOCK_ITERS = 30;

// ---- matmul ------------------------------------------------------------------------------------------------

interface MatmulCase {
  name: string;
  dtype: 'float32' | 'bfloat16';
  m: number;
  k: number;
  n: number;
}

const MATMUL_SHAPES: [number, number, number][] = [
  [2048, 2048, 2048],
  // GPT-2 small, 128 tokens: the MLP's up-projection [128×768]×[768×3072] and down-projection [128×3072]×[3072×768]
  [128, 768, 3072],
  [128, 3072, 768],
];

const MATMUL_CASES: MatmulCase[] = MATMUL_SHAPES.flatMap(([m, k, n]) =>
  (['float32', 'bfloat16'] as const).map((dtype) => ({
    dtype, m, k, n,
    name: m === k && k === n ? `matmul_${SHORT[dtype]}_${m}` : `matmul_${SHORT[dtype]}_${m}x${k}x${n}`,
  })));

/** GFLOP/s of [m×k]·[k×n] = 2mkn / median time, ≥ 1 s of timed runs. */
function runMatmul(c: MatmulCase, report: Reporter): number {
  const [a, b] = tidy(() => [randn([c.m, c.k]).to(c.dtype), randn([c.k, c.n]).to(c.dtype)]);
  try {
    const t = noGrad(() => measure(() => tidy(() => {
      a.matmul(b);
    }), { warmup: 3, minIters: 10, minSeconds: 1 }));
    const gflops = (2 * c.m * c.k * c.n) / (t.medianMs * 1e6);
    report.value(c.name, gflops, 'GFLOP/s', describeTiming(t));
    return gflops;
  } finally {
    a.dispose();
    b.dispose();
  }
}

// ---- per-op overhead --------------------------------------------------------------------------------------

/**
 * µs per op of the TS API on a tiny tensor (x.add(y), 4 elements), 1000 ops per tidy() scope: N-API call, handle
 * object, scope bookkeeping and dispose, i.e. what every op of a TS model pays on top of the kernel.
 */
function runOpOverhead(report: Reporter): void {
  const [x, y] = tidy(() => [randn([4]), randn([4])]);
  try {
    const opsPerRun = 1000;
    const t = noGrad(() => measure(() => tidy(() => {
      for (let i = 0; i < opsPerRun; i++) x.add(y);
    }), { warmup: 20, minIters: 50, minSeconds: 1 }));
    report.value('op_overhead_add_4', (t.medianMs * 1000) / opsPerRun, 'µs', `per op, ${opsPerRun} ops per tidy(), ${describeTiming(t)}`);
  } finally {
    x.dispose();
    y.dispose();
  }
}

// ---- GPT-2 block -------------------------------------------------------------------------------------------

interface BlockCase {
  name: string;
  dtype: 'float32' | 'bfloat16';
  backward: boolean;
}

const BLOCK_CASES: BlockCase[] = (['float32', 'bfloat16'] as const).flatMap((dtype) =>
  [false, true].map((backward) => ({
    dtype, backward, name: `gpt2_block_${SHORT[dtype]}_${backward ? 'fwdbwd' : 'fwd'}`,
  })));

/**
 * Median ms per step of the TS block and of the C++ block, interleaved step by step (one TS step, then one C++
 * call timing one step after its own 3 warm-ups) so that both see the same background load.
 */
function runBlock(c: BlockCase, report: Reporter): { tsMs: number; cppMs: number } {
  const inputs = makeBlockInputs(c.dtype);
  try {
    const handles = inputs.params.map((p) => p.handle);
    for (let i = 0; i < 3; i++) blockStep(inputs, c.backward);
    const ts: number[] = [];
    const cpp: number[] = [];
    for (let i = 0; i < BLOCK_ITERS; i++) {
      const t0 = performance.now();
      blockStep(inputs, c.backward);
      ts.push(performance.now() - t0);
      cpp.push(native.benchGpt2Block(inputs.x.handle, handles, inputs.heads, inputs.mask.handle, 1, c.backward) as number);
    }
    const tsT = summarize(ts);
    const cppT = summarize(cpp);
    report.value(`${c.name}_ts`, tsT.medianMs, 'ms', `TypeScript API in tidy(), ${describeTiming(tsT)}`);
    report.value(`${c.name}_cpp`, cppT.medianMs, 'ms', `native/bench.cc, ${describeTiming(cppT)}`);
    report.check(`${c.name}_ts_over_cpp`, tsT.medianMs / cppT.medianMs, 'ratio',
      { op: '<=', value: TARGET_TS_OVER_CPP }, 'same run, interleaved steps');
    return { tsMs: tsT.medianMs, cppMs: cppT.medianMs };
  } finally {
    disposeBlockInputs(inputs);
  }
}

function runPytorch(cases: BlockCase[], tsMs: Map<string, number>, report: Reporter): void {
  const why = pytorchUnavailable();
  if (why !== undefined) {
    report.note('gpt2_block_pytorch', `skipped: ${why} (python3-torch is not installed)`);
    return;
  }
  report.progress('PyTorch block (python3-torch) …');
  const { tokens, d, heads, mlp } = GPT2_SMALL;
  const r = runPytorchBlock({
    threads: getNumThreads(), tokens, d, heads, mlp, warmup: 3, iters: BLOCK_ITERS,
    cases: cases.map((c) => [c.dtype, c.backward ? 'fwdbwd' : 'fwd']),
  });
  report.note('gpt2_block_pytorch', `torch ${r.version}, ${r.threads} threads, median of ${BLOCK_ITERS} steps, separate process`);
  for (const c of cases) {
    const ms = r.timings[`${c.dtype}_${c.backward ? 'fwdbwd' : 'fwd'}`];
    report.value(`${c.name}_pytorch`, ms, 'ms', `PyTorch, median of ${BLOCK_ITERS} steps`);
    const ts = tsMs.get(c.name);
    if (ts !== undefined) report.value(`${c.name}_ts_over_pytorch`, ts / ms, 'ratio', 'TS and PyTorch in separate runs');
  }
}

// ---- the suite ---------------------------------------------------------------------------------------------

export const engineSuite: BenchSuite = {
  name: 'engine',
  description: 'matmul GFLOP/s vs the theoretical peak; GPT-2-small block: TypeScript vs C++ (vs PyTorch)',
  benchmarks: [...MATMUL_CASES.map((c) => c.name), 'op_overhead_add_4', 'gpt2_block_check', ...BLOCK_CASES.map((c) => c.name)],

  run(ctx: BenchContext): void {
    const { report } = ctx;
    for (const c of MATMUL_CASES.filter((m) => ctx.selected(m.name))) {
      report.progress(`${c.name} …`);
      const gflops = runMatmul(c, report);
      if (c.name === 'matmul_fp32_2048') {
        const peak = cpuPeak().gflops;
        report.check(`${c.name}_pct_of_peak`, (100 * gflops) / peak, '%', { op: '>=', value: TARGET_PCT_OF_PEAK },
          `of peak_fp32_theoretical ${peak.toFixed(1)} GFLOP/s`);
      }
    }

    if (ctx.selected('op_overhead_add_4')) {
      report.progress('op_overhead_add_4 …');
      runOpOverhead(report);
    }

    if (ctx.selected('gpt2_block_check')) {
      report.progress('gpt2_block_check …');
      const { forwardRelErr, gradRelErr } = checkBlock();
      const how = 'TS block fp32 vs a float64 reference written with other ops';
      report.check('gpt2_block_check_fwd_rel_err', forwardRelErr, 'rel', { op: '<=', value: 1e-4 }, how);
      report.check('gpt2_block_check_grad_rel_err', gradRelErr, 'rel', { op: '<=', value: 1e-3 }, `${how}, 12 grads`);
    }

    const blocks = BLOCK_CASES.filter((c) => ctx.selected(c.name));
    const tsMs = new Map<string, number>();
    for (const c of blocks) {
      report.progress(`${c.name} (TS and C++, ${BLOCK_ITERS} steps each) …`);
      tsMs.set(c.name, runBlock(c, report).tsMs);
    }
    if (blocks.length > 0) runPytorch(blocks, tsMs, report);
  },
};

