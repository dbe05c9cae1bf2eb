// Integrated-gradients attribution of an answer to the FFN neurons (Dai et al. 2022, eq. 3; EasyEdit's vendored
// EleutherAI knowledge_neurons.py: get_scores / get_scores_for_layer / scaled_input), at the prompt's last position:
//   Attr(w_i) = w̄_i / m · Σ_{k=0}^{m-1} ∂P(y | α_k w̄) / ∂w_i,   α_k = linspace(0, 1, m)[k]
// where w̄ is the layer's neuron activations at the last position of the unmodified pass, the activations of that
// one layer at that one position are replaced by α_k w̄ (every other layer and position untouched), and P is the
// softmax probability of the answer token there. The m scaled copies run as batches of `batch_size` prompts; the
// gradient of Σ_batch P is summed over the batches (torch.autograd.grad of the unbound probabilities).
// A multi-token answer is attributed token by token: token j is scored after the prompt plus the model's greedy
// tokens 0..j-1 (EleutherAI's n_sampling_steps), and the per-token attributions are averaged. The position is the one
// prefixStates names: a causal LM's last token, a T5 decoder's last position (the prompt in the encoder).
import { autograd, enableGrad, linspace, noGrad, stack, tidy, type Tensor } from '../../tensor/index.js';
import { prefixLast, prefixStates, replaceAt, type EditableModel } from '../../models/index.js';

/** Where a layer's neurons are read and replaced: the input of the down-projection, or some module's output. */
export interface NeuronSite {
  module: (layer: number) => string;
  side: 'input' | 'output';
}

/** The neuron activations of every layer at the answer position [L, I] and the argmax token there (one clean pass). */
export function baselineActivations(model: EditableModel, site: NeuronSite, prompt: number[], prefix: number[]): { acts: Tensor; argmax: number } {
  return tidy(() => noGrad(() => {
    const layers = Array.from({ length: model.dims.numLayers }, (_, l) => l);
    const side = site.side;
    const { hidden, last: [last], out: { traces } } = prefixStates(model, [prompt], [prefix], {
      trace: layers.map((l) => ({ module: site.module(l), retainInput: side === 'input', retainOutput: side === 'output' })),
    });
    const acts = stack(layers.map((l) => {
      const r = traces.get(site.module(l))!;
      return (side === 'input' ? r.input! : r.output!).select(0, 0).select(0, last);
    }), 0);
    const argmax = model.logitsFrom(hidden.select(0, 0).select(0, last)).argmax(-1).item();
    return { acts, argmax };
  }));
}

export interface AttributionOptions {
  steps: number;
  batchSize: number;
}

/**
 * IG attribution [I] of P(answer | ids) to the neurons of `layer` at the last position, from that layer's
 * unmodified activations `act` [I]. Returns a float32 tensor owned by the caller's scope.
 */
export function layerAttribution(model: EditableModel, site: NeuronSite, prompt: number[], prefix: number[], layer: number, act: Tensor, answer: number, o: AttributionOptions): Tensor {
  if (o.steps % o.batchSize !== 0) throw new Error(`KN: steps (${o.steps}) must be a multiple of batch_size (${o.batchSize})`);
  const module = site.module(layer);
  const b = o.batchSize;
  const prompts = new Array<number[]>(b).fill(prompt);
  const prefixes = new Array<number[]>(b).fill(prefix);
  const last = prefixLast(model, prompt, prefix);
  const at = { rows: Array.from({ length: b }, (_, i) => i), positions: new Array<number>(b).fill(last) };
  const base = noGrad(() => act.detach());
  const alphas = linspace(0, 1, o.steps, { dtype: base.dtype, device: base.device });
  let total: Tensor | undefined;
  for (let c = 0; c < o.steps / b; c++) {
    const prev = total;
    total = tidy(() => enableGrad(() => {
      const w = alphas.narrow(0, c * b, b).unsqueeze(1).mul(base.unsqueeze(0)).detach().requiresGrad_();
      const edit = replaceAt(at, w);
      const { hidden } = prefixStates(model, prompts, prefixes, {
        trace: [{ module, retainOutput: false, ...(site.side === 'input' ? { editInput: edit } : { editOutput: edit }) }],
      });
      const probs = model.logitsFrom(hidden.select(1, last)).float().softmax(-1).select(1, answer);
      const [grad] = autograd.grad(probs.sum(), w);
      return noGrad(() => {
        const g = grad!.float().sum(0);
        return prev ? prev.add(g) : g;
      });
    }));
    prev?.dispose();
  }
  return noGrad(() => total!.mul(base.float()).div(o.steps));
}

/**
 * Attribution scores [L, I] (float32) of the answer tokens to every layer's neurons for one prompt (EleutherAI
 * get_scores): the mean over answer tokens, token j scored after the prompt and the greedy tokens 0..j-1.
 */
export function attributionScores(model: EditableModel, site: NeuronSite, promptIds: number[], answerIds: number[], o: AttributionOptions): Tensor {
  if (answerIds.length === 0) throw new Error('KN: the ground truth encodes to no tokens');
  const greedy: number[] = [];
  let sum: Tensor | undefined;
  for (const answer of answerIds) {
    const prev = sum;
    sum = tidy(() => {
      const prefix = [...greedy];
      const { acts, argmax } = baselineActivations(model, site, promptIds, prefix);
      greedy.push(argmax);
      const layers = Array.from({ length: model.dims.numLayers }, (_, l) => tidy(() => layerAttribution(model, site, promptIds, prefix, l, acts.select(0, l), answer, o)));
      const scores = stack(layers, 0);
      return prev ? prev.add(scores) : scores;
    });
    prev?.dispose();
  }
  return tidy(() => {
    const out = sum!.div(answerIds.length);
    sum!.dispose();
    return out;
  });
}
