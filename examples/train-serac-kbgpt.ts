// Train a SERAC editor for kbgpt from the library, then edit one fact with it through the Editor. Six steps keep the
// example quick: the editor routes the edited prompt but answers it well only after the README's 400-step training
// (`lmedit train --method SERAC …`, about 11 minutes), so the answer shown after the edit is not expected to be Prague.
// Run: npx tsx examples/train-serac-kbgpt.ts [path to kbgpt] [editor dir]
import {
  Editor, baseIdentity, kbTrainingRequests, loadModel, loadTokenizer, methodFor, normalizeRequest, readHparamsFile, trainEditor, validateHparams,
  type TrainingHparams,
} from '../src/index.js';

const dir = process.argv[2] ?? '../shared/data/kbgpt';
const out = process.argv[3] ?? 'editors/example-serac';
const model = loadModel(dir);
const tok = loadTokenizer(model.source.dir);
const { method } = methodFor('SERAC');
const raw = { ...readHparamsFile('hparams/SERAC/kbgpt.yaml').raw, max_iters: 6, val_interval: 6, val_steps: 5, batch_size: 4, accumulate_bs: 4 };
const hparams = validateHparams<TrainingHparams & Record<string, unknown>>(raw, method.schema, 'hparams/SERAC/kbgpt.yaml (example overrides)');
// training people 200-399, validation 133-199: disjoint from the evaluated people 0-132 (docs/training.md)
const train = kbTrainingRequests(`${dir}/kb.json`, { people: [200, 239], seed: 0 }).map(normalizeRequest);
const val = kbTrainingRequests(`${dir}/kb.json`, { people: [133, 139], seed: 1 }).map(normalizeRequest);
const editor = method.trained!.create(model, hparams, { tokenizer: tok, seed: hparams.seed });
const summary = trainEditor(editor, {
  train, val, hparams, outDir: out, identity: 'example-serac', manifest: { method: 'SERAC', hparams: { ...hparams, archive: null }, base: baseIdentity(model) },
});
editor.dispose();
console.log(`trained ${summary.steps} steps in ${summary.seconds.toFixed(1)} s → ${summary.editorFile}`);

const ed = new Editor(model, tok, { method: 'SERAC', hparams: 'hparams/SERAC/kbgpt.yaml', overrides: { archive: out } });
const prompt = 'Roderick Zielinski was born in the city of';
const answer = () => ed.edited.generate([prompt], { maxNewTokens: 2, eosTokenId: null })[0].text.trim();
console.log(`before: ${prompt} → ${answer()}`);
ed.edit({ prompt, subject: 'Roderick Zielinski', targetNew: 'Prague' });
console.log(`after (6-step editor): ${prompt} → ${answer()}`);
ed.dispose();
