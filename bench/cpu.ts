// Facts about the CPU the benchmarks run on, and the theoretical fp32 peak derived from them:
//   peak GFLOP/s = cores × fp32 FLOP per cycle per core (widest FMA units) × clock (GHz).
// Each factor says where it was read from, because each is a guess on some machines (see docs/benchmarks.md).
import { readFileSync, existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

export interface Factor {
  value: number;
  source: string;
}

export interface CpuPeak {
  model: string;
  /** /proc/cpuinfo "cpu MHz", for reference (not used: see clockMHz). */
  cpuinfoMHz: number | undefined;
  cores: Factor;
  flopPerCycle: Factor;
  clockMHz: Factor;
  gflops: number;
}

interface CpuInfo {
  vendor: string;
  family: number;
  model: string;
  flags: Set<string>;
  mhz: number | undefined;
}

function readCpuInfo(): CpuInfo {
  const text = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const first = text.split(/\n\s*\n/)[0] ?? '';
  const field = (key: string): string | undefined =>
    first.split('\n').find((l) => l.split(':')[0].trim() === key)?.split(':').slice(1).join(':').trim();
  const mhz = Number(field('cpu MHz'));
  return {
    vendor: field('vendor_id') ?? 'unknown',
    family: Number(field('cpu family') ?? NaN),
    model: field('model name') ?? 'unknown CPU',
    flags: new Set((field('flags') ?? '').split(/\s+/).filter(Boolean)),
    mhz: Number.isFinite(mhz) && mhz > 0 ? mhz : undefined,
  };
}

/**
 * fp32 FLOP per cycle per core = 2 (an FMA is a multiply and an add) × fp32 lanes of one FMA unit × FMA units.
 * Cores with AVX-512 differ in how wide their FMA units really are, which /proc/cpuinfo does not say, so the rule
 * goes by vendor and family:
 *   AMD family ≥ 0x1A (Zen 5, desktop/server) with avx512f: 2 × 512-bit FMA units → 2 × 16 × 2 = 64
 *     (mobile Zen 5 parts have 256-bit units, i.e. 32; override with LMEDIT_BENCH_FLOP_PER_CYCLE there)
 *   AMD family 0x19 (Zen 3/4) with avx512f or avx2+fma: 2 × 256-bit FMA units (Zen 4 runs AVX-512 as 2 × 256) → 32
 *   Intel with avx512f: 2 × 512-bit FMA units (Xeon Gold/Platinum and later) → 64; parts with one 512-bit unit → 32
 *   avx2 + fma: 2 × 256-bit FMA units → 32;  avx without fma: 8-lane add + 8-lane mul → 16;  otherwise SSE → 8
 */
function fp32FlopPerCycle(cpu: CpuInfo): Factor {
  const override = Number(process.env.LMEDIT_BENCH_FLOP_PER_CYCLE);
  if (override > 0) return { value: override, source: 'LMEDIT_BENCH_FLOP_PER_CYCLE' };
  const f = cpu.flags;
  const amd = cpu.vendor === 'AuthenticAMD';
  const fam = `family 0x${cpu.family.toString(16)}`;
  if (f.has('avx512f') && amd && cpu.family >= 0x1a) {
    return { value: 64, source: `avx512f on AMD ${fam} (Zen 5): 2 FMA units × 512-bit × 2 FLOP` };
  }
  if (f.has('avx512f') && amd) {
    return { value: 32, source: `avx512f on AMD ${fam} (Zen 4 executes 512-bit ops on 2 × 256-bit FMA units): 2 × 8 × 2` };
  }
  if (f.has('avx512f')) return { value: 64, source: `avx512f on ${cpu.vendor}: assumed 2 × 512-bit FMA units × 16 lanes × 2` };
  if (f.has('avx2') && f.has('fma')) return { value: 32, source: 'avx2+fma: 2 × 256-bit FMA units × 8 lanes × 2' };
  if (f.has('avx')) return { value: 16, source: 'avx without fma: 8-lane add + 8-lane mul per cycle' };
  return { value: 8, source: 'no avx flag: SSE, 4-lane add + 4-lane mul per cycle' };
}

/**
 * The clock the cores run at: LMEDIT_BENCH_CLOCK_MHZ if set; else cpufreq's cpuinfo_max_freq (the boost clock) when
 * the kernel has cpufreq; else the measured clock (measureClockMHz). Without cpufreq, /proc/cpuinfo "cpu MHz" is
 * no clock at all: in a KVM guest it is the nominal TSC rate (2096 MHz on this 3.5 GHz Zen 5), on bare metal a
 * momentary reading. It is still reported, as `cpuinfoMHz`.
 */
function clockMHz(cpu: CpuInfo): Factor {
  const override = Number(process.env.LMEDIT_BENCH_CLOCK_MHZ);
  if (override > 0) return { value: override, source: 'LMEDIT_BENCH_CLOCK_MHZ' };
  const maxFreq = '/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq';
  if (existsSync(maxFreq)) {
    const khz = Number(readFileSync(maxFreq, 'utf8').trim());
    if (khz > 0) return { value: khz / 1000, source: maxFreq };
  }
  const hypervisor = cpu.flags.has('hypervisor') ? ', a VM guest' : '';
  return {
    value: Math.round(measureClockMHz()),
    source: `measured (no cpufreq${hypervisor}; /proc/cpuinfo "cpu MHz" says ${cpu.mhz ?? '?'}, the nominal TSC rate): `
      + 'single-thread dependent imul chain, 3 cycles per imul, fastest of 22 runs',
  };
}

let cached: CpuPeak | undefined;

/** The theoretical fp32 peak of this machine from cores, FMA width and clock (worked out once per process). */
export function cpuPeak(): CpuPeak {
  if (cached) return cached;
  const cpu = readCpuInfo();
  const cores: Factor = { value: availableParallelism(), source: 'os.availableParallelism()' };
  const flopPerCycle = fp32FlopPerCycle(cpu);
  const clock = clockMHz(cpu);
  cached = {
    model: `${cpu.model} (${cpu.vendor} family 0x${cpu.family.toString(16)})`,
    cpuinfoMHz: cpu.mhz,
    cores,
    flopPerCycle,
    clockMHz: clock,
    gflops: (cores.value * flopPerCycle.value * clock.value) / 1000,
  };
  return cached;
}

/**
 * A cross-check of the clock, single thread: a dependent chain of 32-bit integer multiplies, whose latency is
 * 3 cycles on every x86 core since Core 2 / Zen 1. The fastest of several short runs is kept (interruptions only
 * slow a run down). Under a hypervisor this shows the clock the guest really gets.
 */
export function measureClockMHz(): number {
  const chain = (n: number, y: number): number => {
    let x = 1;
    for (let i = 0; i < n; i++) {
      x = Math.imul(x, y); x = Math.imul(x, y); x = Math.imul(x, y); x = Math.imul(x, y);
      x = Math.imul(x, y); x = Math.imul(x, y); x = Math.imul(x, y); x = Math.imul(x, y);
    }
    return x;
  };
  const multiplier = (Date.now() | 1) >>> 0; // not a constant, so the JIT cannot fold the chain
  let sink = 0;
  let best = 0;
  const n = 2_000_000;
  for (let r = 0; r < 25; r++) {
    const t0 = performance.now();
    sink ^= chain(n, multiplier);
    const seconds = (performance.now() - t0) / 1000;
    if (r >= 3) best = Math.max(best, (3 * 8 * n) / seconds / 1e6);
  }
  return sink === 0.5 ? 0 : best; // keep `sink` observable
}
