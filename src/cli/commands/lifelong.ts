// lmedit lifelong: the lifelong-editing benchmark. Sequential edits of the same known cases with several methods, each
// a resumable `lmedit eval` run directory under --out; after 10, 50, 100, 200 and 500 edits every edit so far is
// measured again (ES/PS, EasyEdit reliability/generalization), with locality (NS, EasyEdit locality), the
// other-attribute locality of the edited subjects (--kb), and how well the edit-conflict warnings predicted the edits
// lost by then. Then one table (lifelong.md / lifelong.json) and the plots (report/), from whatever the runs have.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeFileAtomicSync } from '../../io/atomic.js';
import { prepareOutDir } from '../../io/out-dir.js';
import { loadCases, otherAttributeAddons } from '../../eval/datasets/index.js';
import type { RunSummary } from '../../eval/summarize.js';
import { methodFor } from '../../editor/methods.js';
import { lifelongMarkdown, lifelongRows, mergeLifelong, parseLifelongTables, rowsAsRuns, type LifelongTables } from '../../report/lifelong.js';
import { readRuns, writeReport } from '../../report/index.js';
import { numberOption, parse, requireModel, UsageError } from '../args.js';
import { evalCommand } from './eval.js';

export const LIFELONG_METHODS = ['GRACE', 'WISE', 'T-Patcher', 'AlphaEdit', 'MEMIT', 'ROME', 'FT-M'];

const USAGE = `usage: lmedit lifelong --model <dir> --data <cases.json> [options]

  Sequential editing of the first --n known cases with each method (one lmedit eval run directory per method under
  --out, resumable: rerun the same command to continue), then lifelong.md / lifelong.json and the plots.

  --methods LIST     comma-separated (default ${LIFELONG_METHODS.join(',')}); unknown names are refused up front
  --n N              known cases to edit (default 500)
  --curve LIST       edits after which every edit so far is measured (default 10,50,100,200,500)
  --batch-size N     requests per sequential edit (default 1)
  --kb FILE          knowledge base (kbgpt's kb.json): adds other-attribute locality probes of the edited subjects
  --out DIR          default runs/lifelong
  --corpus PATH      statistics corpus for ROME/MEMIT/AlphaEdit (default $LMEDIT_CORPUS)
  --hparams M=FILE   this method's hparams file instead of hparams/<M>/<model>.yaml (repeatable), e.g. one whose
                     memory or pool cases are disjoint from the --n evaluated ones
  --report-only      only (re)build the tables and plots from the runs already there
  --merge FILE       an earlier run's lifelong.json: its methods that have no run directory here join the table and
                     the plots (marked as taken from FILE), e.g. when one method is rerun in a fresh --out

  Example (kbgpt, the README's lifelong table):
    npx lmedit lifelong --model ../shared/data/kbgpt --data ../shared/data/kbgpt/edits.json --kb ../shared/data/kbgpt/kb.json`;

const slug = (m: string) => m.toLowerCase().replace(/[^a-z0-9]+/g, '-');

export async function lifelongCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    data: { type: 'string' }, methods: { type: 'string' }, n: { type: 'string' }, curve: { type: 'string' }, 'batch-size': { type: 'string' },
    kb: { type: 'string' }, out: { type: 'string' }, corpus: { type: 'string' }, 'report-only': { type: 'boolean' },
    merge: { type: 'string' }, hparams: { type: 'string', multiple: true },
  }, USAGE);
  const hparamsFor = new Map<string, string>();
  for (const item of (values.hparams ?? []) as string[]) {
    const at = item.indexOf('=');
    if (at <= 0) throw new UsageError(`--hparams: expected METHOD=FILE, got '${item}'`);
    hparamsFor.set(item.slice(0, at).toUpperCase(), item.slice(at + 1));
  }
  const model = requireModel(values, USAGE);
  if (!values.data) throw new UsageError(`--data is required\n\n${USAGE}`);
  const methods = String(values.methods ?? LIFELONG_METHODS.join(',')).split(',').map((m) => m.trim()).filter(Boolean);
  for (const m of methods) {
    try { methodFor(m); } catch (e) { throw new UsageError(`--methods: ${(e as Error).message}`); }
  }
  for (const m of hparamsFor.keys()) {
    if (!methods.some((x) => x.toUpperCase() === m)) throw new UsageError(`--hparams names ${m}, which is not among --methods (${methods.join(', ')})`);
  }
  const n = numberOption(values, 'n', 500)!;
  const curve = String(values.curve ?? '10,50,100,200,500');
  const out: string = values.out ?? join('runs', 'lifelong');
  const merge = values.merge ? readMerge(values.merge) : undefined;
  prepareOutDir(out, 'lifelong');
  const runDirs = methods.map((m) => join(out, slug(m)));
  const tables = () => writeTables(out, runDirs, basename(model), merge);

  if (!values['report-only']) {
    const common = ['--model', model, '--data', values.data, '--known', '--n', String(n), '--mode', 'sequential', '--curve', curve,
      '--batch-size', String(numberOption(values, 'batch-size', 1)), ...(values.corpus ? ['--corpus', values.corpus] : [])];
    if (values.kb) common.push('--addons', writeOtherAttribute(out, values.kb, values.data, n));
    const failed: string[] = [];
    // Ctrl-C: the running evaluation stops after its current edit (its own handler) and no further method starts
    let stopped = false;
    const onSigint = () => { stopped = true; };
    process.on('SIGINT', onSigint);
    for (const [i, m] of methods.entries()) {
      if (stopped) break;
      console.error(`lmedit lifelong: ${m} (${i + 1}/${methods.length}) → ${runDirs[i]}`);
      try {
        const h = hparamsFor.get(m.toUpperCase());
        await evalCommand([...common, '--method', m, ...(h ? ['--hparams', h] : []), '--out', runDirs[i]]);
      } catch (e) {
        failed.push(`${m}: ${(e as Error).message}`);
        console.error(`lmedit lifelong: ${m} failed: ${(e as Error).message} (the other methods go on)`);
      }
    }
    process.off('SIGINT', onSigint);
    if (stopped) console.error('lmedit lifelong: stopped; rerun the same command to continue');
    tables();
    if (failed.length) throw new Error(`${failed.length} method(s) failed:\n  ${failed.join('\n  ')}`);
    return;
  }
  tables();
}

/** --merge: read before any work, so that a bad file is refused up front. */
function readMerge(file: string): { file: string; tables: LifelongTables } {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw new UsageError(`--merge: cannot read ${file}: ${(e as Error).message}`); }
  let json: unknown;
  try { json = JSON.parse(text); } catch (e) { throw new UsageError(`--merge: ${file} is not JSON: ${(e as Error).message}`); }
  try { return { file, tables: parseLifelongTables(json, file) }; } catch (e) { throw new UsageError(`--merge: ${(e as Error).message}`); }
}

/** The other-attribute add-on file of the selected cases, written once into the output directory. */
function writeOtherAttribute(out: string, kb: string, data: string, n: number): string {
  const file = join(out, 'other-attribute.json');
  const cases = loadCases(data, { n, known: true }).cases;
  const all = loadCases(data, { n: Number.MAX_SAFE_INTEGER }).cases;
  const addons = otherAttributeAddons(kb, cases, all);
  writeFileAtomicSync(file, JSON.stringify(addons) + '\n');
  return file;
}

function writeTables(out: string, runDirs: string[], modelName: string, merge?: { file: string; tables: LifelongTables }): void {
  const present = runDirs.filter((d) => existsSync(join(d, 'summary.json')));
  if (present.length === 0 && !merge) throw new Error(`no finished or partial runs under ${out} yet`);
  const summaries = present.map((d) => JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8')) as RunSummary);
  const runs = readRuns(present);
  let tables = lifelongRows(summaries);
  let merged: { methods: string[]; file: string } | undefined;
  if (merge) {
    const m = mergeLifelong(tables, merge.tables);
    tables = m.tables;
    merged = { methods: m.methods, file: merge.file };
    runs.unshift(...rowsAsRuns(tables.rows.filter((r) => m.methods.includes(r.method)), merge.file, runs[0]?.model ?? modelName));
  }
  const md = lifelongMarkdown(tables, merged);
  writeFileAtomicSync(join(out, 'lifelong.md'), md);
  writeFileAtomicSync(join(out, 'lifelong.json'), JSON.stringify(tables, null, 2) + '\n');
  const report = writeReport(runs, { out: join(out, 'report'), plots: true, metrics: ['ES', 'PS', 'NS', 'reliability', 'generalization', 'locality', 'locality.*'] });
  console.log(md);
  for (const f of [join(out, 'lifelong.md'), join(out, 'lifelong.json'), ...report.files]) console.log(`wrote ${f}`);
}
