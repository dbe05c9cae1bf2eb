// lmedit apply <pack> --model <dir> [--save <out>]: replays an edit pack on the base model it was made from.
import { loadModel, saveModel } from '../../models/index.js';
import { applyPack } from '../../editor/pack.js';
import { parse, requireModel, UsageError } from '../args.js';

const USAGE = `usage: lmedit apply <edit pack> --model <dir|repo id> [--save <out dir>] [--force]

Refuses when the model is not the base model the pack was made from (fingerprint of config and weights), unless --force.`;

export async function applyCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { save: { type: 'string' }, force: { type: 'boolean' } }, USAGE);
  if (positionals.length !== 1) throw new UsageError(`expected one edit pack\n\n${USAGE}`);
  const model = loadModel(requireModel(values, USAGE));
  const manifest = applyPack(positionals[0], model, { force: values.force });
  const n = manifest.edits.reduce((s, e) => s + e.requests.length, 0);
  console.log(`applied ${manifest.edits.length} edit(s) (${n} request(s), ${manifest.method}) from ${positionals[0]}`);
  if (values.save) {
    saveModel(model, values.save, { extraJson: { 'lmedit_edits.json': manifest } });
    console.log(`saved the edited model to ${values.save}`);
  }
  model.dispose();
}
