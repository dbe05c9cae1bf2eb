// The calibration FFN (kind 'CALINET'): a small FFN beside one layer's MLP whose output is added to the MLP's, so the
// residual stream gets h + FFN(x) + FFN_ex(x) (dqxiu/CaliNet src/modeling_t5.py: T5LayerFFEx, T5DenseReluDenseEx).
// x is the MLP module's input (the layer-normed residual, as T5's wi_ex reads the layer-normed states); the side FFN
// runs at every position of every pass, like an FFN (no key matching, no last-token query):
//   out = mlp(x) + act(x · K) · V               K [d, ex_size], V [ex_size, d]     (T5DenseReluDenseEx)
//   out = mlp(x) + (act(x · K0) ⊙ (x · K1)) · V                                    (gated, T5DenseGatedGeluDenseEx)
// No biases (the original's Linear layers have bias=False). The parameters are float32; the added term is computed
// in float32 and cast to the MLP output's dtype. A patch belongs to one edit (one batch of facts): rolled back, it is
// uninstalled as a whole.
import { keep, noGrad, rand, tidy, type Device, type Generator, type Tensor } from '../../tensor/index.js';
import type { ModulePatch, PatchContext, PatchState } from '../../models/patch.js';
import { ACTIVATIONS, type Activation } from './hparams.js';
import { activationNamed, applyActivation } from '../activation.js';

export interface CalibrationConfig {
  exSize: number;
  activation: Activation;
  gated: boolean;
}

/** CaliNet's activation names are Hugging Face's (gelu_new: the tanh approximation). */
const activate = (t: Tensor, a: Activation): Tensor => applyActivation(t, activationNamed(a)!);

/** torch.nn.Linear's default initialisation, U(-1/√fan_in, 1/√fan_in), of a [fanIn, fanOut] matrix. */
function linearInit(fanIn: number, fanOut: number, generator: Generator, device: Device): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return keep(tidy(() => rand([fanIn, fanOut], { generator, dtype: 'float32', device }).mul(2 * bound).sub(bound)));
}

export class CalibrationFFN implements ModulePatch {
  readonly kind = 'CALINET';
  /** [d, ex] input projections: K (and K1 when gated); V [ex, d]. Float32, trainable while the edit trains. */
  readonly keys: Tensor[];
  readonly values: Tensor;

  private constructor(readonly module: string, readonly layer: number, readonly config: CalibrationConfig, keys: Tensor[], values: Tensor) {
    this.keys = keys;
    this.values = values;
  }

  /**
   * A freshly initialised calibration FFN as the original starts one: the modules T5's _init_weights does not know
   * (T5DenseReluDenseEx) keep torch.nn.Linear's default, U(±1/√fan_in), for every matrix.
   */
  static create(module: string, layer: number, hidden: number, config: CalibrationConfig, generator: Generator, device: Device = 'cpu'): CalibrationFFN {
    const keys = Array.from({ length: config.gated ? 2 : 1 }, () => linearInit(hidden, config.exSize, generator, device));
    const values = linearInit(config.exSize, hidden, generator, device);
    return new CalibrationFFN(module, layer, config, keys, values);
  }

  /** A calibration FFN with the given matrices (copied, onto `device` if given): K [d, ex] (two when gated), V [ex, d]. */
  static fromMatrices(module: string, layer: number, config: CalibrationConfig, keys: Tensor[], values: Tensor, device?: Device): CalibrationFFN {
    const copy = (t: Tensor) => keep(noGrad(() => t.to({ dtype: 'float32', device: device ?? t.device, copy: true })));
    if (keys.length !== (config.gated ? 2 : 1)) throw new Error(`CALINET: ${config.gated ? 'a gated' : 'an ungated'} calibration FFN takes ${config.gated ? 2 : 1} key matrices, got ${keys.length}`);
    const [d, ex] = keys[0].shape;
    for (const k of keys) if (k.shape.join() !== `${d},${ex}`) throw new Error(`CALINET: key matrices must all be [${d}, ${ex}], got [${k.shape}]`);
    if (values.shape.join() !== `${ex},${d}`) throw new Error(`CALINET: the value matrix must be [${ex}, ${d}], got [${values.shape}]`);
    if (ex !== config.exSize) throw new Error(`CALINET: ex_size ${config.exSize} but the matrices have ${ex} slots`);
    return new CalibrationFFN(module, layer, config, keys.map(copy), copy(values));
  }

  /** act(x·K)·V (or the gated form) for x [.., d], in float32. */
  side(x: Tensor): Tensor {
    const xf = x.to('float32');
    let hidden = activate(xf.matmul(this.keys[0]), this.config.activation);
    if (this.config.gated) hidden = hidden.mul(xf.matmul(this.keys[1]));
    return hidden.matmul(this.values);
  }

  /** The slot activations act(x·K) [.., ex] (gated: times x·K1): which calibration memory slots an input uses. */
  slotActivations(x: Tensor): Tensor {
    const xf = x.to('float32');
    const a = activate(xf.matmul(this.keys[0]), this.config.activation);
    return this.config.gated ? a.mul(xf.matmul(this.keys[1])) : a;
  }

  forward(output: Tensor, ctx: PatchContext): Tensor {
    return output.add(this.side(ctx.input).to(output.dtype));
  }

  parameters(): Tensor[] {
    return [...this.keys, this.values];
  }

  /** Tensors keys (K), keys1 (K1, gated) and values (V); meta: the layer, module and config. */
  state(): PatchState {
    const tensors: Record<string, Tensor> = { keys: this.keys[0], values: this.values };
    if (this.config.gated) tensors.keys1 = this.keys[1];
    return { tensors, meta: { version: 1, module: this.module, layer: this.layer, config: this.config } };
  }

  /** Rebuilds a patch from state() (tensors are copied; the caller keeps its own). */
  static fromState(st: PatchState, device?: Device): CalibrationFFN {
    const m = st.meta as { version?: number; module?: string; layer?: number; config?: CalibrationConfig };
    if (m?.version !== 1 || !m.config || typeof m.layer !== 'number') throw new Error('CALINET state: unknown format (expected meta.version 1 with layer and config)');
    const c = m.config;
    if (!ACTIVATIONS.includes(c.activation) || !Number.isInteger(c.exSize) || typeof c.gated !== 'boolean') {
      throw new Error(`CALINET state: bad config ${JSON.stringify(c)}`);
    }
    const module = m.module;
    if (typeof module !== 'string') throw new Error('CALINET state: no module');
    const need = c.gated ? ['keys', 'keys1', 'values'] : ['keys', 'values'];
    for (const k of need) if (!st.tensors[k]) throw new Error(`CALINET state for '${module}': tensor '${k}' missing`);
    const keys = c.gated ? [st.tensors.keys, st.tensors.keys1] : [st.tensors.keys];
    return CalibrationFFN.fromMatrices(module, m.layer, c, keys, st.tensors.values, device);
  }

  dispose(): void {
    this.keys.forEach((k) => k.dispose());
    this.values.dispose();
  }
}
