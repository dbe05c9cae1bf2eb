// Edit conflicts: before an edit is applied, does it reach an earlier edit's key? Every locate-then-edit and
// patch method keeps the keys it wrote in its memory (src/methods/footprint.ts: `keys.<module>`, one column per
// request). For a new edit, the Editor measures how much of the edit's own change lands on each earlier key:
//   weight deltas:  reach = ‖ΔW k_old‖ / mean_j ‖ΔW k_j‖   (k_j: the new edit's own keys at the same module),
//   module patches: the patch's own account (ModulePatch.reach: a GRACE key hits the new entry's radius or not).
// A reach near 1 means the earlier key receives the change the new one does: the later value is written over the
// earlier fact, which is how a second ROME/MEMIT edit of the same subject erases the first. Reaches at or above the
// threshold are reported (EditRecord.conflicts, and one warning through the Editor's log); nothing is refused.
import { noGrad, tidy, type Tensor } from '../tensor/index.js';
import type { LanguageModel, ModulePatch } from '../models/index.js';
import type { Edit, WeightDelta } from '../methods/types.js';
import type { NormalizedRequest } from '../methods/request.js';
import { keysMemoryName } from '../methods/footprint.js';
import { weightLayout } from '../methods/delta.js';

/** What conflict detection sees of an earlier edit. */
export interface EarlierEdit {
  id: string;
  edit: Edit;
  requests: readonly NormalizedRequest[];
}

export interface EditConflict {
  /** The request of the new edit (index into its requests) whose key lies nearest the earlier key. */
  request: number;
  earlier: { editId: string; request: number; caseId?: string | number; prompt: string; targetNew: string };
  module: string;
  /** Share of the new edit's own change that the earlier key receives (≥ the threshold). */
  reach: number;
}

export interface ConflictOptions {
  /** Report reaches at or above this share of the edit's own change. Default 0.5. */
  threshold?: number;
  /** 'warn' (default): report and log; 'off': skip detection. */
  mode?: 'warn' | 'off';
}

export const DEFAULT_CONFLICT_THRESHOLD = 0.5;

/** The module a weight parameter belongs to (`transformer.h.0.mlp.c_proj.weight` → `transformer.h.0.mlp.c_proj`). */
const moduleOf = (param: string) => param.replace(/\.(weight|bias)$/, '');

/** Norms of the change ΔW makes to the module's output at each input column of X [d_in, n]. */
function changeNorms(model: LanguageModel, d: WeightDelta, X: Tensor): number[] {
  return tidy(() => noGrad(() => {
    const x = X.to(model.dtype);
    // layout in_out (GPT-2 Conv1D, W [in, out]): Δy = xᵀ ΔW; out_in (nn.Linear, W [out, in]): Δy = ΔW x
    const outIn = weightLayout(model, d.param) === 'out_in';
    let dy: Tensor; // [n, out]
    if (d.dense) dy = outIn ? d.dense.matmul(x).t() : x.t().matmul(d.dense);
    else if (outIn) dy = d.left!.matmul(d.right!.t().matmul(x)).t();
    else dy = x.t().matmul(d.left!).matmul(d.right!.t());
    return Array.from(dy.to('float32').norm(2, -1).toFlatArray());
  }));
}

/** Cosine of each column of A [d, n] with each column of B [d, m]: [n][m]. */
function cosines(A: Tensor, B: Tensor): number[][] {
  return tidy(() => noGrad(() => {
    const a = A.to('float32');
    const b = B.to('float32');
    const an = a.div(a.norm(2, 0, true).add(1e-12));
    const bn = b.div(b.norm(2, 0, true).add(1e-12));
    return an.t().matmul(bn).toArray() as number[][];
  }));
}

/** Per module the new edit acts on: a function giving the reach of its change at keys [d_in, m]. */
function reachers(model: LanguageModel, edit: Edit, editId: string): Map<string, (keys: Tensor) => number[]> {
  const out = new Map<string, (keys: Tensor) => number[]>();
  const own = edit.memory ?? {};
  for (const d of edit.deltas) {
    const module = moduleOf(d.param);
    const mine = own[keysMemoryName(module)];
    if (!mine) continue;
    const ref = changeNorms(model, d, mine);
    const scale = ref.reduce((a, b) => a + b, 0) / ref.length;
    if (!(scale > 0)) continue;
    out.set(module, (keys) => changeNorms(model, d, keys).map((n) => n / scale));
  }
  for (const p of edit.patches ?? []) {
    const reach = (p as ModulePatch).reach;
    if (!reach || !own[keysMemoryName(p.module)] || out.has(p.module)) continue;
    const mine = own[keysMemoryName(p.module)];
    out.set(p.module, (keys) => tidy(() => noGrad(() => reach.call(p, editId, keys.t().contiguous(), mine.t().contiguous()))));
  }
  return out;
}

/**
 * The earlier edits whose keys the new edit reaches (computed, not yet applied). Requests of one edit are solved
 * together and never conflict with each other.
 */
export function findConflicts(model: LanguageModel, editId: string, edit: Edit, earlier: readonly EarlierEdit[], opts: ConflictOptions = {}): EditConflict[] {
  if (opts.mode === 'off' || !edit.memory) return [];
  const threshold = opts.threshold ?? DEFAULT_CONFLICT_THRESHOLD;
  const found = new Map<string, EditConflict>();
  for (const [module, reach] of reachers(model, edit, editId)) {
    const mine = edit.memory[keysMemoryName(module)];
    for (const e of earlier) {
      const keys = e.edit.memory?.[keysMemoryName(module)];
      if (!keys || keys.shape[1] === 0) continue;
      const r = reach(keys);
      const hits = r.flatMap((v, j) => (v >= threshold ? [j] : []));
      if (hits.length === 0) continue;
      const cos = cosines(mine, keys);
      for (const j of hits) {
        // columns are requests in order; a record whose columns do not line up with its requests is named without one
        const req = keys.shape[1] === e.requests.length ? e.requests[j] : undefined;
        const nearest = cos.reduce((best, row, i) => (row[j] > cos[best][j] ? i : best), 0);
        const key = `${e.id}:${j}`;
        const prev = found.get(key);
        if (prev && prev.reach >= r[j]) continue;
        found.set(key, {
          request: nearest, module, reach: r[j],
          earlier: { editId: e.id, request: j, caseId: req?.caseId, prompt: req?.text ?? `request ${j}`, targetNew: req?.targetNew ?? '?' },
        });
      }
    }
  }
  return [...found.values()].sort((a, b) => b.reach - a.reach);
}

/** One warning naming the earlier edits the new one will disturb, and the remedies. */
export function conflictMessage(editId: string, requests: readonly NormalizedRequest[], conflicts: readonly EditConflict[], method: string): string {
  const show = (prompt: string, target: string) => `"${prompt} → ${target}"`;
  const lines = conflicts.slice(0, 5).map((c) => {
    const mine = requests[c.request];
    return `  ${show(mine?.text ?? '?', mine?.targetNew ?? '?')} reaches ${c.earlier.editId} ${show(c.earlier.prompt, c.earlier.targetNew)} ` +
      `at ${c.module}: ${(100 * c.reach).toFixed(0)}% of its own change`;
  });
  const more = conflicts.length > 5 ? [`  … and ${conflicts.length - 5} more`] : [];
  return [
    `warning: ${method} ${editId} overlaps the key of ${conflicts.length} earlier edit${conflicts.length === 1 ? '' : 's'}; the earlier fact${conflicts.length === 1 ? '' : 's'} will likely be overwritten:`,
    ...lines, ...more,
    '  remedy: edit these facts together in one batch (MEMIT, --mode batch), or use a method with a per-key memory (GRACE, WISE, T-Patcher)',
  ].join('\n');
}

/** Conflicts of a sequential run as JSON-able lines (CaseLine.conflicts). */
export function conflictSummary(conflicts: readonly EditConflict[]): { caseId?: string | number; editId: string; module: string; reach: number }[] {
  return conflicts.map((c) => ({ caseId: c.earlier.caseId, editId: c.earlier.editId, module: c.module, reach: Math.round(c.reach * 1000) / 1000 }));
}
