// Hugging Face tokenizer.json tokenizers, run by @huggingface/tokenizers (pure JS, the tokenizer code of
// transformers.js). GPT-2's vocab.json + merges.txt are converted to the tokenizer.json the hub ships for GPT-2, so
// both paths run the same byte-level BPE and give the same ids.
import * as fs from 'node:fs';
import { Tokenizer as HfCore } from '@huggingface/tokenizers';
import type { JsonObject as Json } from './json.js';
import type { DecodeOptions, EncodeOptions, SpecialTokens, Tokenizer } from './tokenizer.js';

/** A special token in tokenizer_config.json / special_tokens_map.json is a string or an AddedToken dict. */
export function specialTokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as Json).content === 'string') return (value as Json).content as string;
  return undefined;
}

/** A tokenizer.json tokenizer with transformers' special-token settings on top. */
export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly eosTokenId: number | null;
  readonly bosTokenId: number | null;
  padTokenId: number | null;
  paddingSide: 'left' | 'right';
  private readonly core: HfCore;
  private readonly cleanUp: boolean;

  /** `resolveSpecial` gets a token → id lookup over the full vocabulary (added tokens included). */
  constructor(tokenizerJson: Json, tokenizerConfig: Json, resolveSpecial: (lookup: (tok: string) => number | undefined) => SpecialTokens) {
    // The library's own clean-up default is true; ours comes from tokenizer_config.json (resolveSpecial), so that
    // decode(encode(x)) === x unless a checkpoint asks for transformers' legacy clean-up.
    this.core = new HfCore(tokenizerJson, { ...tokenizerConfig, clean_up_tokenization_spaces: false });
    const special = resolveSpecial((tok) => this.core.token_to_id(tok));
    this.vocabSize = this.core.get_vocab(true).size;
    this.bosTokenId = special.bosTokenId;
    this.eosTokenId = special.eosTokenId;
    this.padTokenId = special.padTokenId;
    this.paddingSide = special.paddingSide;
    this.cleanUp = special.cleanUpTokenizationSpaces;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    return this.core.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  decode(ids: number[], opts: DecodeOptions = {}): string {
    if (ids.length === 0) return ''; // the library rejects an empty list
    const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= this.vocabSize);
    if (bad !== undefined) throw new Error(`decode: token id ${bad} is outside the vocabulary (0..${this.vocabSize - 1})`);
    return this.core.decode(ids, {
      skip_special_tokens: opts.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: opts.cleanUpTokenizationSpaces ?? this.cleanUp,
    });
  }

  tokenToId(tok: string): number | undefined {
    return this.core.token_to_id(tok);
  }

  idToToken(id: number): string | undefined {
    return this.core.id_to_token(id);
  }
}

/** The first line of GPT-2's merges.txt (OpenAI's vocab.bpe) is a version comment, not a merge. */
function readMerges(file: string): string[] {
  return fs.readFileSync(file, 'utf8').split('\n')
    .filter((line, i) => line.length > 0 && !(i === 0 && line.startsWith('#version')));
}

/**
 * Special tokens that must be split out of the text before BPE, as the slow GPT2Tokenizer does: those of
 * tokenizer_config.json's `added_tokens_decoder`, of added_tokens.json, and the named bos/eos/unk/pad tokens
 * (GPT-2's default for all of them is `<|endoftext|>`).
 */
function addedTokens(vocab: Record<string, number>, tokenizerConfig: Json, addedTokensJson: Json | null): Json[] {
  const byId = new Map<number, Json>();
  const add = (content: string, id: number | undefined, special: boolean) => {
    if (id === undefined || byId.has(id)) return;
    byId.set(id, { id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special });
  };
  const decoder = (tokenizerConfig.added_tokens_decoder ?? {}) as Record<string, Json>;
  for (const [id, tok] of Object.entries(decoder)) {
    if (typeof tok.content === 'string') add(tok.content, Number(id), tok.special !== false);
  }
  for (const [content, id] of Object.entries(addedTokensJson ?? {})) {
    if (typeof id === 'number') add(content, id, true);
  }
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
    const content = specialTokenContent(tokenizerConfig[key]);
    if (content !== undefined) add(content, vocab[content], true);
  }
  add('<|endoftext|>', vocab['<|endoftext|>'], true);
  return [...byId.values()].sort((a, b) => (a.id as number) - (b.id as number));
}

/**
 * The tokenizer.json equivalent of GPT-2's vocab.json + merges.txt: the layout of the openai-community/gpt2 hub
 * file (ByteLevel pre-tokenizer with the GPT-2 regex, BPE without unk, ByteLevel post-processor and decoder).
 */
export function gpt2FilesToTokenizerJson(
  vocabFile: string, mergesFile: string, tokenizerConfig: Json = {}, addedTokensJson: Json | null = null,
): Json {
  const vocab = JSON.parse(fs.readFileSync(vocabFile, 'utf8')) as Record<string, number>;
  const addPrefixSpace = tokenizerConfig.add_prefix_space === true;
  const byteLevel = (trimOffsets: boolean) => ({ type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: trimOffsets, use_regex: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens(vocab, tokenizerConfig, addedTokensJson),
    normalizer: null,
    pre_tokenizer: byteLevel(true),
    post_processor: { ...byteLevel(false), add_prefix_space: true },
    decoder: byteLevel(true),
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, vocab, merges: readMerges(mergesFile),
    },
  };
}
