// A freshly initialised T5 (HF's _init_weights with initializer_factor 1): what the kbgpt T5 training script starts
// from, and the small random encoder-decoders tests edit.
import { Generator, noGrad, randn, tensor, type Tensor } from '../tensor/index.js';
import { parseT5Config, t5ParameterShapes, type T5Config } from './t5.js';
import { T5Model } from './t5-model.js';

/** The N(0, σ) HF draws a T5 parameter from (initializer_factor 1); null for the norms (ones). */
export function t5InitStd(c: T5Config, name: string): number | null {
  if (name.endsWith('layer_norm.weight')) return null;
  if (name === 'shared.weight' || name === 'lm_head.weight') return 1;
  if (/\.q\.weight$/.test(name)) return (c.d * c.dKv) ** -0.5;
  if (/\.[kv]\.weight$/.test(name)) return c.d ** -0.5;
  if (/\.o\.weight$/.test(name)) return (c.numHeads * c.dKv) ** -0.5;
  if (/\.wo\.weight$/.test(name)) return c.dFf ** -0.5;
  return c.d ** -0.5; // wi, relative_attention_bias
}

/** N(0, σ) per tensor kind as HF initialises T5 (initializer_factor 1), norms at 1. Parameters require grad. */
export function initT5Params(c: T5Config, gen: Generator): Map<string, Tensor> {
  const params = new Map<string, Tensor>();
  for (const [name, shape] of t5ParameterShapes(c)) {
    const std = t5InitStd(c, name);
    const t = std === null ? tensor(new Float32Array(shape[0]).fill(1)).view(...shape) : noGrad(() => randn(shape, { generator: gen }).mul(std));
    params.set(name, t.requiresGrad_(true));
  }
  return params;
}

/** A randomly initialised T5Model for a raw config.json object (its source dir is `dir`, for tokenizer files). */
export function randomT5Model(rawConfig: Record<string, unknown>, seed: number, dir: string): T5Model {
  const config = parseT5Config(rawConfig, 'randomT5Model config');
  const params = initT5Params(config, new Generator(seed));
  for (const p of params.values()) p.requiresGrad_(false);
  return new T5Model(config, params, 'float32', 'cpu', { dir, rawConfig }, () => {});
}
