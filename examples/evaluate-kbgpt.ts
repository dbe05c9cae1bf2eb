// Evaluate FT-M on five facts kbgpt knows, in the single setting, with every protocol; then report the run.
// Run: npx tsx examples/evaluate-kbgpt.ts [path to kbgpt] [run dir]
import { Editor, evaluate, loadCases, loadModel, loadTokenizer, writeReport, readRuns } from '../src/index.js';

const dir = process.argv[2] ?? '../shared/data/kbgpt';
const out = process.argv[3] ?? 'runs/example-ftm-kbgpt';
const model = loadModel(dir);
const tok = loadTokenizer(model.source.dir);
const editor = new Editor(model, tok, { method: 'FT-M', hparams: 'hparams/FT-M/kbgpt.yaml' });
const { cases } = loadCases(`${dir}/edits.json`, { known: true, n: 5 });
const summary = await evaluate({ editor, cases, out, mode: 'single' });
const rome = summary.metrics['rome-counterfact-prob'];
const easy = summary.metrics['easyedit-token'];
console.log(`efficacy ES ${rome.pre.ES} → ${rome.post.ES}; reliability ${easy.pre.reliability.toFixed(1)} → ${easy.post.reliability.toFixed(1)}`);
const report = writeReport(readRuns([out]), { out: `${out}/report` });
console.log(report.tableMarkdown.split('\n')[0]);
