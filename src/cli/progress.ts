// A progress bar on stderr for long work (loading, statistics, evaluation): count, rate and ETA. On a terminal it
// redraws one line; otherwise (CI logs, pipes) it prints a line at every 10% so logs stay short.

export interface ProgressOptions {
  /** What is being counted ("tensors", "tokens", "edits"). */
  unit?: string;
  /** Write somewhere else than process.stderr (tests). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Print nothing. */
  silent?: boolean;
}

export class Progress {
  private done = 0;
  /** Count at start (work done by an earlier process): excluded from the rate. */
  private baseline = 0;
  private start = Date.now();
  private lastDecile = -1;
  private lastDraw = 0;
  private lastNote = 0;
  private detail = '';
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean };

  constructor(readonly label: string, readonly total: number, readonly opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
  }

  /** Advances by n (default 1) and redraws when due. */
  tick(n = 1): void {
    this.done += n;
    this.draw(false);
  }

  /** Starts from `done` units finished earlier (a resumed run): they show in the count, not in the rate or ETA. */
  resume(done: number): void {
    this.done = done;
    this.baseline = done;
    this.start = Date.now();
    if (done > 0 && !this.opts.silent) this.stream.write(`${this.label}: resuming after ${done}/${this.total} ${this.opts.unit ?? 'it'}\n`);
  }

  /** Sets the absolute count. */
  update(done: number): void {
    this.done = done;
    this.detail = '';
    this.draw(false);
  }

  /**
   * Shows what the current unit is doing (e.g. "MEMIT z 12/100" inside a batch of 100 edits) after the count, until
   * the next update: redrawn on a terminal; on a log at most one line a minute (`intervalMs`).
   */
  note(text: string, intervalMs = 60_000): void {
    this.detail = text;
    if (this.opts.silent) return;
    if (this.stream.isTTY) {
      this.draw(false);
      return;
    }
    const now = Date.now();
    if (now - this.lastNote < intervalMs) return;
    this.lastNote = now;
    this.stream.write(`${this.label}: ${this.status(this.fraction)}\n`);
  }

  finish(): void {
    this.draw(true);
    if (!this.opts.silent && this.stream.isTTY) this.stream.write('\n');
  }

  /** Share of the total done, in [0, 1]; 1 when the total is 0. */
  private get fraction(): number {
    return this.total > 0 ? Math.min(1, this.done / this.total) : 1;
  }

  /** Current rate in units per second. */
  get rate(): number {
    const s = (Date.now() - this.start) / 1000;
    return s > 0 ? (this.done - this.baseline) / s : 0;
  }

  private draw(final: boolean): void {
    if (this.opts.silent) return;
    const now = Date.now();
    const frac = this.fraction;
    if (this.stream.isTTY) {
      if (!final && now - this.lastDraw < 100) return;
      this.lastDraw = now;
      const width = 24;
      const filled = Math.round(frac * width);
      this.stream.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.status(frac)}\x1b[K`);
      return;
    }
    const decile = Math.floor(frac * 10);
    if (decile === this.lastDecile && !final) return;
    if (final && decile === this.lastDecile && this.done !== this.total) return;
    this.lastDecile = decile;
    this.stream.write(`${this.label}: ${this.status(frac)}\n`);
  }

  private status(frac: number): string {
    const unit = this.opts.unit ?? 'it';
    const rate = this.rate;
    const left = rate > 0 ? (this.total - this.done) / rate : NaN;
    const eta = Number.isFinite(left) && frac < 1 ? ` ETA ${formatSeconds(left)}` : '';
    return `${this.done}/${this.total} ${unit} (${(frac * 100).toFixed(0)}%) ${formatRate(rate)} ${unit}/s${eta}${this.detail ? ` · ${this.detail}` : ''}`;
  }
}

function formatRate(r: number): string {
  return r >= 100 ? r.toFixed(0) : r.toFixed(2);
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${Math.round(s % 60).toString().padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${(m % 60).toString().padStart(2, '0')}m`;
}
