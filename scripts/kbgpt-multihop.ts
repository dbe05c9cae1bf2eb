// MQuAKE-style multi-hop editing cases from kbgpt's knowledge base, and their evaluation (docs/multihop.md).
//
//   node --import tsx scripts/kbgpt-multihop.ts make [--kb FILE] [--out FILE] [--seed N]
//     One case per person of kb.json, in person order: the edit moves the person's birth city to another city whose
//     country has a different official language (drawn with mulberry32(seed), seed 0 by default), so that the
//     multi-hop question person → birth city → country → official language changes its answer. MQuAKE's record
//     format (requested_rewrite, questions, answer / answer_alias, new_answer / new_answer_alias, single_hops,
//     new_single_hops), read by src/eval/datasets/mquake.ts. Default output runs/kbgpt-multihop/cases.json.
//     The three questions: kb.json's one_hop_template and two rewordings of it (cloze prompts: kbgpt is a
//     completion model). Aliases: "<L> language" and a few common names (Farsi, Mandarin, …).
//
//   node --import tsx scripts/kbgpt-multihop.ts eval --model DIR --method M [--hparams FILE] [--cases FILE]
//        [--n N] [--offset K] [--set field=value ...] --out DIR
//     Edits each case alone (single setting), measures MQuAKE's generation-based multi-hop accuracy with aliases and
//     the teacher-forced protocols on the same edited model, restores (src/eval/multihop.ts evaluateMultihop).
//     ROME/MEMIT read their statistics corpus from $LMEDIT_CORPUS.
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { mulberry32 } from '../src/util/random.js';
import { loadModel } from '../src/models/index.js';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { Editor } from '../src/editor/editor.js';
import { loadCases } from '../src/eval/datasets/index.js';
import { readHparamsFile } from '../src/methods/hparams.js';
import { defaultHparams, hparamOverrides, methodPool, statsProvider } from '../src/cli/editing.js';
import { evaluateMultihop, MULTIHOP_PROTOCOL } from '../src/eval/multihop.js';

const EXTRA_ALIASES: Record<string, string[]> = {
  Chinese: ['Mandarin', 'Mandarin Chinese', 'Standard Chinese'],
  Persian: ['Farsi'],
  Dutch: ['Netherlandic'],
  Arabic: ['Modern Standard Arabic'],
  Indonesian: ['Bahasa Indonesia'],
  Norwegian: ['Bokmål'],
};
const languageAliases = (l: string) => [`${l} language`, `the ${l} language`, ...(EXTRA_ALIASES[l] ?? [])];

export function makeCases(kb: any, seed: number): unknown[] {
  const random = mulberry32(seed);
  const cities: { city: string; country: string; language: string }[] = kb.cities;
  const questions = [kb.one_hop_template as string, 'The official language of the country where {} was born is', '{} was born in a country where the official language is'];
  return (kb.people as any[]).map((p) => {
    const c0 = p.attributes.birth_city as string;
    const country0 = kb.city_country[c0] as string;
    const lang0 = kb.country_language[country0] as string;
    const choices = cities.filter((c) => c.language !== lang0);
    const t = choices[Math.floor(random() * choices.length)];
    const hops = (city: string, country: string, language: string) => [
      { question: `Where was ${p.name} born?`, cloze: `${p.name} was born in`, answer: city, answer_alias: [] },
      { question: `Which country is ${city} in?`, cloze: (kb.city_country_templates[0] as string).replace('{}', city), answer: country, answer_alias: [] },
      { question: `What is the official language of ${country}?`, cloze: (kb.country_language_templates[0] as string).replace('{}', country), answer: language, answer_alias: languageAliases(language) },
    ];
    return {
      case_id: p.id,
      requested_rewrite: [{
        prompt: '{} was born in', subject: p.name, target_new: { str: t.city }, target_true: { str: c0 }, relation_id: 'birth_city', question: `Where was ${p.name} born?`,
      }],
      questions: questions.map((q) => q.replace('{}', p.name)),
      answer: lang0, answer_alias: languageAliases(lang0),
      new_answer: t.language, new_answer_alias: languageAliases(t.language),
      single_hops: hops(c0, country0, lang0),
      new_single_hops: hops(t.city, t.country, t.language),
    };
  });
}

function main(): void {
  const [cmd, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: {
      kb: { type: 'string', default: join('..', 'shared', 'data', 'kbgpt', 'kb.json') },
      out: { type: 'string' }, seed: { type: 'string', default: '0' }, model: { type: 'string' }, method: { type: 'string' },
      hparams: { type: 'string' }, cases: { type: 'string', default: join('runs', 'kbgpt-multihop', 'cases.json') },
      n: { type: 'string' }, offset: { type: 'string', default: '0' }, set: { type: 'string', multiple: true }, 'max-new-tokens': { type: 'string', default: '8' },
    },
  });
  if (cmd === 'make') {
    const out = values.out ?? join('runs', 'kbgpt-multihop', 'cases.json');
    const cases = makeCases(JSON.parse(readFileSync(values.kb!, 'utf8')), Number(values.seed));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(cases, null, 1) + '\n');
    console.log(`${cases.length} cases → ${out} (seed ${values.seed})`);
    return;
  }
  if (cmd !== 'eval' || !values.model || !values.method || !values.out) {
    console.error('usage: kbgpt-multihop.ts make [--kb FILE] [--out FILE] [--seed N]\n       kbgpt-multihop.ts eval --model DIR --method M [--hparams FILE] [--cases FILE] [--n N] [--offset K] [--set f=v] --out DIR');
    process.exit(2);
  }
  const model = loadModel(values.model);
  const tok = loadTokenizer(values.model);
  const overrides = hparamOverrides(values.set);
  const hparamsFile = defaultHparams(values.method, model, values.hparams);
  const samples = Number(overrides.mom2_n_samples ?? readHparamsFile(hparamsFile).raw.mom2_n_samples ?? 100000);
  const stats = statsProvider(tok, {}, samples);
  const pool = methodPool(hparamsFile, overrides);
  const editor = new Editor(model, tok, { method: values.method, hparams: hparamsFile, overrides, stats, pool: pool?.requests, seed: 0, conflicts: { mode: 'off' } });
  const offset = Number(values.offset);
  const all = loadCases(values.cases!).cases;
  const cases = all.slice(offset, values.n ? offset + Number(values.n) : undefined);
  const t0 = Date.now();
  const s = evaluateMultihop(editor, cases, values.out, {
    maxNewTokens: Number(values['max-new-tokens']),
    onProgress: (d, t) => { if (d % 20 === 0 || d === t) console.error(`${values.method}: ${d}/${t} cases (${((Date.now() - t0) / 1000).toFixed(0)} s)`); },
  });
  const g = s.protocols[MULTIHOP_PROTOCOL];
  console.log(JSON.stringify({ method: s.method, n: s.n, hparams: hparamsFile, multihop: g }, null, 1));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
