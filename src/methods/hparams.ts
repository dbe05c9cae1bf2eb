// Hyper-parameters: YAML files with EasyEdit's field names (hparams/<METHOD>/<model>.yaml), checked against a
// typed schema. Errors name the file and the field: unknown fields, wrong types, values below a field's minimum,
// layers out of range, an empty file, and an alg_name that is not the method being run.
import { readFileSync, existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { CausalLM, type LanguageModel } from '../models/index.js';

export type FieldType = 'number' | 'integer' | 'boolean' | 'string' | 'integer[]' | 'number[][]' | 'number[][]|null' | 'string|null' | 'string[]|null';

export interface FieldSpec {
  type: FieldType;
  /** Default when the field is absent; a field without a default is required. */
  default?: unknown;
  doc?: string;
  /** Smallest allowed value (inclusive); for list types, of every element. */
  min?: number;
  /** Values must be greater than this (e.g. a learning rate: exclusiveMin 0); for list types, every element. */
  exclusiveMin?: number;
  /** For list types: the fewest elements (e.g. layers: 1). */
  minItems?: number;
}

export type Schema = Record<string, FieldSpec>;

/** Fields every EasyEdit hparams file may carry that do not change the algorithm here. */
const COMMON: Schema = {
  alg_name: { type: 'string', default: '' },
  model_name: { type: 'string', default: '' },
  device: { type: 'string|null', default: null },
  model_parallel: { type: 'boolean', default: false },
  fp16: { type: 'boolean', default: false },
  stats_dir: { type: 'string', default: '' },
  max_length: { type: 'integer', default: 40, min: 1 },
  batch_size: { type: 'integer', default: 1, min: 1 },
};

export interface ModuleTemplateHparams {
  rewrite_module_tmp: string;
  layer_module_tmp: string;
  mlp_module_tmp: string;
  attn_module_tmp: string;
  ln_f_module: string;
  lm_head_module: string;
}

export interface StatsHparams {
  /** Use C⁻¹k (ROME) / λC (MEMIT); false drops the statistics (EasyEdit's ROME YAML default). */
  mom2_adjustment: boolean;
  mom2_dataset: string;
  mom2_n_samples: number;
  mom2_dtype: string;
}

/** Module templates of EasyEdit's hparams files ({} = layer index); only rewrite_module_tmp is always needed. */
export const MODULE_TEMPLATE_FIELDS: Schema = {
  rewrite_module_tmp: { type: 'string' },
  layer_module_tmp: { type: 'string', default: '' },
  mlp_module_tmp: { type: 'string', default: '' },
  attn_module_tmp: { type: 'string', default: '' },
  ln_f_module: { type: 'string', default: '' },
  lm_head_module: { type: 'string', default: '' },
};

/** Where the second-moment statistics come from (recorded; the corpus itself is given at run time). */
export const STATS_FIELDS: Schema = {
  mom2_adjustment: { type: 'boolean', default: true },
  mom2_dataset: { type: 'string', default: 'wikitext-2' },
  mom2_n_samples: { type: 'integer', default: 100000, min: 0, doc: '0 = the whole corpus' },
  mom2_dtype: { type: 'string', default: 'float32' },
};

function check(type: FieldType, v: unknown): boolean {
  switch (type) {
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'integer': return Number.isInteger(v);
    case 'boolean': return typeof v === 'boolean';
    case 'string': return typeof v === 'string';
    case 'string|null': return v === null || typeof v === 'string' || typeof v === 'number';
    case 'integer[]': return Array.isArray(v) && v.every((x) => Number.isInteger(x));
    case 'number[][]': return Array.isArray(v) && v.every((x) => Array.isArray(x) && x.every((y) => typeof y === 'number'));
    case 'number[][]|null': return v === null || (Array.isArray(v) && v.every((x) => Array.isArray(x) && x.every((y) => typeof y === 'number')));
    case 'string[]|null': return v === null || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
  }
}

/** PyYAML reads `5e-1` as a string; EasyEdit converts such strings, so do we. */
function coerce(type: FieldType, v: unknown): unknown {
  if ((type === 'number' || type === 'integer') && typeof v === 'string' && /^[-+]?\d*\.?\d+(e[-+]?\d+)?$/i.test(v.trim())) return Number(v);
  return v;
}

/** The numbers a value holds (itself, or a list's elements at any depth), for the minimum checks. */
function numbersOf(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  return Array.isArray(v) ? v.flatMap(numbersOf) : [];
}

/** The schema's range and length rules for one (type-checked) value; a message, or undefined when it passes. */
function violation(spec: FieldSpec, v: unknown): string | undefined {
  const list = spec.type.includes('[]');
  const each = list ? 'every element ' : '';
  for (const x of numbersOf(v)) {
    if (spec.min !== undefined && x < spec.min) return `${each}must be >= ${spec.min}`;
    if (spec.exclusiveMin !== undefined && x <= spec.exclusiveMin) return `${each}must be > ${spec.exclusiveMin}`;
  }
  if (spec.minItems !== undefined && Array.isArray(v) && v.length < spec.minItems) {
    return `must list at least ${spec.minItems} element${spec.minItems === 1 ? '' : 's'}`;
  }
  return undefined;
}

/** Validates a raw object against the schema (plus the common fields); `source` names the file in errors. */
export function validateHparams<T>(raw: Record<string, unknown>, schema: Schema, source: string): T {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${source}: hparams must be a mapping of field: value`);
  const full = { ...COMMON, ...schema };
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(raw)) {
    if (!(key in full)) {
      const near = Object.keys(full).filter((k) => k.split('_')[0] === key.split('_')[0]);
      throw new Error(`${source}: unknown field '${key}'${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}`);
    }
  }
  for (const [key, spec] of Object.entries(full)) {
    if (!(key in raw)) {
      if (spec.default === undefined) throw new Error(`${source}: required field '${key}' is missing${spec.doc ? ` (${spec.doc})` : ''}`);
      out[key] = spec.default;
      continue;
    }
    const v = coerce(spec.type, raw[key]);
    if (!check(spec.type, v)) throw new Error(`${source}: field '${key}' must be ${spec.type}, got ${JSON.stringify(raw[key])}`);
    const why = violation(spec, v);
    if (why !== undefined) throw new Error(`${source}: field '${key}' ${why}, got ${JSON.stringify(raw[key])}${spec.doc ? ` (${spec.doc})` : ''}`);
    out[key] = v;
  }
  return out as T;
}

/** Reads a YAML (or JSON) hparams file; '.yaml' is appended when the path has no extension, as EasyEdit does. */
export function readHparamsFile(path: string): { raw: Record<string, unknown>; file: string } {
  const file = existsSync(path) ? path : existsSync(`${path}.yaml`) ? `${path}.yaml` : path;
  if (!existsSync(file)) throw new Error(`hparams file not found: ${path}`);
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid YAML: ${(e as Error).message}`, { cause: e });
  }
  if (raw === null || raw === undefined) {
    throw new Error(`${file}: the hparams file is empty (expected a mapping of field: value, e.g. hparams/ROME/kbgpt.yaml)`);
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error(`${file}: hparams must be a mapping of field: value, got ${Array.isArray(raw) ? 'a list' : `the ${typeof raw} ${JSON.stringify(raw)}`}`);
  }
  return { raw: raw as Record<string, unknown>, file };
}

/**
 * The alg_name values a method accepts in its hparams (EasyEdit writes alg_name into every file). An empty or
 * absent alg_name is always accepted. Variants:
 *   ROME    ROME                 (an R-ROME file turns on random-prefix keys: run it with --method R-ROME)
 *   R-ROME  R-ROME, ROME         (R-ROME is ROME plus enable_random_prefix_keys, which the method sets)
 *   MEMIT   MEMIT
 *   FT      FT, FT-L, FT-M       (EasyEdit's files say FT and choose with objective_optimization)
 *   FT-L    FT-L, FT             and objective_optimization, when given, must be prompt_last
 *   FT-M    FT-M, FT             and objective_optimization, when given, must be target_new
 *   other   its own name only    (methods registered later)
 * Names compare case-insensitively, ignoring '-', '_' and spaces (r_rome = R-ROME).
 */
export const ALG_NAME_VARIANTS: Readonly<Record<string, readonly string[]>> = {
  ROME: ['ROME'],
  'R-ROME': ['R-ROME', 'ROME'],
  MEMIT: ['MEMIT'],
  FT: ['FT', 'FT-L', 'FT-M'],
  'FT-L': ['FT-L', 'FT'],
  'FT-M': ['FT-M', 'FT'],
};

const FT_OBJECTIVE: Readonly<Record<string, string>> = { 'FT-L': 'prompt_last', 'FT-M': 'target_new' };

function canonicalAlgName(name: string): string {
  return name.toUpperCase().replace(/[-_\s]/g, '');
}

/**
 * Refuses hparams written for another method: `raw.alg_name` (when set) must be one `methodName` accepts (see
 * ALG_NAME_VARIANTS), and an FT-L/FT-M run must not be given the other objective. `source` names the file.
 */
export function checkAlgName(raw: Record<string, unknown>, methodName: string, source: string): void {
  const method = methodName.toUpperCase();
  const alg = raw.alg_name;
  if (alg !== undefined && alg !== null && alg !== '') {
    if (typeof alg !== 'string') throw new Error(`${source}: field 'alg_name' must be string, got ${JSON.stringify(alg)}`);
    const accepted = ALG_NAME_VARIANTS[method] ?? [method];
    if (!accepted.some((a) => canonicalAlgName(a) === canonicalAlgName(alg))) {
      throw new Error(`${source}: alg_name '${alg}' says these hparams are for ${alg}, but the method is ${method}` +
        ` (${method} accepts alg_name ${accepted.join(' or ')}): pass --method ${alg.toUpperCase()}, or the ${method} hparams file`);
    }
  }
  const objective = FT_OBJECTIVE[method];
  const given = raw.objective_optimization;
  if (objective !== undefined && given !== undefined && given !== objective) {
    const other = Object.entries(FT_OBJECTIVE).find(([, o]) => o === given)?.[0];
    throw new Error(`${source}: objective_optimization '${String(given)}' contradicts the method ${method} (which is objective_optimization ${objective})` +
      (other ? `: pass --method ${other}, or drop the field` : ''));
  }
}

/**
 * Parses `field=value` overrides (`lmedit eval --set mom2_update_weight=1000 --set layers=[3,4]`); values are read as
 * YAML, like the files. An item without `=` or an empty field is an error naming the item.
 */
export function parseOverrides(items: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`hparams override '${item}': expected field=value (e.g. mom2_update_weight=1000)`);
    const text = item.slice(eq + 1);
    let value: unknown;
    try {
      value = text === '' ? '' : parseYaml(text);
    } catch (e) {
      throw new Error(`hparams override '${item}': the value is not valid YAML: ${(e as Error).message}`, { cause: e });
    }
    out[item.slice(0, eq).trim()] = value;
  }
  return out;
}

/** Checks that layer indices and module templates fit the model; errors name the source. */
export function checkAgainstModel(model: LanguageModel, source: string, layers: number[], templates: Record<string, string>): void {
  const n = model.dims.numLayers;
  for (const l of layers) {
    if (l < 0 || l >= n) throw new Error(`${source}: layer ${l} is out of range (the model has ${n} layers: 0..${n - 1})`);
  }
  const known = new Set(model.modulePaths());
  const params = new Set(model.parameterNames());
  for (const [field, tmpl] of Object.entries(templates)) {
    const path = tmpl.replace('{}', String(layers[0] ?? 0));
    if (!known.has(path) && !params.has(`${path}.weight`)) {
      const example = model instanceof CausalLM ? model.templates.rewriteModule : 'decoder.block.{}.layer.2.DenseReluDense.wo';
      throw new Error(`${source}: ${field} '${tmpl}' does not name a module of this ${model.modelType} model ` +
        `(expected e.g. '${example}'; see \`lmedit inspect\`)`);
    }
  }
}
