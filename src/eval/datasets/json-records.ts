// Streaming reader of record files: a top-level JSON array, an object holding the array under 'records', 'cases' or
// 'data' (other keys are skipped), or JSON lines. The file is read in chunks (1 MiB by default) with readSync and
// the records are yielded one at a time, so a caller that stops early reads only the start of the file, and no more
// than one record is held as text. A byte scanner finds where each record ends (it tracks strings, escapes and
// nesting; UTF-8 continuation bytes are all ≥ 0x80, so they never look like quotes or brackets) and JSON.parse
// parses the record's bytes. Errors name the file, the byte offset and the record index.
import { closeSync, openSync, readSync } from 'node:fs';
import { DatasetError } from './schema.js';

/** One record of a file with where it starts. */
export interface RawRecord {
  record: unknown;
  /** Position among the file's records (0-based). */
  index: number;
  /** Byte offset of the record in the file. */
  byte: number;
}

export interface ReadRecordsOptions {
  /** Bytes per read (default 1 MiB). */
  chunkBytes?: number;
}

/** The keys of a wrapper object that may hold the record array. */
export const RECORD_KEYS = ['records', 'cases', 'data'];

const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, COLON = 0x3a;
const LBRACKET = 0x5b, RBRACKET = 0x5d, LBRACE = 0x7b, RBRACE = 0x7d;
const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
const isValueEnd = (b: number) => isSpace(b) || b === COMMA || b === RBRACKET || b === RBRACE;

/**
 * Yields the records of a file in order. `.jsonl` / `.ndjson` files are always read as JSON lines; otherwise a file
 * starting with `{` whose top-level object holds no record array is read as JSON lines (that object being the first).
 */
export function* readRecords(file: string, opts: ReadRecordsOptions = {}): Generator<RawRecord> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new DatasetError(`${file}: cannot read: ${(e as Error).message}`, { cause: e });
  }
  try {
    const s = new ByteScanner(fd, file, opts.chunkBytes ?? 1 << 20);
    yield* records(s, /\.(jsonl|ndjson)$/i.test(file));
  } finally {
    closeSync(fd);
  }
}

function* records(s: ByteScanner, jsonLines: boolean): Generator<RawRecord> {
  s.skipBom();
  const c = s.skipSpace();
  if (c < 0) s.fail('the file is empty');
  if (jsonLines) return yield* lines(s, 0);
  if (c === LBRACKET) {
    s.advance();
    yield* arrayItems(s);
    return s.expectEnd();
  }
  if (c !== LBRACE) s.fail(`expected a JSON array, an object holding one under ${RECORD_KEYS.map((k) => `'${k}'`).join(', ')}, or JSON lines; found ${s.describe(c)} at byte ${s.offset}`);
  // A wrapper object, or the first of JSON lines: walk its top-level members looking for the record array.
  const start = s.offset;
  s.advance();
  let found = false;
  for (let first = true; ; first = false) {
    let b = s.skipSpace();
    if (b === RBRACE && first) break;
    if (b !== QUOTE) s.fail(b < 0 ? `truncated JSON: the object starting at byte ${start} is not closed` : `expected a key at byte ${s.offset}, found ${s.describe(b)}`);
    const key = JSON.parse(s.takeValue('a key').toString('utf8')) as string;
    if (s.skipSpace() !== COLON) s.fail(`expected ':' after the key '${key}' at byte ${s.offset}`);
    s.advance();
    const valueStart = s.skipSpace();
    if (!found && RECORD_KEYS.includes(key) && valueStart === LBRACKET) {
      s.advance();
      yield* arrayItems(s);
      found = true;
    } else {
      s.skipValue(`the value of '${key}'`);
    }
    b = s.skipSpace();
    if (b === COMMA) s.advance();
    else if (b === RBRACE) break;
    else s.fail(b < 0 ? `truncated JSON: the object starting at byte ${start} is not closed` : `expected ',' or '}' at byte ${s.offset}, found ${s.describe(b)}`);
  }
  s.advance();
  if (found) return s.expectEnd();
  yield { record: s.parse(s.readRange(start, s.offset), 'record 0', start), index: 0, byte: start };
  yield* lines(s, 1);
}

/** The items of an array whose '[' was just consumed. */
function* arrayItems(s: ByteScanner): Generator<RawRecord> {
  if (s.skipSpace() === RBRACKET) return s.advance();
  for (let index = 0; ; index++) {
    if (s.skipSpace() < 0) s.fail(`truncated JSON: the record array ends after record ${index - 1} without ']'`);
    const byte = s.offset;
    yield { record: s.parse(s.takeValue(`record ${index}`), `record ${index}`, byte), index, byte };
    const b = s.skipSpace();
    if (b === COMMA) s.advance();
    else if (b === RBRACKET) return s.advance();
    else if (b < 0) s.fail(`truncated JSON: the record array ends after record ${index} (byte ${s.offset}) without ']'`);
    else s.fail(`expected ',' or ']' after record ${index} at byte ${s.offset}, found ${s.describe(b)}`);
  }
}

/** JSON values separated by white space (JSON lines), numbered from `index`. */
function* lines(s: ByteScanner, index: number): Generator<RawRecord> {
  for (; s.skipSpace() >= 0; index++) {
    const byte = s.offset;
    yield { record: s.parse(s.takeValue(`record ${index}`), `record ${index}`, byte), index, byte };
  }
}

/** Sequential reads of a file with a one-chunk window, a byte offset, and capture of the bytes of one value. */
class ByteScanner {
  private buf: Buffer;
  private pos = 0;
  private end = 0;
  /** File offset of buf[0]. */
  private base = 0;
  /** Captured bytes from earlier chunks, while a value is being taken. */
  private pieces: Buffer[] | null = null;
  private markPos = 0;

  constructor(private readonly fd: number, readonly file: string, chunkBytes: number) {
    this.buf = Buffer.allocUnsafe(Math.max(1, chunkBytes));
  }

  get offset(): number {
    return this.base + this.pos;
  }

  fail(problem: string): never {
    throw new DatasetError(`${this.file}: ${problem}`);
  }

  describe(b: number): string {
    return b < 0 ? 'the end of the file' : b >= 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}'` : `byte 0x${b.toString(16)}`;
  }

  /** Reads the next chunk (keeping the captured part of the current one); false at the end of the file. */
  private fill(): boolean {
    if (this.pieces) this.pieces.push(Buffer.from(this.buf.subarray(this.markPos, this.end)));
    this.markPos = 0;
    this.base += this.end;
    this.pos = 0;
    this.end = readSync(this.fd, this.buf, 0, this.buf.length, this.base);
    return this.end > 0;
  }

  /** The next byte without consuming it; -1 at the end of the file. */
  peek(): number {
    if (this.pos >= this.end && !this.fill()) return -1;
    return this.buf[this.pos];
  }

  advance(): void {
    this.pos++;
  }

  skipBom(): void {
    if (this.peek() === 0xef && this.end - this.pos >= 3 && this.buf[this.pos + 1] === 0xbb && this.buf[this.pos + 2] === 0xbf) this.pos += 3;
  }

  /** Skips white space; returns the next byte (-1 at the end). */
  skipSpace(): number {
    for (;;) {
      const b = this.peek();
      if (b < 0 || !isSpace(b)) return b;
      this.pos++;
    }
  }

  /** Consumes one JSON value (the scanner is at its first byte) and returns its bytes (a view until the next read). */
  takeValue(what: string): Buffer {
    this.pieces = [];
    this.markPos = this.pos;
    try {
      this.skipValue(what);
      const last = this.buf.subarray(this.markPos, this.pos);
      return this.pieces.length === 0 ? last : Buffer.concat([...this.pieces, last]);
    } finally {
      this.pieces = null;
    }
  }

  /**
   * Consumes one JSON value. Strings and containers end at their closing quote or bracket (escapes and nesting
   * tracked); scalars end before white space, ',', ']' or '}'. Bracket mismatches are left to JSON.parse.
   */
  skipValue(what: string): void {
    const start = this.offset;
    const first = this.peek();
    if (first < 0 || first === COMMA || first === COLON || first === RBRACKET || first === RBRACE) {
      this.fail(`expected ${what} at byte ${start}, found ${this.describe(first)}`);
    }
    if (first !== QUOTE && first !== LBRACE && first !== LBRACKET) {
      while (this.peek() >= 0 && !isValueEnd(this.buf[this.pos])) this.pos++;
      return;
    }
    let depth = 0;
    let inString = false;
    let escaped = false;
    for (;;) {
      if (this.pos >= this.end && !this.fill()) this.fail(`truncated JSON: ${what} starting at byte ${start} is not closed at the end of the file (byte ${this.offset})`);
      const buf = this.buf;
      const end = this.end;
      let p = this.pos;
      for (; p < end; p++) {
        const b = buf[p];
        if (inString) {
          if (escaped) escaped = false;
          else if (b === BACKSLASH) escaped = true;
          else if (b === QUOTE) {
            inString = false;
            if (depth === 0) {
              this.pos = p + 1;
              return;
            }
          }
        } else if (b === QUOTE) {
          inString = true;
        } else if (b === LBRACE || b === LBRACKET) {
          depth++;
        } else if (b === RBRACE || b === RBRACKET) {
          if (--depth === 0) {
            this.pos = p + 1;
            return;
          }
        }
      }
      this.pos = p;
    }
  }

  /** Nothing but white space may follow the top-level value. */
  expectEnd(): void {
    const b = this.skipSpace();
    if (b >= 0) this.fail(`unexpected ${this.describe(b)} at byte ${this.offset} after the end of the JSON value`);
  }

  /** Bytes [from, to) of the file, read directly (for a value already scanned past). */
  readRange(from: number, to: number): Buffer {
    const out = Buffer.allocUnsafe(to - from);
    let done = 0;
    while (done < out.length) {
      const n = readSync(this.fd, out, done, out.length - done, from + done);
      if (n === 0) break;
      done += n;
    }
    return out.subarray(0, done);
  }

  parse(bytes: Buffer, what: string, byte: number): unknown {
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch (e) {
      return this.fail(`${what} (byte ${byte}): not valid JSON: ${(e as Error).message}`);
    }
  }
}
