// Where lmedit may write: output directories it made itself (recognised by a marker file), and output files or
// checkpoint directories that replace nothing the user did not ask to replace. Every refusal names the path and
// says what to do instead; nothing here deletes or overwrites anything.
//
//   prepareOutDir(dir, kind)   a new or empty directory gets the marker `.lmedit-<kind>` (JSON); a directory that
//                              has it is reused; anything else is refused (it could hold the user's own report.md).
//   checkOutputFile(file, …)   an existing file is replaced only with overwrite (and only when it is one of ours,
//                              if the caller says how to recognise those); never inside the source model's directory.
//   checkOutputDir(dir, …)     the same for a directory that will be replaced as a whole (a saved checkpoint);
//                              checkpointDirProblem says whether a directory is a saved model and nothing else.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomicSync } from './atomic.js';

/** The marker's file name for a kind of output directory ('report' → `.lmedit-report`, 'run' → `.lmedit-run`). */
export function markerFile(kind: string): string {
  if (!/^[a-z][a-z0-9-]*$/.test(kind)) throw new Error(`output directory kind must be lower-case letters, digits and '-', got '${kind}'`);
  return `.lmedit-${kind}`;
}

export interface OutDirOptions {
  /**
   * Recognises a directory of this kind written by an lmedit older than the marker (given the directory and its
   * entries); such a directory gets the marker and is reused. Default: none is recognised.
   */
  legacy?: (dir: string, entries: string[]) => boolean;
  /** What the command would write, named in the refusal (e.g. ['report.md', 'report.json']). */
  writes?: string[];
  /** The option that chose the directory, named in the refusal (default '--out'). */
  flag?: string;
}

export interface PreparedOutDir {
  dir: string;
  /** The marker file (now present). */
  marker: string;
  /** 'created': new directory; 'empty': existed, empty; 'reused': had the marker; 'adopted': recognised by `legacy`. */
  state: 'created' | 'empty' | 'reused' | 'adopted';
}

interface Marker {
  lmedit: string;
  kind: string;
  created: string;
}

function readMarker(file: string): Marker | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Marker;
    return m !== null && typeof m === 'object' && typeof m.kind === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}

function writeMarker(dir: string, kind: string): string {
  const file = path.join(dir, markerFile(kind));
  const marker: Marker = { lmedit: 'output directory written by lmedit; lmedit writes into it again only while this file is here', kind, created: new Date().toISOString() };
  writeFileAtomicSync(file, JSON.stringify(marker, null, 2) + '\n');
  return file;
}

/**
 * Makes `dir` ready for lmedit output of `kind`: creates it (with parents) and its marker when it does not exist,
 * marks it when it is empty, reuses it when it has this kind's marker. Refuses a path that is a file, a directory
 * with other content (naming a few of its entries and what would be written), and a directory marked for another
 * kind (an eval run directory is not a report directory).
 */
export function prepareOutDir(dir: string, kind: string, opts: OutDirOptions = {}): PreparedOutDir {
  const name = markerFile(kind);
  const flag = opts.flag ?? '--out';
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${flag} ${dir}: ${(e as Error).message}`, { cause: e });
  }
  if (st === undefined) {
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new Error(`${flag} ${dir}: cannot create the directory: ${(e as Error).message}`, { cause: e });
    }
    return { dir, marker: writeMarker(dir, kind), state: 'created' };
  }
  if (!st.isDirectory()) throw new Error(`${flag} ${dir} exists and is not a directory: choose a new or empty directory`);
  const entries = fs.readdirSync(dir).sort();
  if (entries.includes(name)) {
    const m = readMarker(path.join(dir, name));
    if (m?.kind === kind) return { dir, marker: path.join(dir, name), state: 'reused' };
    throw new Error(`${flag} ${dir}: its marker ${name} is damaged (not lmedit's JSON for '${kind}'); ` +
      `if lmedit made this directory, delete ${path.join(dir, name)} and its other files first, or choose another directory`);
  }
  if (entries.length === 0) return { dir, marker: writeMarker(dir, kind), state: 'empty' };
  const otherKinds = entries.filter((e) => e.startsWith('.lmedit-')).map((e) => e.slice('.lmedit-'.length));
  if (otherKinds.length > 0) {
    throw new Error(`${flag} ${dir} is an lmedit ${otherKinds.join('/')} directory, not a ${kind} directory: ` +
      `writing ${kind} files into it could overwrite its own; choose another directory`);
  }
  if (opts.legacy?.(dir, entries)) return { dir, marker: writeMarker(dir, kind), state: 'adopted' };
  const shown = entries.slice(0, 5).join(', ') + (entries.length > 5 ? `, … (${entries.length} entries)` : '');
  const writes = opts.writes?.length ? ` ${opts.writes.join(', ')} there` : ` ${kind} files there`;
  const clash = opts.writes?.filter((w) => entries.includes(w)) ?? [];
  throw new Error(`${flag} ${dir} is not empty (${shown}) and was not made by lmedit (no ${name} marker): refusing to write${writes}` +
    (clash.length ? `, which would overwrite your ${clash.join(', ')}` : ', which could overwrite your files') +
    `. Choose a new or empty directory (lmedit marks the directories it makes and reuses those)`);
}

/** `p` resolved through symlinks as far as it exists (the rest appended), so that aliases of one path compare equal. */
export function realPathOf(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let head = abs;
  for (;;) {
    try {
      return path.join(fs.realpathSync(head), ...rest.reverse());
    } catch {
      const parent = path.dirname(head);
      if (parent === head) return abs;
      rest.push(path.basename(head));
      head = parent;
    }
  }
}

/**
 * Whether `p` is `dir` or lies inside it, after resolving symlinks in `dir` and in `p`'s parent: `p` itself is
 * where a write lands (a rename replaces a link, not what it points to), so a link inside `dir` is inside.
 */
export function isInside(p: string, dir: string): boolean {
  const abs = path.resolve(p);
  const where = path.join(realPathOf(path.dirname(abs)), path.basename(abs));
  const rel = path.relative(realPathOf(dir), where);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

export interface OutputTargetOptions {
  /** Replace an existing target (the CLI's --overwrite). */
  overwrite?: boolean;
  /** The directory of the model being edited: a target inside it is always refused. */
  sourceDir?: string;
  /** The option that named the target, for messages (e.g. '--delta'). */
  flag?: string;
  /** The option that allows replacing (default '--overwrite'). */
  overwriteFlag?: string;
  /**
   * Why an existing target is not lmedit's own output of this kind (undefined: it is). With it, overwrite replaces
   * only targets it accepts; the reason is quoted in the refusal.
   */
  notOurs?: (target: string) => string | undefined;
}

function refuseInsideSource(target: string, o: OutputTargetOptions, what: string): void {
  if (o.sourceDir !== undefined && isInside(target, o.sourceDir)) {
    throw new Error(`${o.flag ?? 'output'} ${target}: refusing to write ${what} inside the source model's directory ${o.sourceDir} ` +
      `(it could replace or shadow the model's own files); choose a path outside it`);
  }
}

/**
 * Checks, before any work is done, that `file` may be written: not inside the source model's directory, not an
 * existing directory, an existing file only with `overwrite` (and, given `ours`, only when it is lmedit's own
 * output), in a directory that exists.
 */
export function checkOutputFile(file: string, o: OutputTargetOptions = {}): void {
  const flag = o.flag ?? 'output';
  const overwriteFlag = o.overwriteFlag ?? '--overwrite';
  refuseInsideSource(file, o, 'a file');
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch {
    // does not exist (or a dangling link, which the atomic rename replaces)
  }
  if (st?.isDirectory()) throw new Error(`${flag} ${file} is a directory; ${flag} takes a file path`);
  if (st !== undefined) {
    if (!o.overwrite) throw new Error(`${flag} ${file} already exists; pass ${overwriteFlag} to replace it, or choose another path`);
    const why = o.notOurs?.(file);
    if (why !== undefined) throw new Error(`${flag} ${file} ${why}; refusing to replace it even with ${overwriteFlag}`);
  }
  const parent = path.dirname(path.resolve(file));
  if (!fs.existsSync(parent) || !fs.statSync(parent).isDirectory()) {
    throw new Error(`${flag} ${file}: the directory ${parent} does not exist`);
  }
}

/**
 * Checks that `dir` may be (re)placed as a whole by a saved checkpoint: not inside the source model's directory,
 * not an existing file, an existing non-empty directory only with `overwrite` and (given `ours`) only when it is a
 * checkpoint lmedit could have written — replacing a directory removes everything in it.
 */
export function checkOutputDir(dir: string, o: OutputTargetOptions = {}): void {
  const flag = o.flag ?? 'output';
  const overwriteFlag = o.overwriteFlag ?? '--overwrite';
  refuseInsideSource(dir, o, 'a model');
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch {
    return; // a new directory
  }
  if (!st.isDirectory()) throw new Error(`${flag} ${dir} exists and is a file, not a directory; ${flag} takes a directory (a new one, or a saved model to replace with ${overwriteFlag})`);
  if (fs.readdirSync(dir).length === 0) return;
  if (!o.overwrite) throw new Error(`${flag} ${dir} exists and is not empty; pass ${overwriteFlag} to replace it, or choose another directory`);
  const why = o.notOurs?.(dir);
  if (why !== undefined) {
    throw new Error(`${flag} ${dir} ${why}; replacing the directory would delete everything in it, so lmedit refuses even with ${overwriteFlag}: choose a new directory`);
  }
}

/** Files a saved checkpoint directory holds (saveModel: weights, config, tokenizer files, lmedit's records). */
const CHECKPOINT_FILES = new Set([
  'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json',
  'merges.txt', 'tokenizer.model', 'added_tokens.json', 'tokenizer-vocab.json', 'model.safetensors', 'model.safetensors.index.json',
]);
const isCheckpointFile = (name: string) => CHECKPOINT_FILES.has(name) || /^model-\d{5}-of-\d{5}\.safetensors$/.test(name) || /^lmedit_[\w.-]+$/.test(name);

/**
 * Why `dir` is not a checkpoint directory that lmedit may replace as a whole (undefined when it is): it must hold
 * config.json with safetensors weights, and nothing else but the files a saved model has (so that replacing it
 * deletes none of the user's own files).
 */
export function checkpointDirProblem(dir: string): string | undefined {
  const entries = fs.readdirSync(dir);
  const has = (f: string) => entries.includes(f);
  if (!has('config.json') || !(has('model.safetensors') || has('model.safetensors.index.json'))) {
    return 'is not a saved model (no config.json with model.safetensors)';
  }
  const foreign = entries.filter((e) => !isCheckpointFile(e)).sort();
  if (foreign.length > 0) {
    return `holds files a saved model does not (${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? `, … ${foreign.length} in all` : ''})`;
  }
  return undefined;
}
