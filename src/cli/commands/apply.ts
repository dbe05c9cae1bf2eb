// lmedit apply <pack> --model <dir> [--save <out>]: replays an edit pack on the base model it was made from.
import { loadModel } from '../../models/index.js';
import { loadTokenizer } from '../../io/tokenizer.js';
import { EditedModel } from '../../editor/edited-model.js';
import { loadEditState, saveEditedModel } from '../../editor/persist.js';
import { resolveModelDir } from '../../io/checkpoint.js';
import { parse, requireModel, UsageError } from '../args.js';
import { checkOutputTargets } from '../editing.js';

const USAGE = `usage: lmedit apply <edit pack> --model <dir|repo id> --save <out dir> [--overwrite] [--force]

Writes the base model with the pack's edits applied to --save (a new or empty directory; --overwrite replaces a
saved model there, nothing else, and never the source model's directory). Refuses when the model is not the base
model the pack was made from (fingerprint of config and weights), unless --force.`;

export async function applyCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { save: { type: 'string' }, overwrite: { type: 'boolean' }, force: { type: 'boolean' } }, USAGE);
  if (positionals.length !== 1) throw new UsageError(`expected one edit pack\n\n${USAGE}`);
  const modelPath = requireModel(values, USAGE);
  if (!values.save) {
    throw new UsageError(`--save <out dir> is required: apply writes the edited model there (without it the edits would be applied in memory only and lost)\n\n${USAGE}`);
  }
  checkOutputTargets({ save: values.save, overwrite: values.overwrite, inputs: [positionals[0]] }, resolveModelDir(modelPath)); // before any work
  const model = loadModel(modelPath);
  const edited = new EditedModel(model, loadTokenizer(model.source.dir, model.source.rawConfig));
  const manifest = loadEditState(edited, positionals[0], { force: values.force });
  const n = manifest.edits.reduce((s, e) => s + e.requests.length, 0);
  const methods = [...new Set(manifest.edits.map((e) => e.method))].join(', ');
  console.log(`applied ${manifest.edits.length} edit(s) (${n} request(s), ${methods}) from ${positionals[0]}`);
  saveEditedModel(edited, values.save, { describe: manifest as unknown as Record<string, unknown>, overwrite: values.overwrite });
  console.log(`saved the edited model to ${values.save}`);
  edited.dispose();
  model.dispose();
}
