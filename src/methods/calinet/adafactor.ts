// Adafactor as the original trains CaliNet with it: Hugging Face transformers.optimization.Adafactor with
// scale_parameter=False, relative_step=False, warmup_init=False (train_calinet/bash/t5_train_kb_f.sh `--adafactor True`
// and src/trainer.py create_optimizer), so its defaults: no first moment (beta1 None), decay_rate -0.8,
// eps (1e-30, 1e-3) (eps2 only scales by the parameter RMS, which scale_parameter=False leaves out), clip_threshold 1.
// Per step t, with β₂ₜ = 1 − t^-0.8 and u = g² + 1e-30:
//   matrices: R ← β₂ₜR + (1−β₂ₜ)·mean_cols(u), C ← β₂ₜC + (1−β₂ₜ)·mean_rows(u), Û = g / √(R Cᵀ / mean(R))
//   vectors:  V ← β₂ₜV + (1−β₂ₜ)u, Û = g / √V
//   Û ← Û / max(1, RMS(Û) / clip);   p ← p − lr·wd·p (if wd);   p ← p − lr·Û
import { keep, zeros, type Tensor } from '../../tensor/index.js';
import { Optimizer } from '../../tensor/optim.js';

export interface AdafactorOptions { lr: number; weightDecay?: number; clipThreshold?: number; decayRate?: number; eps1?: number }

export class Adafactor extends Optimizer {
  constructor(params: Tensor[], readonly opts: AdafactorOptions) {
    super(params, opts.lr);
  }

  protected update(p: Tensor, grad: Tensor, state: Record<string, Tensor>, step: number): void {
    const beta2t = 1 - step ** (this.opts.decayRate ?? -0.8);
    const u = grad.square().add(this.opts.eps1 ?? 1e-30);
    let update: Tensor;
    if (p.shape.length >= 2) {
      const rowShape = p.shape.slice(0, -1);
      const colShape = [...p.shape.slice(0, -2), p.shape[p.shape.length - 1]];
      state.row ??= keep(zeros(rowShape, { dtype: p.dtype, device: p.device }));
      state.col ??= keep(zeros(colShape, { dtype: p.dtype, device: p.device }));
      state.row.mul_(beta2t).add_(u.mean(-1), 1 - beta2t);
      state.col.mul_(beta2t).add_(u.mean(-2), 1 - beta2t);
      const rFactor = state.row.div(state.row.mean(-1, true)).rsqrt().unsqueeze(-1);
      const cFactor = state.col.unsqueeze(-2).rsqrt();
      update = rFactor.mul(cFactor).mul(grad);
    } else {
      state.sq ??= keep(zeros(p.shape, { dtype: p.dtype, device: p.device }));
      state.sq.mul_(beta2t).add_(u, 1 - beta2t);
      update = state.sq.rsqrt().mul(grad);
    }
    const rms = update.norm().item() / Math.sqrt(update.numel());
    update = update.div(Math.max(1, rms / (this.opts.clipThreshold ?? 1)));
    const wd = this.opts.weightDecay ?? 0;
    if (wd !== 0) p.add_(p, -wd * this.lr);
    p.add_(update, -this.lr);
  }
}
