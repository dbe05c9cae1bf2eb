// Tokenizers: one interface over the formats a checkpoint directory may carry, chosen by the files present:
//   tokenizer.json               Hugging Face `tokenizers` format, run by @huggingface/tokenizers (hf-tokenizer.ts)
//   vocab.json + merges.txt      GPT-2 byte-level BPE, converted to the tokenizer.json form and run by the same code
//   tokenizer-vocab.json         llama2.c's tokenizer (stories260K), llama2c-tokenizer.ts
// Special tokens (bos/eos/pad) and padding side follow transformers: tokenizer_config.json and
// special_tokens_map.json first, then config.json's *_token_id, then the format's conventional tokens.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonObject, readOptionalJsonObject, type JsonObject as Json } from './json.js';
import { gpt2FilesToTokenizerJson, HfTokenizer, specialTokenContent } from './hf-tokenizer.js';
import { Llama2cTokenizer, readLlama2cVocab } from './llama2c-tokenizer.js';

export interface EncodeOptions {
  /** Add the tokenizer's special tokens (e.g. Llama's BOS); GPT-2 adds none. Default true, as transformers. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
  /** transformers' `clean_up_tokenization_spaces` (" ," → ","); default from tokenizer_config.json, else false. */
  cleanUpTokenizationSpaces?: boolean;
}

export interface Tokenizer {
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: number[], opts?: DecodeOptions): string;
  /** Number of ids, added tokens included (transformers' `len(tokenizer)`). */
  readonly vocabSize: number;
  readonly eosTokenId: number | null;
  readonly bosTokenId: number | null;
  padTokenId: number | null;
  paddingSide: 'left' | 'right';
  tokenToId(tok: string): number | undefined;
  idToToken(id: number): string | undefined;
}

/** The special-token settings every implementation starts from. */
export interface SpecialTokens {
  bosTokenId: number | null;
  eosTokenId: number | null;
  padTokenId: number | null;
  paddingSide: 'left' | 'right';
  cleanUpTokenizationSpaces: boolean;
}

/** config.json's `eos_token_id` may be a list (several stop tokens); the first is the canonical one. */
function firstId(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (Array.isArray(value) && typeof value[0] === 'number') return value[0];
  return undefined;
}

interface TokenizerFiles {
  tokenizerConfig: Json;
  specialTokensMap: Json;
  modelConfig: Json;
}

/**
 * Resolves one special token's id: named in tokenizer_config.json / special_tokens_map.json, else config.json's
 * `<kind>_token_id`, else the first conventional token the vocabulary has.
 */
function resolveSpecialId(
  kind: 'bos' | 'eos' | 'pad', files: TokenizerFiles, lookup: (tok: string) => number | undefined, conventional: string[],
): number | null {
  const key = `${kind}_token`;
  const named = specialTokenContent(files.tokenizerConfig[key]) ?? specialTokenContent(files.specialTokensMap[key]);
  if (named !== undefined) {
    const id = lookup(named);
    if (id !== undefined) return id;
  }
  const fromConfig = firstId(files.modelConfig[`${kind}_token_id`]);
  if (fromConfig !== undefined) return fromConfig;
  for (const tok of conventional) {
    const id = lookup(tok);
    if (id !== undefined) return id;
  }
  return null;
}

/**
 * bos/eos/pad and padding side. With no pad token configured, pad = eos: the GPT-2 convention of the editing
 * literature (ROME, EasyEdit set `tokenizer.pad_token = tokenizer.eos_token`); the mask hides pads anyway.
 */
function resolveSpecialTokens(files: TokenizerFiles, lookup: (tok: string) => number | undefined, conventional: {
  bos: string[]; eos: string[];
}): SpecialTokens {
  const bosTokenId = resolveSpecialId('bos', files, lookup, conventional.bos);
  const eosTokenId = resolveSpecialId('eos', files, lookup, conventional.eos);
  const padTokenId = resolveSpecialId('pad', files, lookup, []) ?? eosTokenId;
  const side = files.tokenizerConfig.padding_side;
  const cleanUp = files.tokenizerConfig.clean_up_tokenization_spaces;
  return {
    bosTokenId, eosTokenId, padTokenId,
    paddingSide: side === 'left' ? 'left' : 'right',
    cleanUpTokenizationSpaces: cleanUp === true,
  };
}

/**
 * Loads the tokenizer of a checkpoint directory. `config` is the model's config.json (read from `dir` when not
 * given) and supplies bos/eos/pad ids that the tokenizer files do not name.
 */
export function loadTokenizer(dir: string, config?: any): Tokenizer {
  const files: TokenizerFiles = {
    tokenizerConfig: readOptionalJsonObject(path.join(dir, 'tokenizer_config.json'), 'tokenizer config') ?? {},
    specialTokensMap: readOptionalJsonObject(path.join(dir, 'special_tokens_map.json'), 'special tokens map') ?? {},
    modelConfig: (config as Json | undefined) ?? readOptionalJsonObject(path.join(dir, 'config.json'), 'model config') ?? {},
  };
  const at = (name: string) => path.join(dir, name);
  if (fs.existsSync(at('tokenizer.json'))) {
    return hfTokenizer(readJsonObject(at('tokenizer.json'), 'tokenizer'), files);
  }
  if (fs.existsSync(at('vocab.json')) && fs.existsSync(at('merges.txt'))) {
    const json = gpt2FilesToTokenizerJson(at('vocab.json'), at('merges.txt'), files.tokenizerConfig, readOptionalJsonObject(at('added_tokens.json'), 'added tokens'));
    return hfTokenizer(json, files);
  }
  if (fs.existsSync(at('tokenizer-vocab.json'))) {
    const vocab = readLlama2cVocab(at('tokenizer-vocab.json'));
    return new Llama2cTokenizer(vocab, (lookup) => resolveSpecialTokens(files, lookup, { bos: [], eos: [] }));
  }
  const extra = fs.existsSync(at('tokenizer.model'))
    ? ' It has tokenizer.model (a SentencePiece model), which lmedit does not read: convert it to tokenizer.json'
      + ' (in Python: AutoTokenizer.from_pretrained(dir).save_pretrained(dir)).'
    : '';
  throw new Error(`no tokenizer found in ${dir}: looked for tokenizer.json, vocab.json + merges.txt, and tokenizer-vocab.json.${extra}`);
}

function hfTokenizer(json: Json, files: TokenizerFiles): HfTokenizer {
  return new HfTokenizer(json, files.tokenizerConfig, (lookup) => resolveSpecialTokens(files, lookup, {
    bos: ['<|endoftext|>', '<s>', '<bos>'],
    eos: ['<|endoftext|>', '</s>', '<eos>'],
  }));
}

export interface BatchOptions extends EncodeOptions {
  paddingSide?: 'left' | 'right';
  padTokenId?: number;
}

/**
 * Encodes several texts and pads them to the longest: right padding for scoring (positions stay 0..n-1), left
 * padding for batched generation (every row's last real token sits at the last column). Mask 1 = real token.
 */
export function encodeBatch(
  tok: Tokenizer, texts: string[], opts: BatchOptions = {},
): { ids: number[][]; attentionMask: number[][] } {
  const padId = opts.padTokenId ?? tok.padTokenId;
  if (padId === null) throw new Error('encodeBatch: the tokenizer has no pad token; pass padTokenId or set tok.padTokenId');
  const side = opts.paddingSide ?? tok.paddingSide;
  const encoded = texts.map((t) => tok.encode(t, { addSpecialTokens: opts.addSpecialTokens }));
  const longest = Math.max(0, ...encoded.map((e) => e.length));
  const ids: number[][] = [];
  const attentionMask: number[][] = [];
  for (const row of encoded) {
    const pads = new Array<number>(longest - row.length).fill(padId);
    const zeros = new Array<number>(longest - row.length).fill(0);
    const ones = new Array<number>(row.length).fill(1);
    ids.push(side === 'left' ? [...pads, ...row] : [...row, ...pads]);
    attentionMask.push(side === 'left' ? [...zeros, ...ones] : [...ones, ...zeros]);
  }
  return { ids, attentionMask };
}
