// Causal tracing (Meng et al. 2022, "Locating and Editing Factual Associations in GPT", §2; the algorithm of
// kmeng01/rome experiments/causal_trace.py, written anew on lmedit's one intervention primitive).
//
// One batched forward holds a clean row (row 0) and corrupted rows: Gaussian noise is added to the token
// embeddings at the subject's positions (an editOutput at the embedding module). A "site" is a module output at one
// position; restoring it copies row 0's value there into the corrupted rows (an editOutput at that module), so the
// corruption no longer reaches later computation through it. The score of a site is P(answer's first token) at the
// last position, averaged over the corrupted rows; its indirect effect is score − P(corrupted, nothing restored).
//
// kind 'hidden' restores the block output (the residual stream after the block) at one layer; 'mlp'/'attn' restore
// the MLP/attention output of `window` consecutive layers centred on the layer (the reference: layers
// [l − ⌊w/2⌋, l + ⌈w/2⌉) clipped to the model). Several sites share one forward: each site gets its own
// copy of the same `samples` corrupted rows (one noise draw per trace, shared by every site and by the corrupted
// baseline, as the reference's fixed-seed noise), so a forward holds 1 + sites × samples rows (at most `maxRows`).
import { cat, Generator, keep, noGrad, randn, tensor, tidy, zeros, type Tensor } from '../tensor/index.js';
import { padBatch, type CausalLM } from '../models/index.js';
import type { Tokenizer } from '../io/tokenizer.js';
import { lookupIndex } from '../methods/locate.js';

export type TraceKind = 'hidden' | 'mlp' | 'attn';
export const TRACE_KINDS: readonly TraceKind[] = ['hidden', 'mlp', 'attn'];

/** One module output at one token position. */
export interface Site {
  module: string;
  position: number;
}

export interface CorruptionOptions {
  /** Corrupted rows per measurement (the reference's `samples`; default 10). */
  samples?: number;
  /**
   * Noise std as a multiple of the std of subject-token embeddings (the reference's `noise` factor; default 3).
   * Ignored when `noiseStd` is given.
   */
  noise?: number;
  /** Absolute std of the Gaussian noise (overrides `noise`). */
  noiseStd?: number;
  /** Subjects whose token embeddings give the std that `noise` multiplies (default: this trace's subject). */
  stdSubjects?: string[];
  /** Random source of the noise (default: a Generator seeded with `seed`). */
  generator?: Generator;
  /** Seed of the default generator (default 0). */
  seed?: number;
  /** Most rows in one forward pass (default 128); sites are batched up to it. */
  maxRows?: number;
}

export interface CausalTraceOptions extends CorruptionOptions {
  prompt: string;
  subject: string;
  /** The answer: text (its first token is scored) or a token id. Default: the clean model's arg-max. */
  answer?: string | number;
  /** Which outputs to restore (default 'hidden'). */
  kind?: TraceKind;
  /** Consecutive layers restored together, centred on the layer (default 1 for hidden, 10 for mlp/attn). */
  window?: number;
  /** Which positions to trace: every token (default) or only the subject's last token. */
  tokens?: 'all' | 'subject_last';
  /** Called after each forward pass with (sites done, sites in all). */
  onProgress?: (done: number, total: number) => void;
}

export interface CausalTraceResult {
  /** scores[layer][token]: P(answer) with that site restored, mean over corrupted rows (NaN where not traced). */
  scores: number[][];
  /** P(answer) corrupted, nothing restored (mean over rows). */
  low: number;
  /** P(answer) of the clean run. */
  high: number;
  /** Decoded token of every position. */
  tokens: string[];
  tokenIds: number[];
  /** The subject's token positions [start, end). */
  subjectRange: [number, number];
  answer: { id: number; text: string };
  kind: TraceKind;
  window: number;
  samples: number;
  /** The absolute noise std used. */
  noiseStd: number;
  numLayers: number;
}

/** Module path template of a kind's outputs. */
export function kindTemplate(model: CausalLM, kind: TraceKind): string {
  switch (kind) {
    case 'hidden': return model.templates.layer;
    case 'mlp': return model.templates.mlp;
    case 'attn': return model.templates.attn;
    default: throw new Error(`unknown trace kind '${kind as string}' (one of ${TRACE_KINDS.join(', ')})`);
  }
}

/** The layers restored for `layer` with a window of `window`: [l − ⌊w/2⌋, l + ⌈w/2⌉) clipped to [0, numLayers). */
export function windowLayers(layer: number, window: number, numLayers: number): number[] {
  const lo = Math.max(0, layer - Math.floor(window / 2));
  const hi = Math.min(numLayers, layer + Math.ceil(window / 2));
  const out: number[] = [];
  for (let l = lo; l < hi; l++) out.push(l);
  return out;
}

/** Default window of a kind, as the reference: 1 for block outputs, 10 for MLP/attention outputs. */
export function defaultWindow(kind: TraceKind): number {
  return kind === 'hidden' ? 1 : 10;
}

/**
 * Token range [start, end) of `subject` in `prompt` (its first occurrence). Uses the same rule as ROME's key
 * lookup (prefix, subject and suffix tokenized separately) and checks it against the prompt's own tokens; when that
 * does not hold (no space before the subject, merges across its edges), the range of tokens whose decoded text
 * overlaps the subject's characters.
 */
export function subjectTokenRange(tok: Tokenizer, prompt: string, subject: string): [number, number] {
  if (subject.trim().length === 0) throw new Error('subject is empty');
  const at = prompt.indexOf(subject);
  if (at < 0) throw new Error(`subject '${subject}' does not occur in the prompt '${prompt}'`);
  const ids = tok.encode(prompt);
  const template = prompt.slice(0, at) + '{}' + prompt.slice(at + subject.length);
  try {
    const first = lookupIndex(tok, template, subject, 'subject_first');
    const last = lookupIndex(tok, template, subject, 'subject_last');
    if (first <= last && last < ids.length && tok.decode(ids.slice(first, last + 1)).trim() === subject.trim()) return [first, last + 1];
  } catch {
    // fall through to the character-overlap rule
  }
  let chars = 0;
  let start = -1;
  let end = -1;
  for (let i = 0; i < ids.length; i++) {
    const next = tok.decode(ids.slice(0, i + 1)).length;
    if (next > at && chars < at + subject.length) {
      if (start < 0) start = i;
      end = i + 1;
    }
    chars = next;
  }
  if (start < 0) throw new Error(`cannot find the tokens of subject '${subject}' in the prompt '${prompt}'`);
  return [start, end];
}

/** Width of the token embeddings the noise is added to (OPT-350m's word_embed_proj_dim differs from the hidden size). */
function embedWidth(model: CausalLM): number {
  return model.parameter(`${model.templates.embed}.weight`).shape[1];
}

/** Std of all elements of the token embeddings of the subjects' tokens (each subject tokenized alone, as the reference). */
export function subjectEmbeddingStd(model: CausalLM, tok: Tokenizer, subjects: string[]): number {
  const rows = subjects.map((s) => tok.encode(s)).filter((r) => r.length > 0);
  if (rows.length === 0) throw new Error('subjectEmbeddingStd: no subject has any tokens');
  const embed = model.templates.embed;
  return tidy(() => noGrad(() => {
    const parts: Tensor[] = [];
    for (let s = 0; s < rows.length; s += 64) {
      const chunk = rows.slice(s, s + 64);
      const { ids, mask } = padBatch(chunk);
      const { traces } = model.forward({ inputIds: ids, attentionMask: mask, logits: 'none', trace: [{ module: embed }] });
      const out = traces.get(embed)!.output!;
      const r: number[] = [];
      const p: number[] = [];
      chunk.forEach((c, i) => c.forEach((_, j) => { r.push(i); p.push(j); }));
      parts.push(out.index([tensor(r, { dtype: 'int64' }), tensor(p, { dtype: 'int64' })]).to('float32'));
    }
    return (parts.length === 1 ? parts[0] : cat(parts, 0)).std().item();
  }));
}

function answerId(model: CausalLM, tok: Tokenizer, answer: string | number | undefined, ids: number[]): number {
  if (typeof answer === 'number') {
    if (!Number.isInteger(answer) || answer < 0 || answer >= model.dims.vocabSize) throw new Error(`answer token id ${answer} is not below the vocabulary size ${model.dims.vocabSize}`);
    return answer;
  }
  if (answer !== undefined) {
    const t = tok.encode(answer.startsWith(' ') ? answer : ` ${answer}`);
    if (t.length === 0) throw new Error(`answer '${answer}' encodes to no tokens`);
    return t[0];
  }
  return tidy(() => noGrad(() => model.forward({ inputIds: [ids], logits: 'last' }).logits!.select(0, 0).argmax().item()));
}

/**
 * P(answer) at the last position for groups of restored sites under one corruption: returns [clean P, mean P of
 * each group's corrupted rows]. An empty group measures the corrupted run. The building block of the traces (the
 * reference's trace_with_patch, batched over groups).
 */
export function traceWithPatch(
  model: CausalLM,
  ids: number[],
  subjectRange: [number, number],
  answer: number,
  groups: Site[][],
  o: { samples: number; noiseStd: number; generator: Generator; noise?: Tensor },
): { clean: number; groups: number[] } {
  const S = o.samples;
  const rows = 1 + groups.length * S;
  const [b, e] = subjectRange;
  const T = ids.length;
  const d = embedWidth(model);
  // (row, position) pairs restored at each module, with the clean row's position to copy from.
  const byModule = new Map<string, { rows: number[]; positions: number[] }>();
  groups.forEach((g, gi) => {
    for (const s of g) {
      if (s.position < 0 || s.position >= T) throw new Error(`site position ${s.position} outside the prompt's ${T} tokens`);
      const m = byModule.get(s.module) ?? { rows: [], positions: [] };
      for (let k = 0; k < S; k++) { m.rows.push(1 + gi * S + k); m.positions.push(s.position); }
      byModule.set(s.module, m);
    }
  });
  return tidy(() => noGrad(() => {
    const embed = model.templates.embed;
    const corrupt = (h: Tensor): Tensor => {
      if (o.noiseStd === 0 || e <= b) return h;
      const dev = { dtype: h.dtype, device: h.device };
      // One draw of `samples` noise rows shared by every group (the reference reseeds its noise for every call, so
      // all sites of a trace see the same corruption: effects are differences under common random numbers).
      const base = o.noise ?? randn([S, e - b, d], { generator: o.generator }).mul(o.noiseStd);
      const noise = base.to(dev).repeat(groups.length, 1, 1);
      const parts: Tensor[] = [];
      const mid = cat([zeros([1, e - b, d], dev), noise], 0);
      if (b > 0) parts.push(zeros([rows, b, d], dev));
      parts.push(mid);
      if (T > e) parts.push(zeros([rows, T - e, d], dev));
      return h.add(parts.length === 1 ? parts[0] : cat(parts, 1));
    };
    const trace = [{ module: embed, retainOutput: false, editOutput: corrupt }];
    for (const [module, at] of byModule) {
      trace.push({
        module, retainOutput: false,
        editOutput: (h: Tensor) => {
          const idx = [tensor(at.rows, { dtype: 'int64', device: h.device as 'cpu' }), tensor(at.positions, { dtype: 'int64', device: h.device as 'cpu' })];
          const clean = h.index([tensor(at.rows.map(() => 0), { dtype: 'int64', device: h.device as 'cpu' }), idx[1]]);
          return h.indexPut(idx, clean, false);
        },
      });
    }
    const inputIds = Array.from({ length: rows }, () => ids);
    const probs = model.forward({ inputIds, logits: 'last', trace }).logits!.to('float32').softmax(-1).select(1, answer);
    const p = probs.toFlatArray();
    const out: number[] = [];
    for (let g = 0; g < groups.length; g++) {
      let s = 0;
      for (let k = 0; k < S; k++) s += p[1 + g * S + k];
      out.push(s / S);
    }
    return { clean: p[0], groups: out };
  }));
}

export function positiveInt(v: number | undefined, name: string, fallback: number): number {
  const n = v ?? fallback;
  if (!Number.isInteger(n) || n <= 0) throw new Error(`causal trace: '${name}' must be a positive integer, got ${v}`);
  return n;
}

/** Resolves the absolute noise std from the options. */
export function resolveNoiseStd(model: CausalLM, tok: Tokenizer, o: CorruptionOptions, subjects: string[]): number {
  if (o.noiseStd !== undefined) {
    if (!Number.isFinite(o.noiseStd) || o.noiseStd < 0) throw new Error(`causal trace: 'noiseStd' must be a non-negative number, got ${o.noiseStd}`);
    return o.noiseStd;
  }
  const factor = o.noise ?? 3;
  if (!Number.isFinite(factor) || factor < 0) throw new Error(`causal trace: 'noise' must be a non-negative number, got ${o.noise}`);
  return factor === 0 ? 0 : factor * subjectEmbeddingStd(model, tok, o.stdSubjects ?? subjects);
}

/**
 * Causal trace of one fact: for every layer and token (or only the subject's last token), P(answer) with the
 * site restored in the corrupted run (the reference's calculate_hidden_flow with trace_important_states /
 * trace_important_window).
 */
export function causalTrace(model: CausalLM, tok: Tokenizer, opts: CausalTraceOptions): CausalTraceResult {
  const kind = opts.kind ?? 'hidden';
  const template = kindTemplate(model, kind);
  const window = positiveInt(opts.window, 'window', defaultWindow(kind));
  const samples = positiveInt(opts.samples, 'samples', 10);
  const maxRows = positiveInt(opts.maxRows, 'maxRows', 128);
  const ids = tok.encode(opts.prompt);
  if (ids.length === 0) throw new Error('the prompt encodes to no tokens');
  const subjectRange = subjectTokenRange(tok, opts.prompt, opts.subject);
  const answer = answerId(model, tok, opts.answer, ids);
  const noiseStd = resolveNoiseStd(model, tok, opts, [opts.subject]);
  const generator = opts.generator ?? new Generator(opts.seed ?? 0);
  const L = model.dims.numLayers;
  const T = ids.length;
  const positions = opts.tokens === 'subject_last' ? [subjectRange[1] - 1] : Array.from({ length: T }, (_, t) => t);
  const cells: { layer: number; position: number; sites: Site[] }[] = [];
  for (const position of positions) {
    for (let layer = 0; layer < L; layer++) {
      const layers = kind === 'hidden' && window === 1 ? [layer] : windowLayers(layer, window, L);
      cells.push({ layer, position, sites: layers.map((l) => ({ module: template.replace('{}', String(l)), position })) });
    }
  }
  const scores = Array.from({ length: L }, () => new Array<number>(T).fill(NaN));
  const perForward = Math.max(1, Math.floor((maxRows - 1) / samples));
  // The corrupted baseline first (its own group), then the cells.
  const [b, e] = subjectRange;
  const noise = keep(randn([samples, e - b, embedWidth(model)], { generator }).mul(noiseStd));
  const o = { samples, noiseStd, generator, noise };
  let high: number;
  let low: number;
  try {
    const base = traceWithPatch(model, ids, subjectRange, answer, [[]], o);
    high = base.clean;
    low = base.groups[0];
    for (let s = 0; s < cells.length; s += perForward) {
      const chunk = cells.slice(s, s + perForward);
      const r = traceWithPatch(model, ids, subjectRange, answer, chunk.map((c) => c.sites), o);
      chunk.forEach((c, i) => { scores[c.layer][c.position] = r.groups[i]; });
      opts.onProgress?.(Math.min(s + perForward, cells.length), cells.length);
    }
  } finally {
    noise.dispose();
  }
  return {
    scores, low, high,
    tokens: ids.map((i) => tok.decode([i])), tokenIds: ids, subjectRange,
    answer: { id: answer, text: tok.decode([answer]) },
    kind, window, samples, noiseStd, numLayers: L,
  };
}

/** Indirect effects: scores − low, [layer][token]. */
export function indirectEffects(r: CausalTraceResult): number[][] {
  return r.scores.map((row) => row.map((v) => v - r.low));
}
