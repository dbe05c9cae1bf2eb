// Trains a small T5 (T5ForConditionalGeneration, original flavour: relu FF, tied head) from scratch on kbgpt's
// knowledge base as question → answer pairs, so that editing methods can later be tried on an encoder-decoder.
//
//   node --import tsx scripts/train-t5-kb.ts [--kb DIR] [--out DIR] [--steps N] [--batch B] [--lr LR] [--seed S]
//        [--d 256] [--layers 4] [--heads 4] [--d-ff 1024] [--eval-every N] [--eval-n N] [--threads T] [--init DIR]
//        [--checkpoint-every N] [--stop-at STEP] [--people N] [--warmup N] [--min-lr-ratio R] [--sampled-softmax K]
//        [--full-softmax-frac F] [--per-epoch one|all] [--lr-scale init|none]
//
// Data (all from kb.json, seeded): encoder input = a relation template filled with the person's name (the prompt
// ends right before the object) + EOS; decoder labels = ' ' + value + EOS (the leading space keeps the answer's
// GPT-2 tokens identical to those causal evaluation scores). Every training template of the 5 person relations
// (held_out: false), the city → country and country → language templates. Held-out templates (held_out: true) never
// enter training; the script reports first-token accuracy on them and on the training prompts every --eval-every
// steps (on a seeded sample of --eval-n pairs each). Tokenizer: kbgpt's GPT-2 BPE (vocab.json + merges.txt, copied into the output); EOS = pad = decoder start
// = 50256 (<|endoftext|>). Resumable: every --checkpoint-every steps the weights, Adam's state and the log go to
// <out>/checkpoint.safetensors (atomically); rerunning the same command continues from there and ends with the
// weights an uninterrupted run has. Output: a Hugging Face directory under runs/ (default runs/t5-kb) that loadT5Model and
// transformers load, with train-args.json and train-log.json in it (the name is what hparams/<METHOD>/t5-kb.yaml
// is found by). Seeded: init, batch order and everything else follow --seed.
//
// Recipe (kbgpt's, tools/kbgpt/train.py in its PROVENANCE.md): AdamW (betas 0.9/0.95, weight decay 0.01), linear
// warm-up over --warmup steps then cosine decay to --min-lr-ratio x --lr, and a sampled softmax: the loss's logits
// cover the training vocabulary (every token of a training prompt or answer) plus --sampled-softmax random other
// tokens drawn afresh each step, with the full 50,257-way softmax for the last --full-softmax-frac of the steps (it
// calibrates the tokens the samples rarely reached); --sampled-softmax 0 trains with the full softmax throughout.
// Per-tensor rates (--lr-scale init): lr x the tensor's initial σ, see optimizers() below. (A first recipe — Adam, constant lr 1e-3, full
// softmax — stayed at the answer prior for 4,300 steps: docs/encoder-decoder.md.)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { checkpointPath, disposeCheckpoint, readCheckpoint, writeCheckpoint } from '../src/train/checkpoint.js';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  AdamW, Generator, Tensor, cosineSchedule, crossEntropy, noGrad, setNumThreads, tensor, tidy,
} from '../src/tensor/index.js';
import { initT5Params, t5InitStd } from '../src/models/t5-init.js';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { mulberry32 } from '../src/util/random.js';
import { parseT5Config, t5LmHead } from '../src/models/t5.js';
import { T5Model, loadT5Model, saveT5Model } from '../src/models/t5-model.js';
import { scoreT5 } from '../src/models/t5-text.js';
import { padBatch } from '../src/models/batch.js';

const { values } = parseArgs({
  options: {
    kb: { type: 'string', default: '../shared/data/kbgpt' },
    out: { type: 'string', default: 'runs/t5-kb' },
    steps: { type: 'string', default: '3000' },
    batch: { type: 'string', default: '32' },
    lr: { type: 'string', default: '1e-2' },
    seed: { type: 'string', default: '0' },
    d: { type: 'string', default: '256' },
    layers: { type: 'string', default: '4' },
    heads: { type: 'string', default: '4' },
    'd-ff': { type: 'string', default: '1024' },
    'eval-every': { type: 'string', default: '250' },
    'eval-n': { type: 'string', default: '500' },
    threads: { type: 'string' },
    /** Continue from this T5 directory (its weights; Adam restarts, batch order follows --seed) instead of a fresh init. */
    init: { type: 'string' },
    /** Write a resumable checkpoint (<out>/checkpoint.safetensors) every N steps; a rerun continues from it. */
    'checkpoint-every': { type: 'string', default: '250' },
    /** Stop after this step, keeping the checkpoint (a time-boxed run; rerun the same command to continue). */
    'stop-at': { type: 'string' },
    /** Train on the first N people only (a quick check that the recipe memorises at all). */
    people: { type: 'string' },
    warmup: { type: 'string', default: '60' },
    'min-lr-ratio': { type: 'string', default: '0.1' },
    /** Random non-training tokens added to the loss's vocabulary each step (0 = the full softmax throughout). */
    'sampled-softmax': { type: 'string', default: '2048' },
    'full-softmax-frac': { type: 'string', default: '0.05' },
    /** An epoch holds each fact once in a random training template (one, kbgpt's recipe) or every training pair (all). */
    'per-epoch': { type: 'string', default: 'one' },
    /** Per-tensor learning rates: init = --lr x the tensor's initial σ (Adafactor-like relative steps), none = --lr for all. */
    'lr-scale': { type: 'string', default: 'init' },
  },
});
const num = (k: keyof typeof values) => Number(values[k]);
for (const [option, allowed] of [['per-epoch', ['one', 'all']], ['lr-scale', ['init', 'none']]] as const) {
  if (!(allowed as readonly string[]).includes(values[option]!)) throw new Error(`--${option} must be ${allowed.join(' or ')}, not ${values[option]}`);
}
if (values.threads) setNumThreads(Number(values.threads));
else if (process.env.LMEDIT_NUM_THREADS) setNumThreads(Number(process.env.LMEDIT_NUM_THREADS));

const kbDir = resolve(values.kb!);
const kb = JSON.parse(readFileSync(join(kbDir, 'kb.json'), 'utf8'));
const tok = loadTokenizer(kbDir);
const EOS = 50256;

/** One (template, subject) pair; `fact` names the (subject, relation) it states, shared by its templates. */
interface Pair { prompt: number[]; answer: number[]; heldOut: boolean; text: string; fact: string }

function buildPairs(): Pair[] {
  const pairs: Pair[] = [];
  const add = (template: string, subject: string, value: string, heldOut: boolean, relation: string) => {
    const text = template.replace('{}', subject);
    pairs.push({ prompt: [...tok.encode(text), EOS], answer: [...tok.encode(` ${value}`), EOS], heldOut, text, fact: `${subject}\u0000${relation}` });
  };
  for (const p of values.people ? kb.people.slice(0, Number(values.people)) : kb.people) {
    for (const [relation, templates] of Object.entries(kb.templates as Record<string, { template: string; held_out: boolean }[]>)) {
      for (const t of templates) add(t.template, p.name, p.attributes[relation], t.held_out, relation);
    }
  }
  for (const [city, country] of Object.entries(kb.city_country as Record<string, string>)) {
    for (const t of kb.city_country_templates as string[]) add(t, city, country, false, 'country');
  }
  for (const [country, language] of Object.entries(kb.country_language as Record<string, string>)) {
    for (const t of kb.country_language_templates as string[]) add(t, country, language, false, 'language');
  }
  return pairs;
}

function t5Config(): Record<string, unknown> {
  const d = num('d');
  const heads = num('heads');
  return {
    architectures: ['T5ForConditionalGeneration'], model_type: 't5', vocab_size: 50257, d_model: d, d_kv: d / heads,
    d_ff: num('d-ff'), num_layers: num('layers'), num_decoder_layers: num('layers'), num_heads: heads,
    relative_attention_num_buckets: 32, relative_attention_max_distance: 128, dropout_rate: 0.0, layer_norm_epsilon: 1e-6,
    initializer_factor: 1.0, feed_forward_proj: 'relu', is_encoder_decoder: true, use_cache: true, tie_word_embeddings: true,
    pad_token_id: EOS, eos_token_id: EOS, decoder_start_token_id: EOS, torch_dtype: 'float32',
  };
}

function firstTokenAccuracy(model: T5Model, pairs: Pair[]): number {
  if (pairs.length === 0) return NaN;
  const scored = scoreT5(model, pairs.map((p) => ({ prompt: p.prompt, continuation: p.answer })), { batchSize: 64 });
  return scored.filter((s, i) => s.argmax[0] === pairs[i].answer[0]).length / pairs.length;
}

/** The weights of an earlier run, as a trainable model whose source is the kb directory (tokenizer files). */
function continued(dir: string, rawConfig: Record<string, unknown>): T5Model {
  const loaded = loadT5Model(dir, { onWarning: () => {} });
  for (const k of ['d_model', 'num_layers', 'num_heads', 'd_ff'] as const) {
    if (loaded.source.rawConfig[k] !== rawConfig[k]) throw new Error(`--init ${dir}: ${k} is ${loaded.source.rawConfig[k]}, the options say ${rawConfig[k]}`);
  }
  for (const p of loaded.params.values()) p.requiresGrad_(true);
  return new T5Model(loaded.config, loaded.params, 'float32', 'cpu', { dir: kbDir, rawConfig: loaded.source.rawConfig }, () => {});
}

/** Continues from <out>/checkpoint.safetensors when it is this run's: weights, Adam, log. Returns the first step to run. */
function resume(out: string, identity: string, model: T5Model, opt: Optimizers, log: Record<string, unknown>[]): number {
  const c = existsSync(checkpointPath(out)) ? readCheckpoint(out) : null;
  if (!c) {
    if (existsSync(join(out, 'config.json'))) throw new Error(`${out} already holds a trained model (no checkpoint to continue from); remove it or choose another --out`);
    return 1;
  }
  try {
    if (c.loop.identity !== identity) throw new Error(`${checkpointPath(out)} belongs to another run (other options); remove it or choose another --out`);
    noGrad(() => { for (const [n, p] of model.params) p.copy_(c.tensors.get(n) ?? failMissing(n)); });
    if (c.optimizers.length !== opt.groups.length) throw new Error(`${checkpointPath(out)}: ${c.optimizers.length} optimizer groups, this run has ${opt.groups.length}`);
    opt.groups.forEach((g, i) => g.importState(c.optimizers[i]));
    log.push(...(JSON.parse(readFileSync(join(out, 'train-log.partial.json'), 'utf8')) as Record<string, unknown>[]).slice(0, c.loop.logLines));
    console.log(`resuming after step ${c.loop.step} from ${checkpointPath(out)}`);
    return c.loop.step + 1;
  } finally {
    disposeCheckpoint(c);
  }
}

function failMissing(name: string): never {
  throw new Error(`the checkpoint has no tensor '${name}'`);
}

/** AdamW groups with their schedules: one for every tensor (--lr-scale none), or one per initial σ with lr = --lr x σ
 * (--lr-scale init: an update proportional to the tensor's scale, as Adafactor's relative step gives T5; HF's T5 init
 * spans σ = 1 for the embedding to (d·d_kv)^-0.5 ≈ 0.008 for the queries, so one absolute Adam rate moves the queries
 * 100x faster than the embedding, relative to their size). */
interface Optimizers { groups: AdamW[]; step(): void; schedule(): void; zeroGrad(): void; dispose(): void }

function optimizers(model: T5Model, config: ReturnType<typeof parseT5Config>, steps: number): Optimizers {
  const bySigma = new Map<number, Tensor[]>();
  for (const [name, p] of model.params) {
    const sigma = values['lr-scale'] === 'init' ? t5InitStd(config, name) ?? 1 : 1;
    if (!bySigma.has(sigma)) bySigma.set(sigma, []);
    bySigma.get(sigma)!.push(p);
  }
  const groups = [...bySigma].sort((a, b) => a[0] - b[0])
    .map(([sigma, ps]) => new AdamW(ps, { lr: num('lr') * sigma, betas: [0.9, 0.95], weightDecay: 0.01 }));
  const schedules = groups.map((g) => cosineSchedule(g, steps, { warmupSteps: num('warmup'), minRatio: num('min-lr-ratio') }));
  return {
    groups,
    step: () => groups.forEach((g) => g.step()),
    schedule: () => schedules.forEach((s) => s.step()),
    zeroGrad: () => groups.forEach((g) => g.zeroGrad()),
    dispose: () => groups.forEach((g) => g.dispose()),
  };
}

/** The sampled softmax's vocabulary: every token of the training pairs, plus `extra` random others per draw. */
function sampledHead(train: Pair[], vocabSize: number, extra: number, random: () => number):
    { draw(): { ids: number[]; index: Map<number, number> } } | null {
  if (extra <= 0) return null;
  const base = [...new Set(train.flatMap((p) => [...p.prompt, ...p.answer]))].sort((a, b) => a - b);
  const inBase = new Set(base);
  const others = Array.from({ length: vocabSize }, (_, i) => i).filter((i) => !inBase.has(i));
  const k = Math.min(extra, others.length);
  console.log(`sampled softmax: ${base.length} training tokens + ${k} random others per step`);
  return {
    draw() {
      const picked = new Set<number>();
      while (picked.size < k) picked.add(others[Math.floor(random() * others.length)]);
      const ids = [...base, ...picked];
      return { ids, index: new Map(ids.map((t, i) => [t, i])) };
    },
  };
}

function main(): void {
  const seed = num('seed');
  const random = mulberry32(seed);
  const pairs = buildPairs();
  const train = pairs.filter((p) => !p.heldOut);
  const heldOut = pairs.filter((p) => p.heldOut);
  const rawConfig = t5Config();
  const config = parseT5Config(rawConfig, 'train-t5-kb config');
  const model = values.init ? continued(resolve(values.init), rawConfig) : new T5Model(config, initT5Params(config, new Generator(seed)), 'float32', 'cpu', { dir: kbDir, rawConfig }, () => {});
  const steps = num('steps');
  const opt = optimizers(model, config, steps);
  const batch = num('batch');
  const head = sampledHead(train, config.vocabSize, num('sampled-softmax'), random);
  const fullFrom = head ? Math.floor(steps * (1 - num('full-softmax-frac'))) + 1 : 1;
  const evalEvery = num('eval-every');
  const log: Record<string, unknown>[] = [];
  const sample = (xs: Pair[], n: number) => (xs.length <= n ? xs : xs.filter((_, i) => i % Math.ceil(xs.length / n) === 0));
  const trainProbe = sample(train, num('eval-n'));
  const heldOutProbe = sample(heldOut, num('eval-n'));
  console.log(`${train.length} training pairs, ${heldOut.length} held-out; ${model.numParameters().toLocaleString('en-US')} parameters`);
  // an epoch: every training pair (--per-epoch all), or each fact once in one of its training templates drawn at
  // random (--per-epoch one, kbgpt's "one fresh paragraph per person, each sentence with a random training template")
  const byFact = new Map<string, number[]>();
  train.forEach((p, i) => {
    if (!byFact.has(p.fact)) byFact.set(p.fact, []);
    byFact.get(p.fact)!.push(i);
  });
  const epochRows = () => (values['per-epoch'] === 'all' ? train.map((_, i) => i)
    : [...byFact.values()].map((ids) => ids[Math.floor(random() * ids.length)]));
  let order: number[] = [];
  const nextRows = () => {
    if (order.length < batch) {
      const more = epochRows();
      for (let i = more.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [more[i], more[j]] = [more[j], more[i]];
      }
      order = order.concat(more);
    }
    return order.splice(0, batch).map((i) => train[i]);
  };
  const out = resolve(values.out!);
  const identity = JSON.stringify({ ...values, threads: undefined, 'stop-at': undefined, 'checkpoint-every': undefined });
  const first = resume(out, identity, model, opt, log);
  for (let s = 1; s < first; s++) { // the batch order, vocabulary draws and schedule of the steps already done
    nextRows();
    if (head && s < fullFrom) head.draw();
    opt.schedule();
  }
  const every = num('checkpoint-every');
  const stopAt = values['stop-at'] ? num('stop-at') : Infinity;
  for (let step = first; step <= steps; step++) {
    const rows = nextRows();
    const vocab = head && step < fullFrom ? head.draw() : null; // drawn every step, so a resumed run draws the same
    const loss = tidy(() => {
      const enc = padBatch(rows.map((r) => r.prompt), 'right', EOS);
      const dec = padBatch(rows.map((r) => [config.decoderStartTokenId, ...r.answer.slice(0, -1)]), 'right', EOS);
      const labels = padBatch(rows.map((r) => r.answer), 'right', -100).ids;
      const input = { inputIds: enc.ids, attentionMask: enc.mask, decoderInputIds: dec.ids, decoderAttentionMask: dec.mask };
      let l: Tensor;
      if (vocab) {
        const out = model.forward({ ...input, logits: 'none' });
        const drawn = tensor(vocab.ids, { dtype: 'int64' });
        const logits = t5LmHead(config, (n) => model.parameter(n).indexSelect(0, drawn), out.hidden); // the head on the drawn rows
        const local = labels.map((row) => row.map((t) => (t === -100 ? -100 : vocab.index.get(t)!)));
        l = crossEntropy(logits.reshape(-1, vocab.ids.length), tensor(local, { dtype: 'int64' }).reshape(-1), { ignoreIndex: -100 });
      } else {
        const out = model.forward(input);
        l = crossEntropy(out.logits!.reshape(-1, config.vocabSize), tensor(labels, { dtype: 'int64' }).reshape(-1), { ignoreIndex: -100 });
      }
      l.backward();
      return l.item();
    });
    opt.step();
    opt.schedule();
    opt.zeroGrad();
    if (step % evalEvery === 0 || step === steps) {
      const entry = { step, loss, trainAcc: firstTokenAccuracy(model, trainProbe), heldOutAcc: firstTokenAccuracy(model, heldOutProbe) };
      log.push(entry);
      console.log(JSON.stringify(entry));
    } else if (step % 50 === 0) {
      console.log(`step ${step} loss ${loss.toFixed(4)}`);
    }
    if (step < steps && (step % every === 0 || step === stopAt)) {
      writeCheckpoint(out, { loop: { step, best: null, sinceBest: 0, logLines: log.length, seconds: 0, identity }, tensors: model.params, best: new Map(), optimizers: opt.groups.map((g) => g.exportState()) });
      writeFileSync(join(out, 'train-log.partial.json'), JSON.stringify(log) + '\n');
    }
    if (step === stopAt && step < steps) {
      console.log(`stopped after step ${step} (--stop-at); rerun the same command to continue from ${checkpointPath(out)}`);
      opt.dispose();
      model.dispose();
      return;
    }
  }
  for (const p of model.params.values()) p.requiresGrad_(false);
  saveT5Model(model, out, { overwrite: true, extraJson: { 'train-args.json': values, 'train-log.json': log } });
  console.log(`saved ${out}`);
  opt.dispose();
  model.dispose();
}

main();
