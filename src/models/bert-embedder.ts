// A local sentence-embedding model behind `Embedder`: a BERT encoder directory (e.g. sentence-transformers'
// all-MiniLM-L6-v2 as downloaded: config.json, model.safetensors, tokenizer.json or vocab.txt, modules.json,
// 1_Pooling/config.json, sentence_bert_config.json). Texts are tokenized with the model's WordPiece tokenizer,
// truncated to max_seq_length, run through the encoder in batches, pooled (mean over real tokens, or the [CLS] row
// when 1_Pooling says so) and L2-normalised when the pipeline has a Normalize module: sentence-transformers' encode().
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tidy, noGrad, type Device, type DType } from '../tensor/index.js';
import { loadBertModel, type BertModel } from './bert.js';
import { resolveModelDir } from '../io/checkpoint.js';
import { loadTokenizer, type Tokenizer } from '../io/tokenizer.js';
import { HfTokenizer, specialTokenContent } from '../io/hf-tokenizer.js';
import { readOptionalJsonObject, type JsonObject as Json } from '../io/json.js';
import type { Embedder } from '../retrieval/embedding.js';

export interface BertEmbedderOptions {
  /** The embedder's name in saved states (default: the path or repo id as given). */
  name?: string;
  dtype?: DType;
  device?: Device;
  /** Texts per forward pass (default 32, as sentence-transformers). */
  batchSize?: number;
  /** Longest token sequence, special tokens included (default: sentence_bert_config.json max_seq_length, else the model's positions). */
  maxLength?: number;
  /** Override the pooling of 1_Pooling/config.json (default mean). */
  pooling?: 'mean' | 'cls';
  /** Override whether vectors are L2-normalised (default: modules.json has a Normalize module, or true without modules.json). */
  normalize?: boolean;
}

interface Pipeline {
  modelDir: string;
  pooling: 'mean' | 'cls';
  normalize: boolean;
  maxLength?: number;
}

/** Reads a sentence-transformers pipeline description, when the directory has one; errors name the file. */
function readPipeline(dir: string): Pipeline {
  const modulesFile = join(dir, 'modules.json');
  let modelDir = dir;
  let normalize = true;
  let poolingDir = join(dir, '1_Pooling');
  if (existsSync(modulesFile)) {
    const modules = JSON.parse(readFileSync(modulesFile, 'utf8')) as unknown;
    if (!Array.isArray(modules)) throw new Error(`${modulesFile}: expected a list of modules`);
    const types = modules.map((m) => String((m as Json).type ?? ''));
    const transformer = modules.find((m) => String((m as Json).type ?? '').endsWith('.Transformer')) as Json | undefined;
    if (transformer && typeof transformer.path === 'string' && transformer.path !== '') modelDir = join(dir, transformer.path);
    const pooling = modules.find((m) => String((m as Json).type ?? '').endsWith('.Pooling')) as Json | undefined;
    if (pooling && typeof pooling.path === 'string') poolingDir = join(dir, pooling.path);
    const unsupported = types.filter((t) => !/\.(Transformer|Pooling|Normalize)$/.test(t));
    if (unsupported.length > 0) throw new Error(`${modulesFile}: module(s) ${unsupported.join(', ')} are not supported (Transformer, Pooling, Normalize)`);
    normalize = types.some((t) => t.endsWith('.Normalize'));
  }
  let pooling: 'mean' | 'cls' = 'mean';
  const poolingFile = join(poolingDir, 'config.json');
  const pc = readOptionalJsonObject(poolingFile, 'pooling config');
  if (pc) {
    const modes = Object.entries(pc).filter(([k, v]) => k.startsWith('pooling_mode_') && v === true).map(([k]) => k);
    if (modes.length !== 1 || !['pooling_mode_mean_tokens', 'pooling_mode_cls_token'].includes(modes[0])) {
      throw new Error(`${poolingFile}: pooling ${modes.join(' + ') || '(none)'} is not supported (exactly one of pooling_mode_mean_tokens, pooling_mode_cls_token)`);
    }
    pooling = modes[0] === 'pooling_mode_cls_token' ? 'cls' : 'mean';
  }
  const sb = readOptionalJsonObject(join(dir, 'sentence_bert_config.json'), 'sentence-transformers config');
  const maxLength = typeof sb?.max_seq_length === 'number' ? sb.max_seq_length : undefined;
  return { modelDir, pooling, normalize, maxLength };
}

/**
 * The WordPiece tokenizer of a BERT directory that has only vocab.txt (no tokenizer.json): the tokenizer.json that
 * transformers' BertTokenizerFast builds from it (BertNormalizer with do_lower_case, BertPreTokenizer, WordPiece with
 * `##` continuations, [CLS] A [SEP] / [CLS] A [SEP] B [SEP] post-processing).
 */
export function wordPieceTokenizerJson(vocabFile: string, tokenizerConfig: Json = {}): Json {
  const vocab: Record<string, number> = {};
  readFileSync(vocabFile, 'utf8').split('\n').forEach((line, i, all) => {
    const tok = line.replace(/\r$/, '');
    if (tok === '' && i === all.length - 1) return;
    if (!(tok in vocab)) vocab[tok] = i;
  });
  const name = (key: string, fallback: string) => specialTokenContent(tokenizerConfig[key]) ?? fallback;
  const unk = name('unk_token', '[UNK]');
  const cls = name('cls_token', '[CLS]');
  const sep = name('sep_token', '[SEP]');
  for (const t of [unk, cls, sep]) if (!(t in vocab)) throw new Error(`${vocabFile}: the vocabulary has no '${t}' token`);
  const specials = [name('pad_token', '[PAD]'), unk, cls, sep, name('mask_token', '[MASK]')].filter((t) => t in vocab);
  const lowercase = tokenizerConfig.do_lower_case !== false;
  const special = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
  const seq = (id: string, typeId: number) => ({ Sequence: { id, type_id: typeId } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((t) => ({ id: vocab[t], content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: {
      type: 'BertNormalizer', clean_text: true, handle_chinese_chars: tokenizerConfig.tokenize_chinese_chars !== false,
      strip_accents: typeof tokenizerConfig.strip_accents === 'boolean' ? tokenizerConfig.strip_accents : null, lowercase,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special(cls, 0), seq('A', 0), special(sep, 0)],
      pair: [special(cls, 0), seq('A', 0), special(sep, 0), seq('B', 1), special(sep, 1)],
      special_tokens: {
        [cls]: { id: cls, ids: [vocab[cls]], tokens: [cls] },
        [sep]: { id: sep, ids: [vocab[sep]], tokens: [sep] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: unk, continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

/** The tokenizer of a BERT directory: tokenizer.json when present, else one built from vocab.txt. */
export function loadBertTokenizer(dir: string, config?: Json): Tokenizer {
  if (existsSync(join(dir, 'tokenizer.json')) || !existsSync(join(dir, 'vocab.txt'))) return loadTokenizer(dir, config);
  const tokenizerConfig = readOptionalJsonObject(join(dir, 'tokenizer_config.json'), 'tokenizer config') ?? {};
  const json = wordPieceTokenizerJson(join(dir, 'vocab.txt'), tokenizerConfig);
  const padName = specialTokenContent(tokenizerConfig.pad_token) ?? '[PAD]';
  return new HfTokenizer(json, tokenizerConfig, (lookup) => ({
    bosTokenId: null,
    eosTokenId: null,
    padTokenId: lookup(padName) ?? (typeof config?.pad_token_id === 'number' ? config.pad_token_id : 0),
    paddingSide: 'right',
    cleanUpTokenizationSpaces: tokenizerConfig.clean_up_tokenization_spaces !== false,
  }));
}

export class BertEmbedder implements Embedder {
  readonly batchSize: number;
  readonly maxLength: number;
  readonly pooling: 'mean' | 'cls';
  readonly normalize: boolean;
  private readonly sepId: number | undefined;

  constructor(readonly name: string, readonly model: BertModel, readonly tokenizer: Tokenizer, opts: BertEmbedderOptions & { pipeline?: Partial<Pipeline> } = {}) {
    this.batchSize = opts.batchSize ?? 32;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new Error(`BertEmbedder: batchSize must be a positive integer, got ${opts.batchSize}`);
    this.maxLength = Math.min(opts.maxLength ?? opts.pipeline?.maxLength ?? model.config.maxPositions, model.config.maxPositions);
    if (!(this.maxLength >= 2)) throw new Error(`BertEmbedder: maxLength must be at least 2, got ${opts.maxLength}`);
    this.pooling = opts.pooling ?? opts.pipeline?.pooling ?? 'mean';
    this.normalize = opts.normalize ?? opts.pipeline?.normalize ?? true;
    this.sepId = tokenizer.tokenToId('[SEP]');
  }

  /** Loads the encoder, its tokenizer and its sentence-transformers pipeline settings from a directory or cached repo id. */
  static load(nameOrPath: string, opts: BertEmbedderOptions = {}): BertEmbedder {
    const dir = resolveModelDir(nameOrPath);
    const pipeline = readPipeline(dir);
    const model = loadBertModel(pipeline.modelDir, { dtype: opts.dtype, device: opts.device });
    try {
      const tokenizer = existsSync(join(pipeline.modelDir, 'tokenizer.json')) || existsSync(join(pipeline.modelDir, 'vocab.txt'))
        ? loadBertTokenizer(pipeline.modelDir, model.source.rawConfig)
        : loadBertTokenizer(dir, model.source.rawConfig);
      return new BertEmbedder(opts.name ?? nameOrPath, model, tokenizer, { ...opts, pipeline });
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  /** Token ids of one text as the encoder sees it: with [CLS]/[SEP], truncated to maxLength keeping the final [SEP]. */
  encode(text: string): number[] {
    const ids = this.tokenizer.encode(text, { addSpecialTokens: true });
    if (ids.length <= this.maxLength) return ids;
    const last = ids[ids.length - 1];
    return last === this.sepId ? [...ids.slice(0, this.maxLength - 1), last] : ids.slice(0, this.maxLength);
  }

  embed(texts: readonly string[]): number[][] {
    return this.embedIds(texts.map((t) => this.encode(t)));
  }

  /** Embeddings of already tokenized sequences (special tokens included), batched and right-padded. */
  embedIds(sequences: readonly number[][]): number[][] {
    const out: number[][] = [];
    const pad = this.tokenizer.padTokenId ?? this.model.config.padTokenId;
    for (let start = 0; start < sequences.length; start += this.batchSize) {
      const chunk = sequences.slice(start, start + this.batchSize);
      const width = Math.max(1, ...chunk.map((s) => s.length));
      const ids = chunk.map((s) => [...s, ...new Array<number>(width - s.length).fill(pad)]);
      const mask = chunk.map((s) => [...new Array<number>(s.length).fill(1), ...new Array<number>(width - s.length).fill(0)]);
      const vectors = tidy(() => noGrad(() => this.model.sentenceEmbeddings(
        { inputIds: ids, attentionMask: mask }, { pooling: this.pooling, normalize: this.normalize },
      ).toArray() as number[][]));
      out.push(...vectors);
    }
    return out;
  }

  dispose(): void {
    this.model.dispose();
  }
}
