// The GRACE adaptor: a module patch (kind 'GRACE') around one layer that swaps the layer's output for a codebook value
// when the query — the layer's input at the query position — lies within the radius of its nearest key
// (GRACEAdapter.forward: dists.min(0), `smallest_dist <= eps`, then the replacement). An empty codebook, or a query
// outside every radius, leaves the output untouched (the same tensor is returned).
//
// Query position: while an edit trains, the key position (the prompt's last token inside prompt + target); at
// inference, each row's last real token of the pass (ctx.lastPositions). With the KV cache every generated token is
// the last token of its own pass, as in the original (min(key_id, T - 1) = 0 for one-token passes); see docs/grace.md.
//
// Replacement (hparams `replacement`): replace_last swaps the output at the query position; replace_all at every
// position of the row in this pass; replace_prompt at the positions before the query position (the original's
// `layer_out[:, :token_to_edit]`).
import { cat, keep, tensor, tidy, type Tensor } from '../../tensor/index.js';
import type { ModulePatch, PatchContext, PatchState } from '../../models/patch.js';
import { Codebook, labelMean, type Entry } from './codebook.js';
import type { EpsExpand, Replacement } from './hparams.js';

/** What the adaptor needs to know of the hparams it was built with (saved with it). */
export interface AdaptorConfig {
  /** ε_init */
  eps: number;
  replacement: Replacement;
  eps_expand: EpsExpand;
}

/** An edit in progress: where the key is, and the trainable value standing in for one entry's. */
interface Training {
  position: number;
  entry: number;
  value: Tensor;
}

/** Row 0's layer input and output at one position, captured by a probing pass. */
export interface Probe {
  position: number;
  query?: Tensor;
  output?: Tensor;
}

export class GraceAdaptor implements ModulePatch {
  readonly kind = 'GRACE';
  /** The query is each pass's last token: score as the model generates (ScoreOptions.incremental). */
  readonly incremental = true;
  readonly book = new Codebook();
  /** Set by the edit loop (edit.ts) while it trains a value. */
  training?: Training;
  /** Set by the edit loop for one pass: capture instead of replacing. */
  probe?: Probe;

  constructor(readonly module: string, readonly config: AdaptorConfig) {}

  forward(output: Tensor, ctx: PatchContext): Tensor {
    if (this.probe) return this.capture(output, ctx.input);
    if (this.book.size === 0) return output;
    const rows: number[] = [];
    const positions: number[] = [];
    if (this.training) {
      rows.push(0);
      positions.push(Math.min(this.training.position, output.shape[1] - 1));
    } else {
      ctx.lastPositions.forEach((p, b) => { if (p >= 0) { rows.push(b); positions.push(p); } });
    }
    if (rows.length === 0) return output;
    const idx = (xs: number[]) => indices(xs, output);
    const queries = ctx.input.index([idx(rows), idx(positions)]);
    const { distance, index } = this.book.nearest(queries);
    const eps = this.book.epsilons();
    const hits = rows.flatMap((_, i) => (distance[i] <= eps[index[i]] ? [i] : []));
    if (hits.length === 0) return output;
    const chosen = this.valueMatrix().index([idx(hits.map((i) => index[i]))]).to(output.dtype);
    return this.replace(output, hits.map((i) => rows[i]), hits.map((i) => positions[i]), chosen);
  }

  /** The codebook's values, with the value being trained in place of its entry's (gradients reach it). */
  private valueMatrix(): Tensor {
    const values = this.book.values();
    const t = this.training;
    if (!t) return values;
    return values.indexPut([indices([t.entry], values)], t.value.unsqueeze(0).to(values.dtype));
  }

  /** Writes each hit row's chosen value [n, d_out] at the positions the replacement mode names. */
  private replace(output: Tensor, rows: number[], positions: number[], chosen: Tensor): Tensor {
    const idx = (xs: number[]) => indices(xs, output);
    if (this.config.replacement === 'replace_last') return output.indexPut([idx(rows), idx(positions)], chosen);
    const r: number[] = [];
    const p: number[] = [];
    const k: number[] = [];
    rows.forEach((row, i) => {
      const upTo = this.config.replacement === 'replace_all' ? output.shape[1] : positions[i];
      for (let t = 0; t < upTo; t++) { r.push(row); p.push(t); k.push(i); }
    });
    if (r.length === 0) return output;
    return output.indexPut([idx(r), idx(p)], chosen.index([idx(k)]));
  }

  private capture(output: Tensor, input: Tensor): Tensor {
    const p = this.probe!;
    const at = Math.min(p.position, output.shape[1] - 1);
    p.query = keep(input.select(0, 0).select(0, at).detach().clone());
    p.output = keep(output.select(0, 0).select(0, at).detach().clone());
    return output;
  }

  parameters(): Tensor[] {
    return this.training ? [this.training.value] : [];
  }
  removeEdit(editId: string): void {
    this.book.removeEdit(editId);
  }
  editIds(): string[] {
    return this.book.editIds();
  }
  /**
   * 1 for each key whose nearest entry lies within its radius and whose value `editId` made or retrained, else 0 (a
   * radius the edit only shrank, GRACE's split, still answers the earlier key with its own value).
   */
  reach(editId: string, keys: Tensor, _own?: Tensor): number[] {
    if (this.book.size === 0) return Array.from({ length: keys.shape[0] }, () => 0);
    const { distance, index } = this.book.nearest(keys);
    const eps = this.book.epsilons();
    return index.map((k, i) => {
      const e = this.book.entries[k];
      const changed = e.editId === editId || e.history.some((c) => c.editId === editId && c.value !== undefined);
      return changed && distance[i] <= eps[k] ? 1 : 0;
    });
  }

  /** The codebook's keys and values (the rollback history is not a parameter). */
  parameterCount(): number {
    return this.book.entries.reduce((a, e) => a + e.key.numel() + e.value.numel(), 0);
  }

  /**
   * keys [N, d_in] and values [N, d_out] (the layer's dtypes), the earlier states rollback restores (historyKeys,
   * historyValues), and in meta the radii, key labels, edit ids and the adaptor's settings.
   */
  state(): PatchState {
    this.stateTensors?.forEach((t) => t.dispose());
    const entries = this.book.entries;
    const tensors: Record<string, Tensor> = {};
    const hk: Tensor[] = [];
    const hv: Tensor[] = [];
    const history = entries.flatMap((e, entry) => e.history.map((c) => ({
      entry, editId: c.editId, epsilon: c.epsilon,
      keyRow: c.key ? hk.push(c.key) - 1 : undefined,
      valueRow: c.value ? hv.push(c.value) - 1 : undefined,
    })));
    this.stateTensors = tidy(() => {
      const out: Tensor[] = [];
      const put = (name: string, ts: Tensor[]) => { if (ts.length) out.push(tensors[name] = keep(stackRows(ts))); };
      put('keys', entries.map((e) => e.key));
      put('values', entries.map((e) => e.value));
      put('historyKeys', hk);
      put('historyValues', hv);
      return out;
    });
    const meta = {
      version: 1, module: this.module, config: this.config, epsilons: this.book.epsilons(), keyLabels: entries.map((e) => e.label),
      editIds: entries.map((e) => e.editId), history,
    };
    return { tensors, meta };
  }
  private stateTensors?: Tensor[];

  /** Rebuilds an adaptor from state() (tensors are copied; the caller keeps its own). */
  static fromState(module: string, st: PatchState): GraceAdaptor {
    const m = st.meta as any;
    if (m?.version !== 1 || !Array.isArray(m.epsilons)) throw new Error(`GRACE state for '${module}': unknown format (expected meta.version 1 with epsilons)`);
    const a = new GraceAdaptor(m.module ?? module, m.config as AdaptorConfig);
    const row = (name: string, i: number | undefined) => (i === undefined ? undefined : keep(tidy(() => st.tensors[name].select(0, i).clone())));
    m.epsilons.forEach((epsilon: number, i: number) => {
      const label = m.keyLabels[i] as number[];
      const e: Entry = { key: row('keys', i)!, value: row('values', i)!, epsilon, label, labelMean: labelMean(label), editId: m.editIds[i], history: [] };
      a.book.push(e);
    });
    for (const h of m.history as any[]) {
      a.book.entries[h.entry].history.push({ editId: h.editId, epsilon: h.epsilon, key: row('historyKeys', h.keyRow), value: row('historyValues', h.valueRow) });
    }
    return a;
  }

  dispose(): void {
    this.stateTensors?.forEach((t) => t.dispose());
    this.stateTensors = undefined;
    this.book.dispose();
    this.probe?.query?.dispose();
    this.probe?.output?.dispose();
  }
}

/** An int64 index tensor on `like`'s device. */
function indices(xs: number[], like: Tensor): Tensor {
  return tensor(xs, { dtype: 'int64', device: like.device });
}

function stackRows(ts: Tensor[]): Tensor {
  return cat(ts.map((t) => t.unsqueeze(0)), 0);
}
