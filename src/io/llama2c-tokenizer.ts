// llama2.c's tokenizer (karpathy/llama2.c run.c `encode`/`decode`), used by stories260K: a SentencePiece-BPE
// vocabulary of {piece, score}, where ' ' stands for SentencePiece's '▁' and `<0xHH>` pieces are raw bytes.
// Conventions: data/golden/ARCHITECTURES.md (stories260K-hf, tokenizer).
import * as fs from 'node:fs';
import type { DecodeOptions, EncodeOptions, SpecialTokens, Tokenizer } from './tokenizer.js';

export interface Llama2cPiece {
  id: number;
  piece: string;
  score: number;
}

/** Ids below this are control tokens (0 `<unk>`, 1 BOS, 2 EOS); the next 256 are the byte pieces `<0x00>`..`<0xFF>`. */
const BYTE_OFFSET = 3;
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

/** Reads tokenizer-vocab.json: a list of {id, piece, score} in id order (exported from llama2.c's tok512.bin). */
export function readLlama2cVocab(file: string): Llama2cPiece[] {
  const vocab = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  if (!Array.isArray(vocab)) throw new Error(`${file}: expected a list of {id, piece, score}`);
  vocab.forEach((p: Partial<Llama2cPiece>, i) => {
    if (p.id !== i || typeof p.piece !== 'string' || typeof p.score !== 'number') {
      throw new Error(`${file}: entry ${i} must be {"id": ${i}, "piece": string, "score": number}, got ${JSON.stringify(p)}`);
    }
  });
  return vocab as Llama2cPiece[];
}

export class Llama2cTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly eosTokenId: number | null;
  readonly bosTokenId: number | null;
  padTokenId: number | null;
  paddingSide: 'left' | 'right';
  private readonly pieces: Llama2cPiece[];
  private readonly idOf = new Map<string, number>();

  constructor(pieces: Llama2cPiece[], resolveSpecial: (lookup: (tok: string) => number | undefined) => SpecialTokens) {
    this.pieces = pieces;
    for (const p of pieces) if (!this.idOf.has(p.piece)) this.idOf.set(p.piece, p.id);
    this.vocabSize = pieces.length;
    const special = resolveSpecial((tok) => this.idOf.get(tok));
    this.bosTokenId = special.bosTokenId ?? 1;
    this.eosTokenId = special.eosTokenId ?? 2;
    this.padTokenId = special.padTokenId ?? this.eosTokenId;
    this.paddingSide = special.paddingSide;
  }

  /**
   * run.c `encode`: BOS, the dummy-prefix piece " ", one piece per code point (bytes `<0xHH>` = byte + 3 when the
   * code point has no piece), then repeatedly merge the adjacent pair whose concatenation is the highest-scoring
   * piece; on equal scores the leftmost pair wins (run.c compares with a strict `>`).
   */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const ids: number[] = [];
    if ((opts.addSpecialTokens ?? true) && this.bosTokenId !== null) ids.push(this.bosTokenId);
    if (text.length === 0) return ids;
    const start = ids.length;
    ids.push(this.requireId(' '));
    for (const ch of text) {
      const id = this.idOf.get(ch);
      if (id !== undefined) ids.push(id);
      else for (const byte of Buffer.from(ch, 'utf8')) ids.push(byte + BYTE_OFFSET);
    }
    this.mergePairs(ids, start);
    return ids;
  }

  private mergePairs(ids: number[], start: number): void {
    for (;;) {
      let bestScore = -Infinity;
      let bestId = -1;
      let bestAt = -1;
      for (let i = start; i + 1 < ids.length; i++) {
        const merged = this.idOf.get(this.pieces[ids[i]].piece + this.pieces[ids[i + 1]].piece);
        if (merged !== undefined && this.pieces[merged].score > bestScore) {
          bestScore = this.pieces[merged].score;
          bestId = merged;
          bestAt = i;
        }
      }
      if (bestAt < 0) return;
      ids.splice(bestAt, 2, bestId);
    }
  }

  private requireId(piece: string): number {
    const id = this.idOf.get(piece);
    if (id === undefined) throw new Error(`llama2.c tokenizer: the vocabulary has no ${JSON.stringify(piece)} piece`);
    return id;
  }

  /**
   * run.c `decode`, with SentencePiece's handling of control tokens: BOS/EOS/unk render as nothing; a piece right
   * after BOS (or first in the list) loses its leading space, the dummy prefix; byte pieces are collected and
   * decoded as UTF-8, so a character split into byte pieces comes back whole.
   */
  decode(ids: number[], _opts: DecodeOptions = {}): string {
    const bytes: number[] = [];
    ids.forEach((id, i) => {
      if (id < BYTE_OFFSET) return;
      const piece = this.pieces[id]?.piece;
      if (piece === undefined) throw new Error(`llama2.c tokenizer: id ${id} is outside the vocabulary (${this.vocabSize})`);
      const byte = BYTE_PIECE.exec(piece);
      if (byte) {
        bytes.push(parseInt(byte[1], 16));
        return;
      }
      const atStart = i === 0 || ids[i - 1] === this.bosTokenId;
      const text = atStart && piece.startsWith(' ') ? piece.slice(1) : piece;
      bytes.push(...Buffer.from(text, 'utf8'));
    });
    return Buffer.from(bytes).toString('utf8');
  }

  tokenToId(tok: string): number | undefined {
    return this.idOf.get(tok);
  }

  idToToken(id: number): string | undefined {
    return this.pieces[id]?.piece;
  }
}
