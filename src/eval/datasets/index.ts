// Dataset loaders: every supported file format read into EditCases (../cases.ts), streamed record by record, with
// sampling and schema checks. docs/datasets.md describes each format's mapping.
//   flat               EasyEdit's flat CounterFact (prompt, subject, target_new, ground_truth, …)   flat.ts
//   zsre               zsRE in MEND's format (src, alt, answers, rephrase, loc, loc_ans)            zsre.ts
//   counterfact-rome   CounterFact as ROME/MEMIT ship it (case_id, requested_rewrite {…}, …)        counterfact-rome.ts
//   knowedit           KnowEdit (subject/concept, prompt/text, target_new/labels, portability, …)  knowedit.ts
//   mquake             MQuAKE multi-hop (requested_rewrite [...], questions, answer, new_answer)    mquake.ts
import type { EditCase } from '../cases.js';
import { counterfactRomeCase } from './counterfact-rome.js';
import { flatFormatCase } from './flat.js';
import { readRecords } from './json-records.js';
import { knoweditCase } from './knowedit.js';
import { mquakeCase } from './mquake.js';
import { Reservoir } from './sampling.js';
import { DatasetError, isObject, shown } from './schema.js';
import { zsreCase } from './zsre.js';

export { DatasetError } from './schema.js';
export { readRecords, RECORD_KEYS, type RawRecord, type ReadRecordsOptions } from './json-records.js';
export { mulberry32, Reservoir } from './sampling.js';
export { mergeAddons, loadAddons, distractingNeighbors, type MergeAddonsOptions } from './addons.js';
export { otherAttributeAddons, OTHER_ATTRIBUTE } from './other-attribute.js';
export { counterfactRomeCase, flatFormatCase, knoweditCase, mquakeCase, zsreCase };

export type DatasetFormat = 'flat' | 'zsre' | 'counterfact-rome' | 'knowedit' | 'mquake';

/** Parses one record of a format; `undefined` for a record the format itself leaves out (zsRE's alt == ""). */
export type CaseParser = (record: unknown, index: number, where: string) => EditCase | undefined;

/** Each format's record parser and the fields that identify it (for detectFormat's error). */
export const FORMATS: Record<DatasetFormat, { parse: CaseParser; fields: string }> = {
  flat: { parse: flatFormatCase, fields: 'prompt, subject, target_new, ground_truth, rephrase_prompt?, locality_prompt?' },
  zsre: { parse: zsreCase, fields: 'subject, src, alt, answers, rephrase, loc, loc_ans' },
  'counterfact-rome': { parse: counterfactRomeCase, fields: 'case_id, requested_rewrite {prompt, subject, target_new, target_true}, paraphrase_prompts, ...' },
  knowedit: { parse: knoweditCase, fields: 'subject|concept, prompt|text, target_new|labels, portability {Reasoning, ...}, locality {Relation_Specificity, ...}' },
  mquake: { parse: mquakeCase, fields: 'case_id, requested_rewrite [...], questions, answer, new_answer' },
};

const KNOWEDIT_KEYS = ['Reasoning', 'Subject_Aliasing', 'Logical_Generalization', 'Relation_Specificity', 'Forgetfulness'];

/** The format of a file from the fields of its first record; an error lists the fields seen when none fits. */
export function detectFormat(first: unknown, where = 'record 0'): DatasetFormat {
  if (!isObject(first)) throw new DatasetError(`${where}: cannot tell the dataset format: expected a record object, got ${shown(first)}`);
  const has = (k: string) => first[k] !== undefined && first[k] !== null;
  const rewrite = first.requested_rewrite;
  if (Array.isArray(rewrite) || (has('questions') && has('new_answer'))) return 'mquake';
  if (isObject(rewrite)) return 'counterfact-rome';
  if (has('src') && has('alt')) return 'zsre';
  const named = [first.portability, first.locality].flatMap((v) => (isObject(v) ? Object.keys(v) : []));
  if (['concept', 'text', 'labels'].some(has) || isObject(first.locality) || Array.isArray(first.ground_truth) || Array.isArray(first.target_new) || named.some((k) => KNOWEDIT_KEYS.includes(k))) {
    return 'knowedit';
  }
  if (has('prompt') && has('target_new')) return 'flat';
  const expected = Object.entries(FORMATS).map(([name, f]) => `${name} (${f.fields})`).join('; ');
  const keys = Object.keys(first);
  const seen = keys.length > 20 ? `${keys.slice(0, 20).join(', ')}, … (${keys.length} in all)` : keys.join(', ') || 'none';
  throw new DatasetError(`${where}: cannot tell the dataset format from the fields seen: ${seen}. Expected one of: ${expected} (or pass the format)`);
}

export interface LoadCasesOptions {
  /** The file's format; 'auto' (default) detects it from the first record. */
  format?: DatasetFormat | 'auto';
  /** Number of cases to return (default: all). */
  n?: number;
  /** Usable cases to pass over first (default 0). */
  offset?: number;
  /** Draw the n cases uniformly at random (mulberry32 seeded with this) from those after offset, in file order. */
  seed?: number;
  /** Only cases whose known_prompt flag is not false (the model knows the fact; flat files that measured it). */
  known?: boolean;
  /** Drop records that do not follow the format (counted, first messages kept) instead of failing on the first. */
  skipInvalid?: boolean;
  /** Bytes per read of the streaming reader (default 1 MiB). */
  chunkBytes?: number;
}

/** Records that gave no case, by reason. */
export interface SkipCounts {
  /** zsRE records without a new target (alt == ""), left out as EasyEdit does. */
  emptyTarget: number;
  /** Records that do not follow the format (only with skipInvalid). */
  invalid: number;
  /** Cases left out by `known` (known_prompt false). */
  notKnown: number;
}

export interface LoadedCases {
  cases: EditCase[];
  format: DatasetFormat;
  skipped: SkipCounts;
  /** Records read: the whole file when `complete`, else up to the last case needed. */
  total: number;
  /** Whether the file was read to its end (false when reading stopped after offset + n cases). */
  complete: boolean;
  /** The errors of skipped invalid records (the first 100). */
  problems: string[];
}

const MAX_PROBLEMS = 100;

/**
 * Reads the cases of a dataset file. Records that give no case (skipped) are not counted by `offset` and `n`: those
 * select among the usable cases, in file order. Without a seed the cases [offset, offset + n) are returned and the
 * file is read only that far; with a seed n cases are drawn uniformly from all usable cases after offset (the whole
 * file is read, n cases held at a time) and returned in file order, the same ones for the same seed.
 */
export function loadCases(file: string, opts: LoadCasesOptions = {}): LoadedCases {
  const offset = count(opts.offset, 'offset') ?? 0;
  const n = count(opts.n, 'n');
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) throw new Error(`loadCases: option 'seed' must be an integer, got ${opts.seed}`);
  const requested = opts.format ?? 'auto';
  if (requested !== 'auto' && !(requested in FORMATS)) throw new Error(`loadCases: unknown format '${requested}' (one of auto, ${Object.keys(FORMATS).join(', ')})`);
  let format = requested === 'auto' ? undefined : requested;
  const reservoir = opts.seed !== undefined && n !== undefined ? new Reservoir<EditCase>(n, opts.seed) : undefined;
  const limit = reservoir || n === undefined ? Infinity : offset + n;
  const skipped: SkipCounts = { emptyTarget: 0, invalid: 0, notKnown: 0 };
  const problems: string[] = [];
  const selected: EditCase[] = [];
  let usable = 0;
  let total = 0;
  let complete = true;
  for (const { record, index } of readRecords(file, { chunkBytes: opts.chunkBytes })) {
    total++;
    const where = `${file}: record ${index}`;
    format ??= detectFormat(record, where);
    let c: EditCase | undefined;
    try {
      c = FORMATS[format].parse(record, index, where);
    } catch (e) {
      if (!(e instanceof DatasetError) || !opts.skipInvalid) throw e;
      skipped.invalid++;
      if (problems.length < MAX_PROBLEMS) problems.push(e.message);
      continue;
    }
    if (c === undefined) skipped.emptyTarget++;
    else if (opts.known && c.flags.known_prompt === false) skipped.notKnown++;
    else {
      const k = usable++;
      if (k >= offset && k < limit) {
        if (reservoir) reservoir.offer(c);
        else selected.push(c);
      }
    }
    if (usable >= limit) {
      complete = false;
      break;
    }
  }
  if (format === undefined) throw new DatasetError(`${file}: holds no records, so its format cannot be detected`);
  return { cases: reservoir ? reservoir.items() : selected, format, skipped, total, complete, problems };
}

function count(v: number | undefined, name: string): number | undefined {
  if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new Error(`loadCases: option '${name}' must be a non-negative integer, got ${v}`);
  return v;
}
