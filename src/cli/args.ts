// Argument parsing shared by the commands (node:util parseArgs), with errors a user can act on.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { assertDtype, type DType } from '../tensor/dtype.js';

export class UsageError extends Error {}

export type Options = NonNullable<ParseArgsConfig['options']>;

export const MODEL_OPTIONS: Options = {
  model: { type: 'string', short: 'm' },
  dtype: { type: 'string' },
  device: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export function parse(argv: string[], options: Options, usage: string): { values: Record<string, any>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options: { ...MODEL_OPTIONS, ...options }, allowPositionals: true, strict: true });
    if (r.values.help) {
      console.log(usage);
      process.exit(0);
    }
    return { values: r.values as Record<string, any>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${usage}`);
  }
}

export function requireModel(values: Record<string, any>, usage: string): string {
  if (!values.model) throw new UsageError(`--model is required (a Hugging Face directory or a repo id in the local cache)\n\n${usage}`);
  return values.model;
}

export function dtypeOption(values: Record<string, any>): DType | undefined {
  if (values.dtype === undefined) return undefined;
  const d = assertDtype(values.dtype);
  if (!['float32', 'bfloat16', 'float16', 'float64'].includes(d)) throw new UsageError(`--dtype must be float32, bfloat16, float16 or float64`);
  return d;
}

export function numberOption(values: Record<string, any>, name: string, fallback?: number): number | undefined {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${v}'`);
  return n;
}
