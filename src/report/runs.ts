// Reading the runs a report compares: the summary.json `lmedit eval` writes in each run directory, normalised into
// one record. Older and partial runs lack fields; what is missing is left undefined, what has the wrong type is an
// error naming the file. The first summaries (one protocol: `protocol`, `pre`, `post` at the top) are read too.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

/** Metric values of one protocol (percentages ×100; `n` the number of cases). */
export type MetricValues = Record<string, number>;

export interface CurvePoint {
  /** Edits made so far; the metrics are over all of them, measured after the last. */
  edits: number;
  metrics: Record<string, MetricValues>;
  /** The same over the cases whose subject no other edit so far touched. */
  oneEditPerSubject?: Record<string, MetricValues>;
  /** How many cases that is. */
  oneEditPerSubjectN?: number;
}

export interface Run {
  dir: string;
  file: string;
  name: string;
  /** Unique among the runs of one report (the name, or name and directory when two runs share a name). */
  label: string;
  /** False when the run stopped before all its cases (its figures are over the cases done). */
  complete: boolean;
  casesDone?: number;
  casesTotal?: number;
  model?: string;
  method: string;
  mode: string;
  batchSize?: number;
  measureWhen?: string;
  /** Cases measured. */
  n?: number;
  /** Protocol tag → before and after the edits. */
  metrics: Record<string, { pre?: MetricValues; post?: MetricValues }>;
  secondsPerEdit?: number;
  /** Edits whose optimised value came from the value cache (their seconds exclude the optimisation). */
  valuesFromCache?: number;
  peakRssBytes?: number;
  peakTensorBytes?: number;
  /** Sequential runs: the metrics after each number of accumulated edits, in increasing order. */
  curve: CurvePoint[];
}

export const SUMMARY_FILE = 'summary.json';

/** Reads one run directory's summary.json. */
export function readRun(dir: string): Run {
  const file = join(dir, SUMMARY_FILE);
  if (!existsSync(file)) throw new Error(`${file} not found: ${dir} is not a run directory written by lmedit eval (or the run has not written its summary yet)`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  return normalizeSummary(json, dir, file);
}

/** Reads several runs and gives each a label unique in the report. */
export function readRuns(dirs: string[]): Run[] {
  const runs = dirs.map(readRun);
  const count = new Map<string, number>();
  for (const r of runs) count.set(r.name, (count.get(r.name) ?? 0) + 1);
  for (const r of runs) r.label = count.get(r.name)! > 1 ? `${r.name} (${r.dir})` : r.name;
  return runs;
}

/**
 * The run directories the arguments name: a directory with a summary.json is a run; a directory without one whose
 * subdirectories have one stands for those (`lmedit report runs`); `skip` (the report's own output) is left out.
 * Anything else is kept, so that reading it reports the missing file.
 */
export function expandRunDirs(paths: string[], skip?: string): string[] {
  const skipped = skip === undefined ? undefined : resolve(skip);
  const out: string[] = [];
  for (const p of paths) {
    if (resolve(p) === skipped) continue;
    if (!existsSync(join(p, SUMMARY_FILE)) && existsSync(p) && statSync(p).isDirectory()) {
      const children = readdirSync(p).sort().map((c) => join(p, c)).filter((c) => resolve(c) !== skipped && existsSync(join(c, SUMMARY_FILE)));
      if (children.length > 0) {
        out.push(...children);
        continue;
      }
    }
    out.push(p);
  }
  return out;
}

type Json = Record<string, unknown>;

/** summary.json (either shape) → Run; `file` names the source in errors. */
export function normalizeSummary(json: unknown, dir: string, file: string): Run {
  const bad = (what: string) => new Error(`${file} is not an lmedit eval summary: ${what}`);
  const top = asObject(json, 'the top level must be a JSON object', bad);
  const section = (key: string): Json => (top[key] === undefined || top[key] === null ? {} : asObject(top[key], `'${key}' must be an object`, bad));
  const run = section('run');
  const setting = section('setting');
  const data = section('data');
  const efficiency = section('efficiency');
  const metrics = readMetrics(top, bad);
  const casesDone = num(run.casesDone);
  const casesTotal = num(run.casesTotal);
  const posts = Object.values(metrics).map((m) => m.post?.n).filter((n): n is number => n !== undefined);
  return {
    dir, file,
    name: str(run.name) ?? basename(resolve(dir)),
    label: str(run.name) ?? basename(resolve(dir)),
    complete: run.complete !== false && !(casesDone !== undefined && casesTotal !== undefined && casesDone < casesTotal),
    casesDone, casesTotal,
    model: modelName(top.model),
    method: str(top.method) ?? 'unknown',
    mode: str(setting.mode) ?? str(top.mode) ?? 'single',
    batchSize: num(setting.batchSize) ?? num(top.batchSize),
    measureWhen: str(setting.measureWhen),
    n: casesDone ?? (posts.length > 0 ? Math.max(...posts) : num(data.n)),
    metrics,
    secondsPerEdit: num(efficiency.secondsPerEdit) ?? num(top.secondsPerCase),
    valuesFromCache: num(efficiency.valuesFromCache),
    peakRssBytes: num(efficiency.peakRssBytes),
    peakTensorBytes: num(efficiency.peakTensorBytes),
    curve: readCurve(top.curve, bad),
  };
}

function readMetrics(top: Json, bad: (what: string) => Error): Run['metrics'] {
  if (top.metrics === undefined && typeof top.protocol === 'string') {
    // The first eval summaries: one protocol, its before/after at the top level.
    return { [top.protocol]: { pre: values(top.pre, `'pre'`, bad), post: values(top.post, `'post'`, bad) } };
  }
  const groups = asObject(top.metrics, `'metrics' must be an object of protocol tag → {pre, post}`, bad);
  const out: Run['metrics'] = {};
  for (const [tag, g] of Object.entries(groups)) {
    const group = asObject(g, `metrics['${tag}'] must be an object {pre, post}`, bad);
    out[tag] = { pre: values(group.pre, `metrics['${tag}'].pre`, bad), post: values(group.post, `metrics['${tag}'].post`, bad) };
  }
  return out;
}

function readCurve(curve: unknown, bad: (what: string) => Error): CurvePoint[] {
  if (curve === undefined || curve === null) return [];
  if (!Array.isArray(curve)) throw bad(`'curve' must be an array of {edits, metrics}`);
  const points = curve.map((p, i) => {
    const point = asObject(p, `curve[${i}] must be an object {edits, metrics}`, bad);
    const edits = num(point.edits);
    if (edits === undefined) throw bad(`curve[${i}].edits must be a number`);
    const groups = point.metrics === undefined ? {} : asObject(point.metrics, `curve[${i}].metrics must be an object`, bad);
    const metrics: Record<string, MetricValues> = {};
    for (const [tag, v] of Object.entries(groups)) metrics[tag] = values(v, `curve[${i}].metrics['${tag}']`, bad) ?? {};
    const single = point.oneEditPerSubject === undefined || point.oneEditPerSubject === null ? undefined
      : asObject(point.oneEditPerSubject, `curve[${i}].oneEditPerSubject must be an object {n, metrics}`, bad);
    if (!single) return { edits, metrics };
    const singleGroups = asObject(single.metrics ?? {}, `curve[${i}].oneEditPerSubject.metrics must be an object`, bad);
    const oneEditPerSubject: Record<string, MetricValues> = {};
    for (const [tag, v] of Object.entries(singleGroups)) oneEditPerSubject[tag] = values(v, `curve[${i}].oneEditPerSubject.metrics['${tag}']`, bad) ?? {};
    return { edits, metrics, oneEditPerSubject, oneEditPerSubjectN: num(single.n) };
  });
  return points.sort((a, b) => a.edits - b.edits);
}

/** The numeric entries of a metrics object; NaN is written as null by JSON.stringify and dropped here. */
function values(v: unknown, where: string, bad: (what: string) => Error): MetricValues | undefined {
  if (v === undefined || v === null) return undefined;
  const o = asObject(v, `${where} must be an object of metric → number`, bad);
  const out: MetricValues = {};
  for (const [k, x] of Object.entries(o)) if (typeof x === 'number' && Number.isFinite(x)) out[k] = x;
  return out;
}

function modelName(model: unknown): string | undefined {
  if (typeof model === 'string') return basename(model);
  if (model === null || typeof model !== 'object') return undefined;
  const m = model as Json;
  return str(m.name) ?? (typeof m.dir === 'string' ? basename(m.dir) : undefined);
}

function asObject(v: unknown, what: string, bad: (what: string) => Error): Json {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(what);
  return v as Json;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
}
