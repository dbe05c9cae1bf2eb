// lmedit report: evaluation runs side by side. Prints the table and writes report.md, report.json and the plots
// (SVG and PNG) into --out.
import { join } from 'node:path';
import { expandRunDirs, readRuns, writeReport } from '../../report/index.js';
import { numberOption, parse, UsageError } from '../args.js';

const USAGE = `usage: lmedit report <run-dir> [<run-dir> ...] [options]

  Compares runs written by lmedit eval (each a directory with summary.json; a directory of such runs stands for
  all of them): one table row per run, one column block per protocol, and the plots the runs have data for.

  --out DIR          where report.md, report.json and the plots go (default runs/report)
  --metrics LIST     only these metrics: ES,PS,reliability,portability.*, a protocol (ROME, EasyEdit, its tag),
                     or tag:metric; comma-separated or repeated
  --pre              also a row per run with the scores before its edits
  --no-plots         the table only
  --scale N          PNG pixels per SVG pixel (default 2: 1600x1000)`;

export async function reportCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, {
    out: { type: 'string' }, metrics: { type: 'string', multiple: true }, pre: { type: 'boolean' },
    'no-plots': { type: 'boolean' }, scale: { type: 'string' },
  }, USAGE);
  if (positionals.length === 0) throw new UsageError(`name at least one run directory\n\n${USAGE}`);
  const scale = numberOption(values, 'scale', 2)!;
  if (!(scale > 0 && scale <= 8)) throw new UsageError(`--scale must be between 0 and 8, got ${scale}`);
  const out: string = values.out ?? join('runs', 'report');
  const runs = readRuns(expandRunDirs(positionals, out));
  if (runs.length === 0) throw new UsageError(`no run directories among ${positionals.join(' ')}`);
  const report = writeReport(runs, { out, pre: values.pre, metrics: values.metrics, plots: !values['no-plots'], scale });
  console.log(report.tableMarkdown);
  console.log('');
  for (const note of report.notes) console.log(`note: ${note}`);
  for (const file of report.files) console.log(`wrote ${file}`);
}
