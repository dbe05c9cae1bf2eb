// The training log (<out>/train-log.jsonl): one JSON line per logged step ({type: 'train', step, lr, loss, ...}) and
// per validation ({type: 'val', step, edit_success, ...}). A resumed run first cuts it back to the checkpoint's line
// count, so the log of an interrupted and resumed run equals the uninterrupted one's (timings aside).
import * as fs from 'node:fs';
import * as path from 'node:path';

export const LOG_FILE = 'train-log.jsonl';

export interface LogLine {
  type: 'train' | 'val';
  step: number;
  [metric: string]: number | string;
}

export class TrainLog {
  readonly file: string;
  private lines: number;

  /** Opens the log in `outDir`, keeping its first `keep` lines (0: a fresh log). */
  constructor(outDir: string, keep: number) {
    this.file = path.join(outDir, LOG_FILE);
    fs.mkdirSync(outDir, { recursive: true });
    const existing = keep > 0 && fs.existsSync(this.file) ? fs.readFileSync(this.file, 'utf8').split('\n').filter((l) => l.trim() !== '') : [];
    if (existing.length < keep) throw new Error(`${this.file}: has ${existing.length} lines, the checkpoint expects at least ${keep} (the log was edited or lost; remove the checkpoint to start over)`);
    const kept = existing.slice(0, keep);
    fs.writeFileSync(this.file, kept.map((l) => `${l}\n`).join(''));
    this.lines = kept.length;
  }

  get count(): number {
    return this.lines;
  }

  write(line: LogLine): void {
    fs.appendFileSync(this.file, `${JSON.stringify(line)}\n`);
    this.lines++;
  }
}

/** Reads a training log; an error names the file and line. */
export function readTrainLog(file: string): LogLine[] {
  return fs.readFileSync(file, 'utf8').split('\n').flatMap((l, i) => {
    if (l.trim() === '') return [];
    try {
      return [JSON.parse(l) as LogLine];
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not a JSON line: ${(e as Error).message}`, { cause: e });
    }
  });
}
