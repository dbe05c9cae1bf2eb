// A model for a test suite: loaded before its tests, freed after them, with a temporary directory removed after them.
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, type CausalLM } from '../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../src/io/tokenizer.js';

/** Registers the suite's before/after hooks; `use` receives the model and tokenizer. Returns the temp directory. */
export function suiteModel(dir: string, tmpPrefix: string, use: (model: CausalLM, tok: Tokenizer) => void): string {
  const root = mkdtempSync(join(tmpdir(), tmpPrefix));
  let model: CausalLM | undefined;
  before(() => {
    model = loadModel(dir);
    use(model, loadTokenizer(dir));
  });
  after(() => {
    model?.dispose();
    rmSync(root, { recursive: true, force: true });
  });
  return root;
}
