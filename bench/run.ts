// `npm run bench [-- filter ...]`: runs the benchmark suites and prints one JSON line per result (stdout), then a
// readable table (stderr). A filter selects every benchmark whose name (or suite name) contains it, e.g.
// `npm run bench -- matmul`, `npm run bench -- bf16 block`. `npm run bench -- --list` lists the benchmarks.
// Benchmarks are not tests: failed targets are marked ✗ but only a crash gives a non-zero exit code.
import { loadavg } from 'node:os';
import { backendInfo, getNumThreads } from '../src/tensor/index.js';
import { cpuPeak } from './cpu.js';
import { engineSuite } from './engine.js';
import { modelsSuite } from './models.js';
import { editingSuite } from './editing.js';
import { familiesSuite } from './families.js';
import { locateSuite } from './locate.js';
import { extraParamsSuite } from './extra-params.js';
import { Reporter, type BenchSuite } from './harness.js';

/** Every suite, in run order. New suites (models: forward tokens/s, generation, load time; edits: ROME/MEMIT seconds)
 * go in their own file under bench/ and are added here. */
const SUITES: BenchSuite[] = [engineSuite, modelsSuite, editingSuite, familiesSuite, locateSuite, extraParamsSuite];

/** Machine facts every run starts with: threads, the theoretical peak and how each factor was read, the load. */
function reportEnvironment(report: Reporter): void {
  report.value('threads', getNumThreads(), 'count', 'libtorch intra-op threads (engine default)');
  const peak = cpuPeak();
  report.note('cpu', peak.model);
  report.note('peak_cores', `${peak.cores.value} from ${peak.cores.source}`);
  report.note('peak_flop_per_cycle', `${peak.flopPerCycle.value} fp32 FLOP/cycle/core from ${peak.flopPerCycle.source}`);
  report.note('peak_clock', `${peak.clockMHz.value} MHz from ${peak.clockMHz.source}`);
  report.value('peak_fp32_theoretical', peak.gflops, 'GFLOP/s',
    `${peak.cores.value} cores × ${peak.flopPerCycle.value} FLOP/cycle × ${(peak.clockMHz.value / 1000).toFixed(3)} GHz`);
  if (peak.cpuinfoMHz !== undefined) {
    report.value('peak_fp32_at_cpuinfo_mhz', (peak.cores.value * peak.flopPerCycle.value * peak.cpuinfoMHz) / 1000,
      'GFLOP/s', `the same formula with /proc/cpuinfo "cpu MHz" ${peak.cpuinfoMHz} (information only)`);
  }
  const blas = /BLAS_INFO=([^,\s]+)/.exec(backendInfo().config)?.[1] ?? 'unknown';
  report.note('engine', `libtorch BLAS_INFO=${blas}, OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY ?? 'unset'}, `
    + `OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? 'unset'}, node ${process.version}`);
  const [load1] = loadavg();
  report.value('loadavg_1m_at_start', load1, 'load', 'other processes on the machine distort every number');
  if (load1 > 0.5) report.progress(`warning: load average ${load1.toFixed(2)} — other work is running; numbers will be low and noisy`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--list')) {
    for (const s of SUITES) process.stdout.write(`${s.name}: ${s.description}\n  ${s.benchmarks.join('\n  ')}\n`);
    return;
  }
  const filters = args.filter((a) => !a.startsWith('--'));
  const report = new Reporter();
  reportEnvironment(report);
  for (const suite of SUITES) {
    const selected = (name: string): boolean =>
      filters.length === 0 || filters.some((f) => name.includes(f) || suite.name === f);
    if (!suite.benchmarks.some(selected)) continue;
    report.progress(`suite ${suite.name}: ${suite.description}`);
    await suite.run({ report, selected });
  }
  if (filters.length > 0 && !SUITES.some((s) => s.benchmarks.some((b) => filters.some((f) => b.includes(f) || s.name === f)))) {
    report.progress(`no benchmark matches ${filters.join(' ')} (see --list)`);
  }
  report.printTable();
}

await main();
