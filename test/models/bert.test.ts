// The BERT encoder against ../shared/data/golden/tiny-bert (float64 reference): last_hidden_state rows and norms,
// per-layer norms, pooler_output, sentence-transformers embeddings, a right-padded batch with token types, bf16;
// both checkpoint layouts (plain BertModel and `bert.`-prefixed with heads); the WordPiece tokenizer from vocab.txt
// and the retrieval Embedder end to end; and the errors (loadModel on BERT, bad activation, missing weights).
import { describe, test, before, after } from 'node:test';
import { ike, type IkeHparams, type IkeWrapper } from '../../src/methods/ike/index.js';
import { validateHparams } from '../../src/methods/hparams.js';
import { normalizeRequest } from '../../src/methods/request.js';
import type { TextModel } from '../../src/models/index.js';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBertModel, type BertModel } from '../../src/models/bert.js';
import { loadModel } from '../../src/models/index.js';
import { noGrad, tidy, zeros } from '../../src/tensor/index.js';
import { readSafetensorsHeader, readTensorBytes, writeSafetensors } from '../../src/io/safetensors.js';
import { BertEmbedder, loadBertTokenizer } from '../../src/models/bert-embedder.js';
import { EmbeddingRetriever } from '../../src/retrieval/index.js';
import { GOLDEN } from '../data.js';

const DIR = join(GOLDEN, 'tiny-bert');
const golden = JSON.parse(readFileSync(join(DIR, 'golden.json'), 'utf8'));

function maxAbsDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length, 'length mismatch');
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
}

interface Seq {
  input_ids: number[];
  first_hidden: number[];
  last_hidden: number[];
  hidden_norms: number[];
  layer_norms_last: number[];
  pooler_output: number[];
  mean_pooled_normalized: number[];
}

function run(model: BertModel, ids: number[]) {
  return tidy(() => noGrad(() => {
    const out = model.forward({ inputIds: [ids], hiddenStates: true });
    const h = out.lastHiddenState.select(0, 0);
    return {
      first: h.select(0, 0).toFlatArray(),
      last: h.select(0, -1).toFlatArray(),
      norms: h.norm(2, -1).toFlatArray(),
      layers: out.hiddenStates!.slice(1).map((x) => x.select(0, 0).select(0, -1).norm().item()),
      pooler: out.poolerOutput?.select(0, 0).toFlatArray(),
      embedding: model.sentenceEmbeddings({ inputIds: [ids] }).select(0, 0).toFlatArray(),
    };
  }));
}

function checkParity(model: BertModel) {
  for (const [k, s] of (golden.sequences as Seq[]).entries()) {
    const r = run(model, s.input_ids);
    assert.ok(maxAbsDiff(r.first, s.first_hidden) <= 1e-4, `sequence ${k} first hidden row: ${maxAbsDiff(r.first, s.first_hidden)}`);
    assert.ok(maxAbsDiff(r.last, s.last_hidden) <= 1e-4, `sequence ${k} last hidden row`);
    assert.ok(maxAbsDiff(r.norms, s.hidden_norms) <= 1e-4, `sequence ${k} hidden norms`);
    assert.ok(maxAbsDiff(r.layers, s.layer_norms_last) <= 1e-4, `sequence ${k} per-layer norms`);
    assert.ok(maxAbsDiff(r.pooler!, s.pooler_output) <= 1e-4, `sequence ${k} pooler_output`);
    assert.ok(maxAbsDiff(r.embedding, s.mean_pooled_normalized) <= 1e-5, `sequence ${k} embedding: ${maxAbsDiff(r.embedding, s.mean_pooled_normalized)}`);
  }
}

describe('golden tiny-bert', () => {
  let model: BertModel;
  before(() => { model = loadBertModel(DIR); });
  after(() => model?.dispose());

  test('fp32: hidden states, per-layer norms, pooler and sentence embeddings match the float64 reference', () => {
    assert.ok(model.hasPooler);
    checkParity(model);
  });

  test('right-padded batch: embeddings equal the unbatched ones; token_type_ids are used', () => {
    const b = golden.batched;
    tidy(() => noGrad(() => {
      const e = model.sentenceEmbeddings({ inputIds: b.input_ids, attentionMask: b.attention_mask }).toArray() as number[][];
      e.forEach((row, i) => assert.ok(maxAbsDiff(row, b.mean_pooled_normalized[i]) <= 1e-5, `row ${i}`));
      const h = model.forward({ inputIds: b.input_ids, attentionMask: b.attention_mask, tokenTypeIds: b.token_type_ids }).lastHiddenState;
      (b.attention_mask as number[][]).forEach((m, i) => {
        const got = h.select(0, i).select(0, m.lastIndexOf(1)).toFlatArray();
        assert.ok(maxAbsDiff(got, b.last_real_hidden_with_token_types[i]) <= 1e-4, `token types row ${i}`);
      });
    }));
  });

  test('bf16 weights: fp32 compute matches the reference; bf16 compute stays close', () => {
    const widened = loadBertModel(DIR, { weightsFile: golden.bf16.file });
    const half = loadBertModel(DIR, { weightsFile: golden.bf16.file, dtype: 'bfloat16' });
    try {
      for (const [k, s] of (golden.sequences as Seq[]).entries()) {
        const w = run(widened, s.input_ids).last;
        assert.ok(maxAbsDiff(w, golden.bf16.last_hidden_bf16_weights_fp32_compute[k]) <= 1e-4, `sequence ${k} bf16 weights fp32 compute`);
        const h = tidy(() => noGrad(() => half.forward({ inputIds: [s.input_ids] }).lastHiddenState.select(0, 0).select(0, -1).to('float32').toFlatArray()));
        assert.ok(maxAbsDiff(h, s.last_hidden) <= 0.25, `sequence ${k} bf16 compute: ${maxAbsDiff(h, s.last_hidden)}`);
      }
    } finally {
      widened.dispose();
      half.dispose();
    }
  });

  test('every module path is reached by a forward pass', () => {
    const paths = model.modulePaths();
    const seen = tidy(() => noGrad(() => {
      const out = model.forward({ inputIds: [[101, 5, 102]], trace: paths.map((module) => ({ module })) });
      return paths.filter((p) => out.traces.get(p)?.output !== undefined);
    }));
    assert.deepEqual(seen, paths);
    assert.throws(() => model.forward({ inputIds: [[101]], trace: [{ module: 'bert.encoder.layer.0' }] }), /unknown module 'bert\.encoder\.layer\.0'/);
  });
});

/** Copies tiny-bert with its tensors renamed/extended by `edit` (name → name, or null to drop). */
function variant(dir: string, rename: (name: string) => string | null, extra: { name: string; shape: number[] }[] = [], config?: Record<string, unknown>) {
  mkdirSync(dir, { recursive: true });
  const raw = JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, ...config }));
  const st = readSafetensorsHeader(join(DIR, 'model.safetensors'));
  const tensors = [...st.tensors.values()].flatMap((e) => {
    const name = rename(e.name);
    return name === null ? [] : [{ name, dtype: e.dtype, shape: e.shape, data: () => new Uint8Array(readTensorBytes(e)) }];
  });
  for (const x of extra) {
    const bytes = new Uint8Array(tidy(() => zeros(x.shape).toBytes()));
    tensors.push({ name: x.name, dtype: 'F32', shape: x.shape, data: () => bytes });
  }
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
}

describe('checkpoint layouts and errors', () => {
  let tmp: string;
  before(() => { tmp = mkdtempSync(join(tmpdir(), 'lmedit-bert-')); });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('the bert.-prefixed layout (BertForMaskedLM-style, with cls.* head tensors) loads to the same model', () => {
    const dir = join(tmp, 'prefixed');
    variant(dir, (n) => `bert.${n}`, [{ name: 'cls.predictions.bias', shape: [256] }, { name: 'cls.predictions.transform.dense.weight', shape: [32, 32] }]);
    const m = loadBertModel(dir);
    try {
      checkParity(m);
    } finally {
      m.dispose();
    }
  });

  test('without a pooler: hidden states still load, pooler_output is absent', () => {
    const dir = join(tmp, 'nopooler');
    variant(dir, (n) => (n.startsWith('pooler.') ? null : n));
    const m = loadBertModel(dir);
    try {
      assert.equal(m.hasPooler, false);
      const r = run(m, golden.sequences[1].input_ids);
      assert.equal(r.pooler, undefined);
      assert.ok(maxAbsDiff(r.last, golden.sequences[1].last_hidden) <= 1e-4);
    } finally {
      m.dispose();
    }
  });

  test('loadModel on a BERT checkpoint says it is an encoder and what to use instead', () => {
    assert.throws(() => loadModel(DIR), (e: Error) => e.message.includes(join(DIR, 'config.json')) &&
      /model_type "bert" is not supported \(supported: gpt2.*opt\): it is a BERT encoder \(BertModel\), not a causal language model/.test(e.message) && /loadBertModel/.test(e.message) && /BertEmbedder/.test(e.message));
  });

  test('an unknown activation names the file and the field', () => {
    const dir = join(tmp, 'badact');
    variant(dir, (n) => n, [], { hidden_act: 'gelu_fancy' });
    assert.throws(() => loadBertModel(dir), (e: Error) => e.message.includes(join(dir, 'config.json')) && /hidden_act "gelu_fancy" is not supported/.test(e.message));
  });

  test('a missing tensor names the weights file and the tensor (in the file\'s own layout)', () => {
    const dir = join(tmp, 'missing');
    variant(dir, (n) => (n === 'encoder.layer.1.output.dense.weight' ? null : `bert.${n}`));
    assert.throws(() => loadBertModel(dir), (e: Error) => e.message.includes(join(dir, 'model.safetensors')) &&
      /missing 1 tensor\(s\) required by .*config\.json: 'bert\.encoder\.layer\.1\.output\.dense\.weight'/.test(e.message));
  });

  test('an unexpected tensor or a wrong shape names the file and the tensor', () => {
    const dir = join(tmp, 'extra');
    variant(dir, (n) => n, [{ name: 'encoder.layer.7.output.dense.weight', shape: [32, 64] }]);
    assert.throws(() => loadBertModel(dir), /model\.safetensors: tensor 'encoder\.layer\.7\.output\.dense\.weight' is not a parameter of a BertModel/);
    const dir2 = join(tmp, 'shape');
    variant(dir2, (n) => n, [], { intermediate_size: 128 });
    assert.throws(() => loadBertModel(dir2), /model\.safetensors: tensor 'encoder\.layer\.0\.intermediate\.dense\.weight' has shape \[64,32\] but .*config\.json implies \[128,32\]/);
  });
});

/**
 * A vocab.txt for tiny-bert's 256 ids: BERT's special-token ids ([PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102,
 * [MASK] 103) and words at the ids golden.json's sequences use, so text encodes to those sequences.
 */
const WORDS: Record<number, string> = { 5: 'alpha', 7: 'delta', 17: 'seventeen', 31: 'epsilon', 42: 'beta', 200: 'gamma', 150: '##s', 151: 'cat' };
function writeVocab(dir: string) {
  const specials: Record<number, string> = { 0: '[PAD]', 100: '[UNK]', 101: '[CLS]', 102: '[SEP]', 103: '[MASK]' };
  const lines = Array.from({ length: 256 }, (_, i) => specials[i] ?? WORDS[i] ?? `[unused${i}]`);
  writeFileSync(join(dir, 'vocab.txt'), lines.join('\n') + '\n');
}

describe('sentence embedder (retrieval Embedder) over a local BERT directory', () => {
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'lmedit-bert-emb-'));
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(DIR, f), join(tmp, f));
    writeVocab(tmp);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('WordPiece from vocab.txt: lower-casing, ## continuations, [UNK], [CLS]/[SEP]', () => {
    const tok = loadBertTokenizer(tmp);
    assert.deepEqual(tok.encode('Seventeen'), [101, 17, 102]);
    assert.deepEqual(tok.encode('Alpha ZZZ beta gamma delta epsilon'), golden.sequences[1].input_ids);
    assert.deepEqual(tok.encode('cats', { addSpecialTokens: false }), [151, 150]);
    assert.equal(tok.padTokenId, 0);
  });

  test('embed(texts) equals the golden sentence-transformers embeddings; batching and truncation', () => {
    const e = BertEmbedder.load(tmp, { batchSize: 2 });
    try {
      assert.equal(e.name, tmp);
      const [a, b, c] = e.embed(['seventeen', 'alpha zzz beta gamma delta epsilon', 'seventeen']);
      assert.ok(maxAbsDiff(a, golden.sequences[0].mean_pooled_normalized) <= 1e-5);
      assert.ok(maxAbsDiff(b, golden.sequences[1].mean_pooled_normalized) <= 1e-5, 'padded in a batch with a shorter text');
      assert.ok(maxAbsDiff(c, a) <= 1e-6, 'third text in its own batch');
      const short = new BertEmbedder('short', e.model, e.tokenizer, { maxLength: 4 });
      assert.deepEqual(short.encode('alpha zzz beta gamma delta'), [101, 5, 100, 102]);
      const r = new EmbeddingRetriever(e, ['alpha zzz beta gamma delta epsilon', 'seventeen cats']);
      assert.equal(r.topK('seventeen cats', 1)[0].index, 1);
      assert.ok(Math.abs(r.scores('seventeen cats')[1] - 1) <= 1e-6, 'a document retrieves itself with cosine 1');
    } finally {
      e.dispose();
    }
  });

  test("IKE's retriever: embedding loads sentence_model_name as a local BertEmbedder; facts are retrieved by it, and again after state → load", () => {
    const h = validateHparams<IkeHparams>({ alg_name: 'IKE', k: 0, use_icl_examples: false, retriever: 'embedding', sentence_model_name: tmp }, ike.schema, 'ike.yaml');
    ike.check(undefined as never, h, 'ike.yaml');
    const session = ike.open(undefined as never, h, { tokenizer: undefined as never, seed: 0 });
    const seen: string[] = [];
    // a scripted fake TextModel: records the prompts the wrapper sends it
    const inner: TextModel = {
      tokenizer: { encode: (t: string) => t.split(' ') } as never, maxPositions: Infinity,
      score: (rs) => { seen.push(...rs.map((r) => r.prompt)); return rs.map(() => ({ logprobs: [0], argmax: [0], ids: [0] }) as never); },
      generate: () => [],
    };
    let wrapper: IkeWrapper | undefined;
    let reloaded: IkeWrapper | undefined;
    try {
      const req = (prompt: string, subject: string, targetNew: string, i: number) => normalizeRequest({ prompt, subject, targetNew }, i);
      session.compute([req('alpha beta is', 'alpha', 'gamma', 0)], { editId: 'e1' });
      const edit = session.compute([req('seventeen cats is', 'seventeen', 'delta', 1)], { editId: 'e2' });
      wrapper = edit.wrapper as IkeWrapper;
      assert.equal(wrapper.factFor('seventeen cats')!.targetNew, ' delta');
      assert.equal(wrapper.factFor('alpha beta')!.targetNew, ' gamma');
      wrapper.score(inner, [{ prompt: 'seventeen cats', continuation: ' delta' }]);
      assert.match(seen[0], /seventeen cats is delta/);
      reloaded = ike.loadWrapper!(wrapper.state(), undefined as never, h) as IkeWrapper;
      assert.equal(reloaded.factFor('seventeen cats')!.targetNew, ' delta', 'the reloaded wrapper loads the encoder again');
    } finally {
      wrapper?.dispose();
      reloaded?.dispose();
      session.dispose();
    }
  });

  test('a sentence-transformers pipeline: CLS pooling from 1_Pooling/config.json, no Normalize module', () => {
    const dir = join(tmp, 'st');
    mkdirSync(join(dir, '1_Pooling'), { recursive: true });
    for (const f of ['config.json', 'model.safetensors', 'vocab.txt']) copyFileSync(join(tmp, f), join(dir, f));
    writeFileSync(join(dir, 'modules.json'), JSON.stringify([
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    ]));
    writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: 32, pooling_mode_cls_token: true, pooling_mode_mean_tokens: false }));
    writeFileSync(join(dir, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: 16, do_lower_case: false }));
    const e = BertEmbedder.load(dir);
    try {
      assert.equal(e.pooling, 'cls');
      assert.equal(e.normalize, false);
      assert.equal(e.maxLength, 16);
      const [v] = e.embed(['alpha zzz beta gamma delta epsilon']);
      assert.ok(maxAbsDiff(v, golden.sequences[1].first_hidden) <= 1e-4);
    } finally {
      e.dispose();
    }
    writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ pooling_mode_max_tokens: true }));
    assert.throws(() => BertEmbedder.load(dir), /1_Pooling\/config\.json: pooling pooling_mode_max_tokens is not supported/);
  });
});
