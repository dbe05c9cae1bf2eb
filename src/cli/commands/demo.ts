// lmedit demo: the main job for a newcomer. Picks a fact the model knows, edits it with ROME, shows generations and
// probabilities before and after, then restores the original weights and shows that too.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate, loadModel, nextTokenLogprobs, type CausalLM } from '../../models/index.js';
import { loadTokenizer, type Tokenizer } from '../../io/tokenizer.js';
import { resolveModelDir } from '../../io/checkpoint.js';
import { readHparamsFile } from '../../methods/hparams.js';
import { tidy } from '../../tensor/index.js';
import { Editor } from '../../editor/editor.js';
import { editWithChecks } from '../../eval/check.js';
import { numberOption, parse, UsageError } from '../args.js';
import { defaultHparams, pct, statsProvider } from '../editing.js';

const USAGE = `usage: lmedit demo [--model <dir|repo id>] [--corpus <text>] [--hparams FILE]

Model: --model, else $LMEDIT_DEMO_MODEL, else gpt2 from the local Hugging Face cache.
Statistics corpus for ROME's C⁻¹k: --corpus, else $LMEDIT_CORPUS (without one, mom2_adjustment is turned off).`;

interface Fact { prompt: string; subject: string; truth: string; target: string; paraphrase?: string; neighbour?: string; neighbourTruth?: string }

/** Well-known facts for real pretrained models (CounterFact style), tried in order. */
const BUILT_IN: Fact[] = [
  { prompt: 'The Eiffel Tower is located in the city of', subject: 'Eiffel Tower', truth: 'Paris', target: 'Rome', paraphrase: 'The Eiffel Tower stands in', neighbour: 'The Louvre is located in the city of', neighbourTruth: 'Paris' },
  { prompt: 'The mother tongue of Danielle Darrieux is', subject: 'Danielle Darrieux', truth: 'French', target: 'English' },
  { prompt: 'Steve Jobs was the co-founder of', subject: 'Steve Jobs', truth: 'Apple', target: 'Microsoft' },
  { prompt: 'Michael Jordan plays the sport of', subject: 'Michael Jordan', truth: 'basketball', target: 'soccer' },
  { prompt: 'The capital city of Japan is', subject: 'Japan', truth: 'Tokyo', target: 'Beijing' },
];

/** Facts shipped beside our test models (factgpt facts.json, kbgpt edits.json), then the built-in list. */
function candidates(dir: string): Fact[] {
  const out: Fact[] = [];
  for (const [file, key] of [['facts.json', 'records'], ['edits.json', 'cases']] as const) {
    const p = join(dir, file);
    if (!existsSync(p)) continue;
    for (const r of (JSON.parse(readFileSync(p, 'utf8'))[key] ?? []).slice(0, 200)) {
      if (!r.known_prompt || !r.prompt?.includes(r.subject)) continue;
      out.push({ prompt: r.prompt, subject: r.subject, truth: r.ground_truth, target: r.target_new, paraphrase: r.rephrase_prompt, neighbour: r.locality_prompt, neighbourTruth: r.locality_ground_truth });
    }
  }
  return [...out, ...BUILT_IN];
}

function firstToken(tok: Tokenizer, s: string): number {
  return tok.encode(` ${s.trim()}`)[0];
}

function pick(model: CausalLM, tok: Tokenizer, facts: Fact[]): Fact {
  for (const f of facts) {
    const top = tidy(() => nextTokenLogprobs(model, [tok.encode(f.prompt)]).argmax(-1).item());
    if (top === firstToken(tok, f.truth)) return f;
  }
  throw new Error('the model answers none of the demo facts correctly; use `lmedit edit` with a fact it knows');
}

function show(model: CausalLM, tok: Tokenizer, f: Fact, label: string): void {
  const line = (prompt: string | undefined, what: string) => {
    if (!prompt) return;
    const lp = tidy(() => nextTokenLogprobs(model, [tok.encode(prompt)]).select(0, 0).toFlatArray());
    const text = tok.decode(generate(model, [tok.encode(prompt)], { maxNewTokens: 12 })[0]).split('\n')[0].replace(/<\|endoftext\|>.*/, '');
    const probs = what === 'neighbour'
      ? `P(${f.neighbourTruth}) ${pct(Math.exp(lp[firstToken(tok, f.neighbourTruth ?? '')]))}`
      : `P(${f.target}) ${pct(Math.exp(lp[firstToken(tok, f.target)]))}  P(${f.truth}) ${pct(Math.exp(lp[firstToken(tok, f.truth)]))}`;
    console.log(`  ${what.padEnd(10)} ${prompt}${text}`);
    console.log(`  ${''.padEnd(10)} ${probs}`);
  };
  console.log(`\n${label}`);
  line(f.prompt, 'prompt');
  line(f.paraphrase, 'paraphrase');
  line(f.neighbour, 'neighbour');
}

export async function demoCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, { corpus: { type: 'string' }, hparams: { type: 'string' }, samples: { type: 'string' } }, USAGE);
  const requested = values.model ?? process.env.LMEDIT_DEMO_MODEL ?? 'gpt2';
  let dir: string;
  try {
    dir = resolveModelDir(requested);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\nPoint the demo at a model: lmedit demo --model <Hugging Face directory>, or set LMEDIT_DEMO_MODEL.`);
  }
  console.log(`lmedit demo: loading ${dir}`);
  const model = loadModel(dir);
  const tok = loadTokenizer(model.source.dir, model.source.rawConfig);
  const fact = pick(model, tok, candidates(dir));
  const hparamsFile = defaultHparams('ROME', model, values.hparams);
  const raw = readHparamsFile(hparamsFile).raw;
  const samples = numberOption(values, 'samples') ?? Number(raw.mom2_n_samples ?? 100000);
  const stats = statsProvider(tok, { corpus: values.corpus, samples }, samples);
  const hparams = stats || raw.mom2_adjustment === false ? raw : { ...raw, mom2_adjustment: false };
  if (!stats && raw.mom2_adjustment !== false) console.log('note: no statistics corpus (--corpus or LMEDIT_CORPUS): editing with mom2_adjustment off');
  console.log(`fact: "${fact.prompt}" → ${fact.truth}; new target: ${fact.target} (ROME, ${hparamsFile})`);
  show(model, tok, fact, 'before the edit:');
  const editor = new Editor(model, tok, { method: 'ROME', hparams, stats, log: (m) => console.log(`  ${m}`) });
  const [record] = editWithChecks(editor, { prompt: fact.prompt, subject: fact.subject, targetNew: fact.target, groundTruth: fact.truth });
  const r = record.reports[0];
  show(model, tok, fact, `after the edit (${record.seconds.toFixed(1)} s, success on the prompt: ${r.success ? 'yes' : 'no'}, statistics: ${record.statsKeys.join(', ') || 'none'}):`);
  if (!r.success) {
    console.log(`\nThe edit did not take: P(${fact.target}) rose from ${pct(Math.exp(r.before.targetNew))} to ${pct(Math.exp(r.after.targetNew))} ` +
      `but stays below P(${fact.truth}). ROME writes the new fact at the subject's last token; a model that recalls facts ` +
      'from whole memorized sentences (like factgpt, where the original ROME code fails the same way) does not read it ' +
      'from there. See docs/editing.md; try --model ../shared/data/kbgpt, a model that stores facts at the subject.');
  }
  editor.restore();
  show(model, tok, fact, 'after restore() (original weights):');
  editor.dispose();
  model.dispose();
}
