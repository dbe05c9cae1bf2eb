// Autograd controls: grad mode scopes and torch.autograd.grad.
import { native } from './native.js';
import { Tensor, wrapHandle } from './tensor.js';

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const prev: boolean = native.isGradEnabled();
  native.setGradEnabled(enabled);
  try {
    const out = fn();
    if (out instanceof Promise) throw new TypeError('noGrad()/enableGrad() take a synchronous function');
    return out;
  } finally {
    native.setGradEnabled(prev);
  }
}

/** Runs fn with gradient recording off (torch.no_grad). */
export const noGrad = <T>(fn: () => T): T => withGradMode(false, fn);
/** Runs fn with gradient recording on (torch.enable_grad). */
export const enableGrad = <T>(fn: () => T): T => withGradMode(true, fn);
export const isGradEnabled = (): boolean => native.isGradEnabled();

export interface GradOptions {
  gradOutputs?: Tensor[];
  retainGraph?: boolean;
  createGraph?: boolean;
  /** Return undefined for inputs the outputs do not depend on instead of throwing. */
  allowUnused?: boolean;
}

/** Gradients of the outputs with respect to the inputs (torch.autograd.grad). */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor | Tensor[], opts: GradOptions = {}): (Tensor | undefined)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  const hs: any[] = native.autogradGrad(outs.map((t) => t.handle), ins.map((t) => t.handle),
    opts.gradOutputs?.map((t) => t.handle) ?? null, opts.retainGraph ?? false, opts.createGraph ?? false,
    opts.allowUnused ?? false);
  return hs.map((h) => (h === undefined ? undefined : wrapHandle(h)));
}
