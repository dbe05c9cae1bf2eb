// Child process of the kill -9 test: trains the scripted fake editor slowly into argv[2] until killed.
import { trainEditor } from '../../src/train/trainer.js';
import { ScriptedLinearEditor, hparams, records } from './scripted-linear-editor.js';

const out = process.argv[2];
const editor = new ScriptedLinearEditor(7);
editor.delayMs = Number(process.argv[3] ?? '20');
trainEditor(editor, {
  train: records(40), val: records(10, 100), hparams: hparams(), outDir: out, identity: 'toy',
  manifest: { method: 'TOY', hparams: {}, base: { fingerprint: 'none', modelType: 'none', source: 'none' } },
});
