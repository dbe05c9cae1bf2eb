// MEND's gradient transform (EasyEdit easyeditor/trainer/algs/MEND.py GradientTransform and local_nn.py IDMLP /
// LRLinear; eric-mitchell/mend algs/mend.py, nn.py): a residual MLP of low-rank layers applied to the normalised
// factors x (layer input) and δ (gradient of the loss w.r.t. the layer output) of each token's rank-1 gradient x δᵀ.
//
//   LRLinear(x) = clamp(u (v x) + b, 0) [· scale_m + shift_m before the clamp when shared] + x   (init 'id': u = 0)
//   IDMLP       = n_hidden + 1 LRLinear layers, dimension in = out (the clamp is applied in every layer, as there)
//   normalisation: x̂ = (x − mean) / (std + 1e-7) with running (Welford) mean and variance over every token row seen
//                  in training (buffers; never updated when editing).
import { Generator, cat, keep, noGrad, ones, rand, randn, zeros, type Tensor } from '../../tensor/index.js';

export interface NetConfig {
  rank: number;
  n_hidden: number;
  init: string;
  norm: boolean;
  combine: boolean;
  x_only: boolean;
  delta_only: boolean;
  one_sided: boolean;
}

/** One LRLinear layer's tensors (all trainable). */
class LRLinear {
  readonly u: Tensor;
  readonly v: Tensor;
  readonly bias: Tensor;
  readonly modeScale?: Tensor;
  readonly modeShift?: Tensor;

  constructor(readonly dim: number, rank: number, readonly init: string, gen: Generator, nModes?: number) {
    const mid = Math.min(rank, dim);
    if (init === 'id') {
      this.u = zeros([dim, mid]);
      this.v = randn([mid, dim], { generator: gen });
    } else { // xavier_uniform: U(−a, a), a = gain·sqrt(6 / (fan_in + fan_out)); gain relu = √2 for u, 1 for v
      const a = (gain: number) => gain * Math.sqrt(6 / (dim + mid));
      this.u = noGrad(() => rand([dim, mid], { generator: gen }).mul(2 * a(Math.SQRT2)).sub(a(Math.SQRT2)));
      this.v = noGrad(() => rand([mid, dim], { generator: gen }).mul(2 * a(1)).sub(a(1)));
    }
    this.bias = zeros([dim]);
    if (nModes !== undefined) {
      this.modeScale = ones([nModes, dim]);
      this.modeShift = zeros([nModes, dim]);
    }
    for (const t of this.tensors().values()) keep(t).requiresGrad_(true);
  }

  tensors(): Map<string, Tensor> {
    const m = new Map<string, Tensor>([['u', this.u], ['v', this.v], ['bias', this.bias]]);
    if (this.modeScale) m.set('mode_scale', this.modeScale).set('mode_shift', this.modeShift!);
    return m;
  }

  forward(x: Tensor, mode?: number): Tensor {
    let pre = x.matmul(this.v.t()).matmul(this.u.t()).add(this.bias);
    if (mode !== undefined) {
      if (!this.modeScale) throw new Error('MEND: LRLinear got a mode but was built without mode embeddings');
      pre = pre.mul(this.modeScale.select(0, mode)).add(this.modeShift!.select(0, mode));
    }
    const acts = pre.clamp(0); // clamp, not relu: the gradient at 0 is not 0 (as the original)
    return this.init === 'id' ? acts.add(x) : acts;
  }
}

class IDMLP {
  readonly layers: LRLinear[];
  constructor(dim: number, cfg: NetConfig, gen: Generator, nModes?: number) {
    this.layers = Array.from({ length: cfg.n_hidden + 1 }, () => new LRLinear(dim, cfg.rank, cfg.init, gen, nModes));
  }
  tensors(prefix: string): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    this.layers.forEach((l, i) => { for (const [n, t] of l.tensors()) out.set(`${prefix}.layers.${i}.${n}`, t); });
    return out;
  }
  forward(x: Tensor, mode?: number): Tensor {
    return this.layers.reduce((h, l) => l.forward(h, mode), x);
  }
}

/** Running statistics of one factor (EasyEdit's u_/v_ buffers). */
class RunningNorm {
  readonly mean: Tensor;
  readonly s: Tensor;
  readonly std: Tensor;
  constructor(dim: number) {
    this.mean = keep(zeros([dim]));
    this.s = keep(zeros([dim]));
    this.std = keep(zeros([dim]));
  }
  /** Chan's batch form of the per-row Welford update the original loops over (same values up to rounding). */
  update(rows: Tensor, k: number): void {
    noGrad(() => {
      const n = rows.shape[0];
      const mb = rows.mean(0);
      const m2b = rows.sub(mb).square().sum(0);
      if (k === 0) {
        this.mean.copy_(mb);
        this.s.copy_(m2b);
      } else {
        const d = mb.sub(this.mean);
        const tot = k + n;
        this.mean.add_(d.mul(n / tot));
        this.s.add_(m2b.add(d.square().mul((k * n) / tot)));
      }
    });
  }
  refreshStd(k: number): void {
    noGrad(() => this.std.copy_(this.s.div(k - 1).sqrt()));
  }
  apply(x: Tensor): Tensor {
    return x.sub(this.mean).div(this.std.add(1e-7));
  }
}

/** The transform of one weight shape (shared) or one weight: x, δ rows [N, in] / [N, out] → transformed rows. */
export class GradientTransform {
  private readonly mlp?: IDMLP;
  private readonly mlp1?: IDMLP;
  private readonly mlp2?: IDMLP;
  private readonly uNorm: RunningNorm;
  private readonly vNorm: RunningNorm;
  /** Rows seen by the running statistics (EasyEdit's buffer k). */
  readonly k: Tensor;

  constructor(readonly name: string, readonly xDim: number, readonly deltaDim: number, private readonly cfg: NetConfig, gen: Generator, nModes?: number) {
    if (cfg.combine) this.mlp = new IDMLP(xDim + deltaDim, cfg, gen, nModes);
    else {
      const [xNet, dNet] = cfg.one_sided ? [xDim <= deltaDim, xDim > deltaDim] : cfg.x_only ? [true, false] : cfg.delta_only ? [false, true] : [true, true];
      if (xNet) this.mlp1 = new IDMLP(xDim, cfg, gen, nModes);
      if (dNet) this.mlp2 = new IDMLP(deltaDim, cfg, gen, nModes);
    }
    this.uNorm = new RunningNorm(xDim);
    this.vNorm = new RunningNorm(deltaDim);
    this.k = keep(zeros([1]));
  }

  params(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    const add = (m: Map<string, Tensor>) => { for (const [n, t] of m) out.set(n, t); };
    if (this.mlp) add(this.mlp.tensors(`mend.${this.name}.mlp`));
    if (this.mlp1) add(this.mlp1.tensors(`mend.${this.name}.mlp1`));
    if (this.mlp2) add(this.mlp2.tensors(`mend.${this.name}.mlp2`));
    return out;
  }

  buffers(): Map<string, Tensor> {
    const p = `mend.${this.name}`;
    return new Map([
      [`${p}.u_mean`, this.uNorm.mean], [`${p}.u_s`, this.uNorm.s], [`${p}.u_std`, this.uNorm.std],
      [`${p}.v_mean`, this.vNorm.mean], [`${p}.v_s`, this.vNorm.s], [`${p}.v_std`, this.vNorm.std],
      [`${p}.k`, this.k],
    ]);
  }

  /** Adds the rows to the running statistics (training only). */
  observe(u: Tensor, v: Tensor): void {
    const k = this.k.item();
    this.uNorm.update(u, k);
    this.vNorm.update(v, k);
    const total = k + u.shape[0];
    noGrad(() => this.k.fill_(total));
    if (total >= 2) { this.uNorm.refreshStd(total); this.vNorm.refreshStd(total); }
  }

  /** Transformed factors of rows u [N, xDim], v [N, deltaDim]; `mode` = index of the weight in a shared group. */
  forward(u: Tensor, v: Tensor, mode?: number): { x: Tensor; delta: Tensor } {
    let ui = u;
    let vi = v;
    if (this.cfg.norm) {
      const k = this.k.item();
      if (k < 2) {
        // the original raises here too ("Can't perform normalization with only k samples so far")
        throw new Error(`MEND: the gradient transform '${this.name}' has normalisation statistics of ${k} rows and needs 2: either the editor is ` +
          `untrained (train it with 'lmedit train --method MEND'), or the first training batch gave fewer than 2 factor rows (a T5's decoder ` +
          `weights see one row per target token: with one-token targets use batch_size >= 2)`);
      }
      ui = this.uNorm.apply(u);
      vi = this.vNorm.apply(v);
    }
    if (this.mlp) {
      const out = this.mlp.forward(cat([ui, vi], -1), mode);
      return { x: out.narrow(-1, 0, this.xDim), delta: out.narrow(-1, this.xDim, this.deltaDim) };
    }
    return { x: this.mlp1 ? this.mlp1.forward(ui, mode) : ui, delta: this.mlp2 ? this.mlp2.forward(vi, mode) : vi };
  }
}
