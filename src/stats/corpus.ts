// A local text corpus cut into token chunks, the samples the second moment is averaged over.
//
// Protocol (the one golden/factgpt-layer2-mom2.safetensors was made with): every text is encoded whole, without
// special tokens, and cut into consecutive chunks of `chunk` tokens (the last one shorter); each chunk is later an
// independent forward pass from position 0. A text is a whole .txt file (UTF-8, newlines kept) or one JSONL record's
// text field. A "sample" is one chunk (ROME's mom2_n_samples counts texts of up to 1024 tokens: the same thing
// when texts are long).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { combinedFingerprint, type FingerprintOptions } from './fingerprint.js';

/** What the corpus reader needs of a tokenizer (`Tokenizer` from src/io fits; tests pass a byte-level stub). */
export interface TokenEncoder {
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
}

export interface ChunkOptions {
  /** Tokens per chunk (the context of one forward pass). */
  chunk: number;
  /** Keep at most this many chunks, in corpus order (undefined or 0: all). */
  samples?: number;
  /** Keep at most this many tokens; the last kept chunk is cut to fit (undefined or 0: all). */
  tokens?: number;
  /** JSONL field holding the text (default `text`). */
  field?: string;
}

export interface CorpusChunks {
  /** Token ids of each chunk, in corpus order. */
  chunks: Int32Array[];
  tokens: number;
  /** Texts read (files or records), including the one the budget stopped in. */
  texts: number;
}

const TEXT_EXTENSIONS = ['.txt', '.jsonl'];

function isJsonl(file: string): boolean {
  return file.endsWith('.jsonl');
}

/** The corpus's files in reading order: the file itself, or a directory's .txt/.jsonl files sorted by relative path. */
export function corpusFiles(corpus: string): string[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(corpus);
  } catch {
    throw new Error(`corpus ${corpus} does not exist`);
  }
  if (st.isFile()) return [corpus];
  if (!st.isDirectory()) throw new Error(`corpus ${corpus} is neither a file nor a directory`);
  const found: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch (e) {
      throw new Error(`cannot read corpus directory ${dir}: ${(e as Error).message}`, { cause: e });
    }
    for (const name of names) {
      const p = path.join(dir, name);
      let isDirectory = false;
      try {
        isDirectory = fs.statSync(p).isDirectory();
      } catch {
        // unreadable entry (e.g. a dangling link): reported by name when the file is read
      }
      if (isDirectory) walk(p);
      else if (TEXT_EXTENSIONS.some((ext) => name.endsWith(ext))) found.push(p);
    }
  };
  walk(corpus);
  if (found.length === 0) throw new Error(`corpus directory ${corpus} has no .txt or .jsonl files`);
  return found;
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read corpus file ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** The texts of one JSONL file: each non-blank line a JSON object whose `field` is a string. */
function* jsonlTexts(file: string, field: string): Generator<string> {
  const lines = readText(file).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`, { cause: e });
    }
    const text = record !== null && typeof record === 'object' ? (record as Record<string, unknown>)[field] : undefined;
    if (text === undefined) throw new Error(`${file}:${i + 1}: record has no "${field}" field (choose the field with --field)`);
    if (typeof text !== 'string') throw new Error(`${file}:${i + 1}: field "${field}" is ${typeof text}, expected a string`);
    yield text;
  }
}

/** Every text of the corpus, in reading order. */
export function* corpusTexts(corpus: string, field = 'text'): Generator<string> {
  for (const file of corpusFiles(corpus)) {
    if (isJsonl(file)) yield* jsonlTexts(file, field);
    else yield readText(file);
  }
}

/**
 * Reads and tokenizes the corpus into chunks, stopping as soon as the sample or token budget is met (texts past the
 * budget are never tokenized).
 */
export function chunkCorpus(corpus: string, encoder: TokenEncoder, opts: ChunkOptions): CorpusChunks {
  if (!Number.isInteger(opts.chunk) || opts.chunk <= 0) throw new Error(`chunk must be a positive integer, got ${opts.chunk}`);
  const maxChunks = opts.samples || Infinity;
  const maxTokens = opts.tokens || Infinity;
  const chunks: Int32Array[] = [];
  let tokens = 0;
  let texts = 0;
  for (const text of corpusTexts(corpus, opts.field)) {
    if (chunks.length >= maxChunks || tokens >= maxTokens) break;
    texts++;
    const ids = Int32Array.from(encoder.encode(text, { addSpecialTokens: false }));
    for (let start = 0; start < ids.length && chunks.length < maxChunks && tokens < maxTokens; start += opts.chunk) {
      const end = Math.min(start + opts.chunk, ids.length, start + (maxTokens - tokens));
      chunks.push(ids.subarray(start, end));
      tokens += end - start;
    }
  }
  if (tokens === 0) throw new Error(`corpus ${corpus} has no text (no tokens after tokenization)`);
  return { chunks, tokens, texts };
}

/**
 * Fingerprint of the corpus contents: its files' bytes, with their paths relative to the corpus (file order decides
 * chunk order) and, when it has JSONL files, the field read.
 */
export function corpusFingerprint(corpus: string, field = 'text', opts: FingerprintOptions = {}): string {
  const files = corpusFiles(corpus);
  const root = fs.statSync(corpus).isDirectory() ? corpus : path.dirname(corpus);
  const parts = files.map((file) => ({ name: files.length === 1 && file === corpus ? '.' : path.relative(root, file), file }));
  return combinedFingerprint(parts, opts, files.some(isJsonl) ? `field=${field}` : '');
}
