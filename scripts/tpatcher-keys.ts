// Why T-Patcher generalises less on the kbgpt T5 than on kbgpt: how close a paraphrase's patch key is to the edit
// prompt's, against another person's prompt. The key of a T-Patcher neuron is the patched FFN's input at the
// position that predicts the answer's first token (kbgpt: transformer.h.5.mlp at the prompt's last token; the T5:
// decoder.block.3.layer.2.DenseReluDense, read behind its layer norm, at the first decoder position), so a
// paraphrase fires the neuron when its key points the same way. Prints the mean cosine of the edit prompt's key with
// its rephrase's and with its neighbour's, over the first --n known cases of each model.
//
//   node --import tsx scripts/tpatcher-keys.ts [--n 100] [--t5 runs/t5-kb] [--kbgpt ../shared/data/kbgpt]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { noGrad, setNumThreads, tidy } from '../src/tensor/index.js';
import { loadEditableModel, targetStates, type EditableModel } from '../src/models/index.js';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { loadCases } from '../src/eval/datasets/index.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '100' }, t5: { type: 'string', default: 'runs/t5-kb' }, kbgpt: { type: 'string', default: '../shared/data/kbgpt' } } });
setNumThreads(Number(process.env.LMEDIT_NUM_THREADS ?? 1));

function keyCosines(dir: string, data: string, module: string): { rephrase: number; neighbour: number; n: number } {
  const model: EditableModel = loadEditableModel(dir, { onWarning: () => {} });
  const tok = loadTokenizer(dir);
  const cases = loadCases(data, { n: Number(values.n), known: true }).cases;
  const sum = { rephrase: 0, neighbour: 0 };
  let n = 0;
  for (const c of cases) {
    const neighbour = c.locality.neighborhood?.[0];
    if (!c.rephrases[0] || !neighbour) continue;
    const prompts = [c.request.prompt, c.rephrases[0], neighbour.prompt].map((p) => tok.encode(p));
    const answer = tok.encode(` ${c.request.targetNew.trim()}`);
    const [r, m] = tidy(() => noGrad(() => {
      const pass = targetStates(model, prompts, prompts.map(() => answer), { trace: [{ module, retainInput: true, retainOutput: false }] });
      const x = pass.out.traces.get(module)!.input!;
      const keys = prompts.map((_, b) => x.select(0, b).select(0, pass.positions[b][0]).to('float32'));
      const unit = keys.map((k) => k.div(k.norm()));
      return [unit[0].mul(unit[1]).sum().item(), unit[0].mul(unit[2]).sum().item()];
    }));
    sum.rephrase += r; sum.neighbour += m; n++;
  }
  return { rephrase: sum.rephrase / n, neighbour: sum.neighbour / n, n };
}

const kb = keyCosines(values.kbgpt!, join(values.kbgpt!, 'edits.json'), 'transformer.h.5.mlp');
const t5 = keyCosines(values.t5!, join(values.t5!, 'edits.json'), 'decoder.block.3.layer.2.DenseReluDense');
console.log(JSON.stringify({ kbgpt: kb, t5 }, null, 1));
