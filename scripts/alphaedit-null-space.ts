// How much of a key lies in AlphaEdit's null space on kbgpt (docs/alphaedit.md): ‖P k‖² / ‖k‖² for the keys the
// projection is built to preserve (layer 0's down-projection input at WikiText-2 positions) and for the keys that
// kbgpt's facts are read from (the subject's last token in the edit prompts, and in the neighbourhood prompts that
// locality measures). Usage: node --import tsx scripts/alphaedit-null-space.ts [threshold]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../src/models/index.js';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { readSafetensorsHeader } from '../src/io/safetensors.js';
import { fromFile, noGrad, tidy, type Tensor } from '../src/tensor/index.js';
import { nullSpaceProjection } from '../src/methods/alphaedit/projection.js';
import { representationsAt, lookupIndex } from '../src/methods/locate.js';

const DATA = join(process.cwd(), '..', 'shared', 'data');
const MODULE = 'transformer.h.0.mlp.c_proj';
const threshold = Number(process.argv[2] ?? 2e-2);
const model = loadModel(join(DATA, 'kbgpt'));
const tok = loadTokenizer(join(DATA, 'kbgpt'));
const file = join(DATA, 'golden', 'kbgpt-layer0-mom2.safetensors');
const e = readSafetensorsHeader(file).tensors.get('mom2')!;
const proj = nullSpaceProjection(fromFile(file, e.byteOffset, 'float32', e.shape), threshold, 'kbgpt layer 0');
const cases = (JSON.parse(readFileSync(join(DATA, 'kbgpt', 'edits.json'), 'utf8')).cases as any[]).filter((c) => c.known_prompt).slice(0, 500);
const people = (JSON.parse(readFileSync(join(DATA, 'kbgpt', 'kb.json'), 'utf8')).people as any[]);

/** mean over rows of ‖P k‖² / ‖k‖² */
const share = (K: Tensor | undefined) => tidy(() => noGrad(() => {
  const k = K!.to('float64');
  return proj.P.to('float64').matmul(k.t()).t().square().sum(1).div(k.square().sum(1)).mean().item();
}));
/** the subject's last token in a prompt that contains it */
const at = (prompt: string, subject: string) => ({ ids: tok.encode(prompt), index: lookupIndex(tok, prompt.replace(subject, '{}'), subject, 'subject_last') });
const text = readFileSync(join(DATA, 'wikitext-2', 'test.txt'), 'utf8').slice(20000, 60000);
const ids = tok.encode(text);
const corpusRows = Array.from({ length: 16 }, (_, i) => ids.slice(i * 128, (i + 1) * 128));
const corpusShare = tidy(() => noGrad(() => {
  const { traces } = model.forward({ inputIds: corpusRows, logits: 'none', trace: [{ module: MODULE, retainInput: true, retainOutput: false }] });
  return share(traces.get(MODULE)!.input!.reshape(16 * 128, -1));
}));
console.log(`null space: ${proj.nullity} of 1024 directions (eigenvalues < ${threshold}; largest kept ${proj.largestKept.toExponential(2)})`);
console.log(`WikiText-2 positions (what P preserves): ${16 * 128} keys, ‖Pk‖²/‖k‖² = ${(100 * corpusShare).toFixed(1)}%`);
const rows = {
  'edit prompts, subject last token': cases.map((c) => at(c.prompt, c.subject)),
  'neighbourhood (locality) prompts, subject last token': cases.map((c) => at(c.locality_prompt, people[c.locality_person_id].name)),
};
for (const [name, items] of Object.entries(rows)) {
  if (items.length === 0) continue;
  const r = tidy(() => share(representationsAt(model, MODULE, items, { input: true }).input));
  console.log(`${name}: ${items.length} keys, ‖Pk‖²/‖k‖² = ${(100 * r).toFixed(1)}%`);
}
