// Measures the kbgpt T5 (scripts/train-t5-kb.ts) the way ../shared/data/kbgpt/PROVENANCE.md measures kbgpt, and
// writes the edit cases with the T5's own known flags, so that `lmedit eval --known` selects what the T5 knows.
//
//   node --import tsx scripts/t5-kb-measure.ts [--model runs/t5-kb] [--kb ../shared/data/kbgpt] [--out runs/t5-kb]
//
// Recall: top-1 of the FIRST token of the value (full vocabulary; encoder input = the prompt + EOS, decoder = start
// token), over every person × template of the five relations: the training templates, and the held-out ones split
// into kbgpt's two held-out sets (novel_wording, recombined). Output: <out>/recall.json and <out>/edits.json (kbgpt's
// edits.json with known_prompt, known_rephrase, known_rephrase_novel_wording, known_locality, known_one_hop and
// known_alias recomputed on the T5; every other field as it was).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setNumThreads } from '../src/tensor/index.js';
import { loadT5Model, firstTokenLogprobsT5, t5PromptIds, type T5Model } from '../src/models/index.js';
import { loadTokenizer, type Tokenizer } from '../src/io/tokenizer.js';
import { tidy, noGrad } from '../src/tensor/index.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'runs/t5-kb' },
    kb: { type: 'string', default: '../shared/data/kbgpt' },
    out: { type: 'string', default: 'runs/t5-kb' },
    threads: { type: 'string' },
  },
});
if (values.threads ?? process.env.LMEDIT_NUM_THREADS) setNumThreads(Number(values.threads ?? process.env.LMEDIT_NUM_THREADS));

/** Arg-max first token of each prompt's answer (batched). */
function argmaxFirst(model: T5Model, tok: Tokenizer, prompts: string[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < prompts.length; i += 64) {
    const ids = prompts.slice(i, i + 64).map((p) => t5PromptIds(model, tok.encode(p)));
    out.push(...tidy(() => noGrad(() => Array.from(firstTokenLogprobsT5(model, ids).argmax(-1).toFlatArray()))));
  }
  return out;
}

function main(): void {
  const model = loadT5Model(resolve(values.model!), { onWarning: () => {} });
  const tok = loadTokenizer(resolve(values.model!));
  const kbDir = resolve(values.kb!);
  const kb = JSON.parse(readFileSync(join(kbDir, 'kb.json'), 'utf8'));
  const first = (value: string) => tok.encode(` ${value}`)[0];

  // recall per template group
  const groups = new Map<string, { n: number; hit: number }>();
  type Templ = { template: string; held_out: boolean; held_out_set: string | null };
  const items: { prompt: string; want: number; group: string }[] = [];
  for (const p of kb.people) {
    for (const [relation, templates] of Object.entries(kb.templates as Record<string, Templ[]>)) {
      for (const t of templates) {
        items.push({ prompt: t.template.replace('{}', p.name), want: first(p.attributes[relation]), group: t.held_out ? `held_out.${t.held_out_set}` : 'training' });
      }
    }
  }
  const got = argmaxFirst(model, tok, items.map((x) => x.prompt));
  items.forEach((x, i) => {
    const g = groups.get(x.group) ?? { n: 0, hit: 0 };
    g.n++;
    if (got[i] === x.want) g.hit++;
    groups.set(x.group, g);
  });
  const recall = Object.fromEntries([...groups].map(([k, g]) => [k, { n: g.n, accuracy: +(100 * g.hit / g.n).toFixed(1) }]));
  const heldOut = [...groups].filter(([k]) => k.startsWith('held_out.')).reduce((a, [, g]) => ({ n: a.n + g.n, hit: a.hit + g.hit }), { n: 0, hit: 0 });
  (recall as Record<string, unknown>).held_out = { n: heldOut.n, accuracy: +(100 * heldOut.hit / heldOut.n).toFixed(1) };

  // known flags of the edit cases, on the T5
  const data = JSON.parse(readFileSync(join(kbDir, 'edits.json'), 'utf8'));
  const probes: { c: Record<string, any>; flag: string; prompt: string; answer: string }[] = [];
  for (const c of data.cases) {
    probes.push({ c, flag: 'known_prompt', prompt: c.prompt, answer: c.ground_truth });
    if (c.rephrase_prompt) probes.push({ c, flag: 'known_rephrase', prompt: c.rephrase_prompt, answer: c.ground_truth });
    if (c.rephrase_prompt_novel_wording) probes.push({ c, flag: 'known_rephrase_novel_wording', prompt: c.rephrase_prompt_novel_wording, answer: c.ground_truth });
    if (c.locality_prompt) probes.push({ c, flag: 'known_locality', prompt: c.locality_prompt, answer: c.locality_ground_truth });
    const oneHop = c.portability?.one_hop;
    if (oneHop) probes.push({ c, flag: 'known_one_hop', prompt: oneHop.prompt, answer: oneHop.ground_truth_before_edit });
    const alias = c.portability?.subject_alias;
    if (alias) probes.push({ c, flag: 'known_alias', prompt: alias.prompt, answer: c.ground_truth });
  }
  const answers = argmaxFirst(model, tok, probes.map((p) => p.prompt));
  probes.forEach((p, i) => { p.c[p.flag] = answers[i] === first(p.answer); });
  const count = (f: string) => data.cases.filter((c: Record<string, unknown>) => c[f] === true).length;
  const flags = ['known_prompt', 'known_rephrase', 'known_rephrase_novel_wording', 'known_locality', 'known_one_hop', 'known_alias'];
  const known = Object.fromEntries(flags.map((f) => [f, count(f)]));
  data.description = `${data.description ?? ''} Known flags recomputed on the T5 ${resolve(values.model!)} by scripts/t5-kb-measure.ts.`.trim();
  data.summary = { ...data.summary, t5_known: known };

  const out = resolve(values.out!);
  const write = (file: string, body: unknown) => {
    writeFileSync(`${file}.tmp`, JSON.stringify(body, null, 1) + '\n');
    renameSync(`${file}.tmp`, file);
  };
  write(join(out, 'edits.json'), data);
  write(join(out, 'recall.json'), { model: resolve(values.model!), recall, known, cases: data.cases.length });
  console.log(JSON.stringify({ recall, known, cases: data.cases.length }, null, 1));
  model.dispose();
}

main();
