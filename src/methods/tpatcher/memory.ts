// The memory set of T-Patcher's memory loss: MLP inputs at ordinary text, on which a new neuron must stay inactive.
// The original collects the patched FFN's input at every (non-padding) decoder position of its memory split of the
// training data (Editor.construct_memory, ModuleDetector 'bart_seq'), up to memory_size inputs. Here two sources,
// pool first, then text, together at most memory_size positions:
//   - pool cases (hparams pool_file/pool_range, SessionContext.pool): each case's prompt, rephrases and locality
//     prompts followed by their answers, at every position: the kind of text the model was trained on;
//   - memory_file: plain text (WikiText), non-heading lines, in windows of up to 64 tokens, at every position.
// On a T5 the FFN is the decoder's, so a row is a pair: encoder = the prompt (a text window's first half), decoder =
// the answer (its second half), and the inputs are those at every decoder position.
import { readFileSync } from 'node:fs';
import { cat, keep, noGrad, tidy, type Tensor } from '../../tensor/index.js';
import { CausalLM, padBatch, targetStates, type EditableModel } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import type { NormalizedRequest } from '../request.js';
import { withLeadingSpace } from '../request.js';

const BATCH = 16;
const WINDOW = 64;

/** A row of the memory set: token ids (a causal LM), or an encoder prompt and a decoder target (a T5). */
export type MemoryRow = number[] | { prompt: number[]; target: number[] };

const rowLength = (r: MemoryRow) => (Array.isArray(r) ? r.length : r.target.length);

/** The MLP's input [B, T, d] on a chunk of rows (causal: the rows; T5: the decoder of prompt → target pairs). */
function chunkInputs(model: EditableModel, module: string, chunk: MemoryRow[]): Tensor {
  const spec = [{ module, retainInput: true, retainOutput: false }];
  if (model instanceof CausalLM) {
    const { ids, mask } = padBatch(chunk as number[][]);
    return model.trace({ inputIds: ids, attentionMask: mask, logits: 'none' }, spec).traces.get(module)!.input!;
  }
  const pairs = chunk as { prompt: number[]; target: number[] }[];
  return targetStates(model, pairs.map((p) => p.prompt), pairs.map((p) => p.target), { trace: spec }).out.traces.get(module)!.input!;
}

/** The MLP inputs [Σ len, d_in] (float32) at every position of each row, rows in order, at most `limit`. */
export function mlpInputs(model: EditableModel, module: string, rows: MemoryRow[], limit: number): Tensor | undefined {
  const parts: Tensor[] = [];
  let total = 0;
  for (let i = 0; i < rows.length && total < limit; i += BATCH) {
    const chunk = rows.slice(i, i + BATCH).filter((r) => rowLength(r) > 0);
    if (chunk.length === 0) continue;
    const got = keep(tidy(() => noGrad(() => {
      const x = chunkInputs(model, module, chunk);
      return cat(chunk.map((r, b) => x.select(0, b).narrow(0, 0, rowLength(r))), 0).to('float32');
    })));
    const take = Math.min(got.shape[0], limit - total);
    parts.push(take < got.shape[0] ? keep(tidy(() => got.narrow(0, 0, take).clone())) : got);
    if (take < got.shape[0]) got.dispose();
    total += take;
  }
  if (parts.length === 0) return undefined;
  const out = keep(tidy(() => cat(parts, 0)));
  parts.forEach((t) => t.dispose());
  return out;
}

/** Rows of the pool cases: prompt, rephrases and locality prompts, each with its answer (`pairs`: kept apart). */
export function poolRows(tok: Tokenizer, pool: readonly NormalizedRequest[], maxLen: number, pairs = false): MemoryRow[] {
  const rows: MemoryRow[] = [];
  const add = (prompt: string, answer: string | undefined) => {
    if (pairs) {
      if (answer) rows.push({ prompt: tok.encode(prompt).slice(0, maxLen), target: tok.encode(withLeadingSpace(answer)).slice(0, maxLen) });
    } else rows.push(tok.encode(prompt + (answer ? withLeadingSpace(answer) : '')).slice(0, maxLen));
  };
  for (const r of pool) {
    add(r.text, r.groundTruth);
    for (const p of r.rephrasePrompts ?? []) add(p, r.groundTruth);
    for (const probes of Object.values(r.locality ?? {})) for (const l of probes) add(l.prompt, l.groundTruth);
  }
  return rows;
}

/** Token windows of a text file's non-empty, non-heading lines, until `limit` tokens (`pairs`: halves as prompt → target). */
export function textRows(tok: Tokenizer, file: string, limit: number, maxLen: number, pairs = false): MemoryRow[] {
  const width = Math.min(WINDOW, maxLen);
  const rows: MemoryRow[] = [];
  let total = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const s = line.trim();
    if (s === '' || s.startsWith('=')) continue;
    const ids = tok.encode(` ${s}`);
    for (let i = 0; i < ids.length && total < limit; i += width) {
      const row = ids.slice(i, i + width);
      if (!pairs) {
        rows.push(row);
        total += row.length;
      } else if (row.length >= 2) {
        const half = Math.floor(row.length / 2);
        rows.push({ prompt: row.slice(0, half), target: row.slice(half) });
        total += row.length - half;
      }
    }
    if (total >= limit) break;
  }
  return rows;
}

export interface MemorySources {
  pool?: readonly NormalizedRequest[];
  file?: string | null;
  size: number;
}

/** The session's memory set (undefined when no source is given or memory_size is 0). */
export function buildMemory(model: EditableModel, tok: Tokenizer, module: string, src: MemorySources): Tensor | undefined {
  if (src.size === 0) return undefined;
  const maxLen = Number.isFinite(model.dims.maxPositions) ? model.dims.maxPositions : 512;
  const pairs = !(model instanceof CausalLM);
  const rows = src.pool?.length ? poolRows(tok, src.pool, maxLen, pairs) : [];
  const fromPool = rows.reduce((s, r) => s + rowLength(r), 0);
  if (src.file && fromPool < src.size) rows.push(...textRows(tok, src.file, src.size - fromPool, maxLen, pairs));
  return mlpInputs(model, module, rows, src.size);
}
