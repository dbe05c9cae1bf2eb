// The memory set of T-Patcher's memory loss: MLP inputs at ordinary text, on which a new neuron must stay inactive.
// The original collects the patched FFN's input at every (non-padding) decoder position of its memory split of the
// training data (Editor.construct_memory, ModuleDetector 'bart_seq'), up to memory_size inputs. Here two sources,
// pool first, then text, together at most memory_size positions:
//   - pool cases (hparams pool_file/pool_range, SessionContext.pool): each case's prompt, rephrases and locality
//     prompts followed by their answers, at every position: the kind of text the model was trained on;
//   - memory_file: plain text (WikiText), non-heading lines, in windows of up to 64 tokens, at every position.
import { readFileSync } from 'node:fs';
import { cat, keep, noGrad, tidy, type Tensor } from '../../tensor/index.js';
import { padBatch, type CausalLM } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import type { NormalizedRequest } from '../request.js';
import { withLeadingSpace } from '../request.js';

const BATCH = 16;
const WINDOW = 64;

/** The MLP inputs [Σ len, d_in] (float32) at every position of each token row, rows in order, at most `limit`. */
export function mlpInputs(model: CausalLM, module: string, rows: number[][], limit: number): Tensor | undefined {
  const parts: Tensor[] = [];
  let total = 0;
  for (let i = 0; i < rows.length && total < limit; i += BATCH) {
    const chunk = rows.slice(i, i + BATCH).filter((r) => r.length > 0);
    if (chunk.length === 0) continue;
    const got = keep(tidy(() => noGrad(() => {
      const { ids, mask } = padBatch(chunk);
      const x = model.trace({ inputIds: ids, attentionMask: mask, logits: 'none' }, [{ module, retainInput: true, retainOutput: false }]).traces.get(module)!.input!;
      return cat(chunk.map((r, b) => x.select(0, b).narrow(0, 0, r.length)), 0).to('float32');
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

/** Token rows of the pool cases: prompt, rephrases and locality prompts, each with its answer. */
export function poolRows(tok: Tokenizer, pool: readonly NormalizedRequest[], maxLen: number): number[][] {
  const rows: number[][] = [];
  const add = (prompt: string, answer: string | undefined) => {
    rows.push(tok.encode(prompt + (answer ? withLeadingSpace(answer) : '')).slice(0, maxLen));
  };
  for (const r of pool) {
    add(r.text, r.groundTruth);
    for (const p of r.rephrasePrompts ?? []) add(p, r.groundTruth);
    for (const probes of Object.values(r.locality ?? {})) for (const l of probes) add(l.prompt, l.groundTruth);
  }
  return rows;
}

/** Token windows of a text file's non-empty, non-heading lines, until `limit` tokens. */
export function textRows(tok: Tokenizer, file: string, limit: number, maxLen: number): number[][] {
  const width = Math.min(WINDOW, maxLen);
  const rows: number[][] = [];
  let total = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const s = line.trim();
    if (s === '' || s.startsWith('=')) continue;
    const ids = tok.encode(` ${s}`);
    for (let i = 0; i < ids.length && total < limit; i += width) {
      const row = ids.slice(i, i + width);
      rows.push(row);
      total += row.length;
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
export function buildMemory(model: CausalLM, tok: Tokenizer, module: string, src: MemorySources): Tensor | undefined {
  if (src.size === 0) return undefined;
  const maxLen = model.dims.maxPositions;
  const rows = src.pool?.length ? poolRows(tok, src.pool, maxLen) : [];
  const fromPool = rows.reduce((s, r) => s + r.length, 0);
  if (src.file && fromPool < src.size) rows.push(...textRows(tok, src.file, src.size - fromPool, maxLen));
  return mlpInputs(model, module, rows, src.size);
}
