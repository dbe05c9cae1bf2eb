// Load factgpt, ask it a question, and look inside: trace the MLP down-projection of layer 2 (the keys ROME reads).
// Run: npx tsx examples/factgpt-trace.ts [path to factgpt]
import { loadModel, generateText, loadTokenizer, noGrad, tidy } from '../src/index.js';

const dir = process.argv[2] ?? '../shared/data/factgpt';
const model = loadModel(dir);
const tok = loadTokenizer(dir);

// 1. ask a question
const prompt = 'The mother tongue of Danielle Darrieux is';
const answer = generateText(model, tok, prompt, { maxNewTokens: 1 });
console.log(`${prompt} →${answer}`);

// 2. trace: read the input and output of transformer.h.2.mlp.c_proj at the subject's last token ("ux")
const ids = tok.encode(prompt);
const subjectLast = tok.encode('The mother tongue of Danielle Darrieux').length - 1;
const summary = tidy(() => noGrad(() => {
  const out = model.forward({
    inputIds: [ids],
    logits: 'last',
    trace: [{ module: 'transformer.h.2.mlp.c_proj', retainInput: true }],
  });
  const t = out.traces.get('transformer.h.2.mlp.c_proj')!;
  const key = t.input!.select(0, 0).select(0, subjectLast);    // [1024]: the MLP's hidden activation
  const value = t.output!.select(0, 0).select(0, subjectLast); // [256]: what it writes into the residual stream
  return { keyNorm: key.norm().item(), valueNorm: value.norm().item(), active: key.gt(0.1).sum().item(), top: out.logits!.argmax(-1).item() };
}));
console.log(`layer 2 MLP at "${tok.decode([ids[subjectLast]])}": key norm ${summary.keyNorm.toFixed(3)} (${summary.active} of 1024 units > 0.1), value norm ${summary.valueNorm.toFixed(3)}`);
console.log(`next token: ${JSON.stringify(tok.decode([summary.top]))}`);
model.dispose();
