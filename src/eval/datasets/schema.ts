// Schema checks shared by the dataset loaders. Every error is a DatasetError whose message names the file, the
// record and the field ("/data/f.json: record 12: field 'alt' must be a string, got 3"); the loaders never index
// into a value before checking its type, so malformed input cannot end in a TypeError.
import type { Probe } from '../cases.js';
import { normalizeRequest, type EditRequest } from '../../methods/request.js';

/** A record (or file) that does not follow its format. `loadCases({ skipInvalid })` drops records that raise it. */
export class DatasetError extends Error {
  override name = 'DatasetError';
}

export type JsonObject = Record<string, unknown>;

/** A short rendering of a bad value for error messages (long values are cut). */
export function shown(v: unknown): string {
  const s = v === undefined ? 'nothing' : JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Typed reads of one record's fields; `where` is "<file>: record <i>", field paths are dotted ('requested_rewrite.subject'). */
export class Fields {
  constructor(readonly where: string) {}

  fail(path: string, problem: string): never {
    throw new DatasetError(`${this.where}: field '${path}' ${problem}`);
  }

  /** The record itself must be an object. */
  record(r: unknown): JsonObject {
    if (!isObject(r)) throw new DatasetError(`${this.where}: must be an object, got ${shown(r)}`);
    return r;
  }

  object(v: unknown, path: string): JsonObject;
  object(v: unknown, path: string, optional: true): JsonObject | undefined;
  object(v: unknown, path: string, optional = false): JsonObject | undefined {
    if (v === undefined || v === null) return optional ? undefined : this.fail(path, 'is missing');
    if (!isObject(v)) this.fail(path, `must be an object, got ${shown(v)}`);
    return v;
  }

  string(v: unknown, path: string): string;
  string(v: unknown, path: string, optional: true): string | undefined;
  string(v: unknown, path: string, optional = false): string | undefined {
    if (v === undefined || v === null) return optional ? undefined : this.fail(path, 'is missing');
    if (typeof v !== 'string') this.fail(path, `must be a string, got ${shown(v)}`);
    return v;
  }

  list(v: unknown, path: string): unknown[];
  list(v: unknown, path: string, optional: true): unknown[] | undefined;
  list(v: unknown, path: string, optional = false): unknown[] | undefined {
    if (v === undefined || v === null) return optional ? undefined : this.fail(path, 'is missing');
    if (!Array.isArray(v)) this.fail(path, `must be a list, got ${shown(v)}`);
    return v;
  }

  /** A list of strings (absent = empty list when optional). */
  strings(v: unknown, path: string, optional = false): string[] {
    const l = optional ? this.list(v, path, true) ?? [] : this.list(v, path);
    return l.map((s, j) => this.string(s, `${path}[${j}]`));
  }

  /** The first non-empty string of a string or a (nested) list of strings: KnowEdit's str | [str] | [[str, alias, ...]]. */
  firstString(v: unknown, path: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v.trim() === '' ? undefined : v;
    if (!Array.isArray(v)) this.fail(path, `must be a string or a list of strings, got ${shown(v)}`);
    for (let j = 0; j < v.length; j++) {
      const s = this.firstString(v[j], `${path}[${j}]`);
      if (s !== undefined) return s;
    }
    return undefined;
  }

  /** A case id: the record's own (a string or a number) or its index in the file. */
  caseId(v: unknown, path: string, index: number): string | number {
    if (v === undefined || v === null) return index;
    if (typeof v !== 'string' && typeof v !== 'number') this.fail(path, `must be a string or a number, got ${shown(v)}`);
    return v;
  }

  /**
   * Named probe lists `{ name: [{ prompt, ground_truth, ground_truth_before_edit? }] }` (a single object instead of a
   * list is accepted). Prompts and answers may be nested lists (the first non-empty string is taken); with `dropEmpty`
   * probes without a prompt or an answer are dropped (KnowEdit leaves them empty), otherwise they are errors.
   */
  probeLists(v: unknown, path: string, opts: { rename?: (name: string) => string; dropEmpty: boolean }): Record<string, Probe[]> {
    const out: Record<string, Probe[]> = {};
    const named = this.object(v, path, true);
    if (!named) return out;
    for (const [name, items] of Object.entries(named)) {
      if (items === undefined || items === null) continue;
      const list = Array.isArray(items) ? items : [items];
      const probes: Probe[] = [];
      list.forEach((item, j) => {
        const p = Array.isArray(items) ? `${path}.${name}[${j}]` : `${path}.${name}`;
        const o = this.object(item, p);
        const prompt = this.firstString(o.prompt, `${p}.prompt`);
        const groundTruth = this.firstString(o.ground_truth, `${p}.ground_truth`);
        const groundTruthBefore = this.firstString(o.ground_truth_before_edit, `${p}.ground_truth_before_edit`);
        if (prompt === undefined || groundTruth === undefined) {
          if (opts.dropEmpty) return;
          this.fail(prompt === undefined ? `${p}.prompt` : `${p}.ground_truth`, 'is missing or empty');
        }
        probes.push(groundTruthBefore === undefined ? { prompt, groundTruth } : { prompt, groundTruth, groundTruthBefore });
      });
      const key = opts.rename ? opts.rename(name) : name;
      if (probes.length > 0) out[key] = [...(out[key] ?? []), ...probes];
    }
    return out;
  }

  /**
   * Checks that the request is one the editor accepts (non-empty prompt, subject and target; the prompt holds `{}` or
   * the subject), naming the record fields it was built from.
   */
  request(r: EditRequest, from: { prompt: string; subject: string; targetNew: string }): EditRequest {
    try {
      normalizeRequest({ ...r, caseId: undefined }, 0);
    } catch (e) {
      const reason = (e as Error).message.replace(/^edit request 0: /, '');
      throw new DatasetError(`${this.where}: not a valid edit (prompt from '${from.prompt}', subject from '${from.subject}', target from '${from.targetNew}'): ${reason}`);
    }
    return r;
  }
}

export function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The record's boolean fields (known_prompt, …), kept as flags for filtering. */
export function booleanFlags(r: JsonObject): Record<string, boolean> {
  const flags: Record<string, boolean> = {};
  for (const [k, v] of Object.entries(r)) if (typeof v === 'boolean') flags[k] = v;
  return flags;
}
