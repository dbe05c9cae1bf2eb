#!/usr/bin/env node
// The `lmedit` command: one subcommand per job, each in src/cli/commands/.
import { UsageError } from './args.js';
import { generateCommand } from './commands/generate.js';
import { inspectCommand } from './commands/inspect.js';
import { logitsCommand } from './commands/logits.js';
import { statsCommand } from './commands/stats.js';
import { editCommand } from './commands/edit.js';
import { demoCommand } from './commands/demo.js';
import { applyCommand } from './commands/apply.js';
import { evalCommand } from './commands/eval.js';
import { reportCommand } from './commands/report.js';
import { traceCommand } from './commands/trace.js';
import { lifelongCommand } from './commands/lifelong.js';
import { trainCommand } from './commands/train.js';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<void>; help: string }> = {
  generate: { run: generateCommand, help: 'generate text from a prompt (streams tokens)' },
  inspect: { run: inspectCommand, help: 'architecture, size and module paths usable in hparams' },
  logits: { run: logitsCommand, help: 'last-position top-k logits and residual norms (for porting checks)' },
  stats: { run: statsCommand, help: 'precompute second-moment statistics C = E[k kᵀ] of layers (ROME/MEMIT) into the cache' },
  edit: { run: editCommand, help: 'edit one fact (ROME, R-ROME, MEMIT, FT-L, FT-M) and show before/after' },
  demo: { run: demoCommand, help: 'pick a fact the model knows, edit it with ROME, show before/after, restore' },
  apply: { run: applyCommand, help: 'apply an edit pack to the base model it was made from' },
  eval: { run: evalCommand, help: 'edit many cases (single/batch/sequential) and measure ES/PS/NS (ROME protocol)' },
  trace: { run: traceCommand, help: 'causal tracing (ROME): where a fact is recalled, by layer and token; heatmaps (SVG, PNG)' },
  lifelong: { run: lifelongCommand, help: 'the lifelong-editing benchmark: sequential edits with several methods, curves, conflicts, efficiency' },
  train: { run: trainCommand, help: 'train an editor (MEND, KE, SERAC) for a base model; resumable; curves' },
  report: { run: reportCommand, help: 'compare eval runs side by side: Markdown/JSON table and plots (SVG, PNG)' },
};

const USAGE = `usage: lmedit <command> [options]   (lmedit <command> --help for its options)

commands:
${Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(10)} ${c.help}`).join('\n')}`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS[name];
  if (cmd === undefined) {
    console.error(`lmedit: unknown command '${name}'\n\n${USAGE}`);
    return 2;
  }
  try {
    await cmd.run(rest);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`lmedit ${name}: ${e.message}`);
      return 2;
    }
    console.error(`lmedit ${name}: ${(e as Error).message}`);
    if (process.env.LMEDIT_DEBUG) console.error((e as Error).stack);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
