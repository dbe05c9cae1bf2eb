// The benchmark harness: timing (median of many runs after warm-up), result reporting as JSON lines, target checks,
// and the suite contract that engine and (later) model benchmarks implement.
//
// Output contract: every result is one JSON object per line on stdout, printed as soon as it is known:
//   {"name":"matmul_fp32_2048","value":171.3,"unit":"GFLOP/s"}
// Target checks add "target" and "pass": {"name":"…_pct_of_peak","value":93.1,"unit":"%","target":">= 85","pass":true}
// Notes (how a number was derived, skipped parts) have unit "note" and a string value. Progress and the final
// readable table go to stderr, so `npm run -s bench > results.jsonl` keeps stdout pure JSON lines.
import { performance } from 'node:perf_hooks';

// ---- timing ------------------------------------------------------------------------------------------------

export interface MeasureOptions {
  /** Untimed runs first (allocator, BLAS thread pool and oneDNN kernel caches warm up). Default 3. */
  warmup?: number;
  /** At least this many timed runs. Default 10. */
  minIters?: number;
  /** Keep timing until this much time has been spent in timed runs. Default 1. */
  minSeconds?: number;
  /** Stop after this many timed runs even if minSeconds is not reached. Default 100,000. */
  maxIters?: number;
}

/** Per-run times of one measurement, in milliseconds. */
export interface Timing {
  medianMs: number;
  minMs: number;
  maxMs: number;
  iters: number;
  totalSeconds: number;
}

export function median(values: number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Summary of per-run samples (ms). */
export function summarize(samplesMs: number[]): Timing {
  return {
    medianMs: median(samplesMs),
    minMs: Math.min(...samplesMs),
    maxMs: Math.max(...samplesMs),
    iters: samplesMs.length,
    totalSeconds: samplesMs.reduce((a, b) => a + b, 0) / 1000,
  };
}

/** Times fn run by run; the median is the reported number (robust to the noise of a shared 2-vCPU VM). */
export function measure(fn: () => void, opts: MeasureOptions = {}): Timing {
  const { warmup = 3, minIters = 10, minSeconds = 1, maxIters = 100_000 } = opts;
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  let spent = 0;
  while (samples.length < maxIters && (samples.length < minIters || spent < minSeconds * 1000)) {
    const t0 = performance.now();
    fn();
    const dt = performance.now() - t0;
    samples.push(dt);
    spent += dt;
  }
  return summarize(samples);
}

/** "median 12.3 ms of 40 runs (11.9–15.0)" */
export function describeTiming(t: Timing): string {
  return `median of ${t.iters} runs, ${fmt(t.minMs)}–${fmt(t.maxMs)} ms`;
}

// ---- reporting ---------------------------------------------------------------------------------------------

/** A target a result is checked against, e.g. { op: '>=', value: 85 }. */
export interface Target {
  op: '>=' | '<=';
  value: number;
}

export interface Result {
  name: string;
  value: number | string;
  unit: string;
  /** Only for check lines. */
  target?: Target;
  /** Shown in the table only (how it was measured). */
  detail?: string;
}

interface Row extends Result {
  pass?: boolean;
}

export class Reporter {
  private readonly rows: Row[] = [];

  constructor(
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly log: NodeJS.WritableStream = process.stderr,
  ) {}

  /** Prints one result as a JSON line now and keeps it for the table. */
  report(result: Result): void {
    const row: Row = { ...result };
    const line: Record<string, unknown> = { name: result.name, value: result.value, unit: result.unit };
    if (result.target) {
      row.pass = typeof result.value === 'number' && passes(result.value, result.target);
      line.target = `${result.target.op} ${result.target.value}`;
      line.pass = row.pass;
    }
    this.rows.push(row);
    this.out.write(`${JSON.stringify(line)}\n`);
  }

  value(name: string, value: number, unit: string, detail?: string): void {
    this.report({ name, value: round(value), unit, detail });
  }

  /** A target check line; returns whether it passed. Not a test: a failed check does not change the exit code. */
  check(name: string, value: number, unit: string, target: Target, detail?: string): boolean {
    this.report({ name, value: round(value), unit, target, detail });
    return passes(value, target);
  }

  note(name: string, text: string): void {
    this.report({ name, value: text, unit: 'note' });
  }

  /** Progress for the person watching (stderr). */
  progress(text: string): void {
    this.log.write(`· ${text}\n`);
  }

  /** The aligned table of all numeric results with ✓/✗ for checks, then the notes. */
  table(): string {
    const numeric = this.rows.filter((r) => r.unit !== 'note');
    const cells = numeric.map((r) => [
      r.name,
      typeof r.value === 'number' ? fmt(r.value) : String(r.value),
      r.unit,
      r.target ? `${r.pass ? '✓' : '✗'} ${r.target.op} ${r.target.value}` : '',
      r.detail ?? '',
    ]);
    const header = ['name', 'value', 'unit', 'target', 'how'];
    const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
    const line = (c: string[]): string =>
      c.map((s, i) => (i === 1 ? s.padStart(widths[i]) : s.padEnd(widths[i]))).join('  ').trimEnd();
    const out = [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)];
    const notes = this.rows.filter((r) => r.unit === 'note');
    if (notes.length > 0) out.push('', 'notes:', ...notes.map((r) => `  ${r.name}: ${r.value}`));
    return out.join('\n');
  }

  printTable(): void {
    this.log.write(`\n${this.table()}\n`);
  }
}

function passes(value: number, t: Target): boolean {
  return t.op === '>=' ? value >= t.value : value <= t.value;
}

/** Four significant digits in the JSON lines. */
function round(v: number): number {
  return Number.isFinite(v) ? Number(v.toPrecision(4)) : v;
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (Number.isInteger(v) || a === 0) return String(v);
  if (a < 0.01) return v.toExponential(1);
  return v.toFixed(a >= 100 ? 1 : a >= 10 ? 2 : 3);
}

// ---- suites ------------------------------------------------------------------------------------------------

/** What a suite gets from the runner. */
export interface BenchContext {
  report: Reporter;
  /** True when this benchmark was asked for (no CLI filters, or a filter is a substring of name or the suite). */
  selected(name: string): boolean;
}

/**
 * A group of benchmarks. Register a new one in bench/run.ts (e.g. bench/models.ts exporting model suites for
 * forward tokens/s, generation, load time, ROME/MEMIT edit seconds). `benchmarks` lists the names run() may
 * report under, so `npm run bench -- --list` and filters work without running anything.
 */
export interface BenchSuite {
  name: string;
  description: string;
  benchmarks: string[];
  run(ctx: BenchContext): void | Promise<void>;
}
