// Choosing the knowledge neurons from attribution scores (EleutherAI knowledge_neurons.py: get_coarse_neurons,
// get_refined_neurons), and the cap this port adds.
//   coarse (one prompt):  { (l, i) : Attr_l,i > adaptive_threshold · max_{l',i'} Attr_l',i' }   (strict, as torch.nonzero(s > t))
//   refined (n prompts):  refine ? { neurons coarse for more than p · n prompts } : every coarse neuron of any prompt
// Neurons keep the order of their first appearance ((layer, index) order within a prompt, as torch.nonzero).

export interface Neuron {
  layer: number;
  index: number;
  /** Attribution: the mean over the prompts where the neuron was coarse. */
  score: number;
  /** Number of prompts where it was coarse. */
  count: number;
}

/** One prompt's attribution scores, row-major [numLayers, width]. */
export interface ScoreGrid {
  values: ArrayLike<number>;
  numLayers: number;
  width: number;
}

/** Neurons whose attribution exceeds adaptive_threshold × the largest attribution of the grid. */
export function coarseNeurons(grid: ScoreGrid, adaptiveThreshold: number): { neurons: Neuron[]; threshold: number; max: number } {
  const { values, numLayers, width } = grid;
  if (values.length !== numLayers * width) throw new Error(`KN: ${values.length} scores for ${numLayers} layers × ${width} neurons`);
  let max = -Infinity;
  for (let k = 0; k < values.length; k++) if (values[k] > max) max = values[k];
  const threshold = max * adaptiveThreshold;
  const neurons: Neuron[] = [];
  for (let k = 0; k < values.length; k++) {
    if (values[k] > threshold) neurons.push({ layer: Math.floor(k / width), index: k % width, score: values[k], count: 1 });
  }
  return { neurons, threshold, max };
}

/** Neurons shared across the prompts' coarse sets; `refine` keeps those coarse for more than p · n prompts. */
export function refinedNeurons(coarse: Neuron[][], opts: { p: number; refine: boolean }): Neuron[] {
  if (!(opts.p >= 0 && opts.p < 1)) throw new Error(`KN: p must be in [0, 1), got ${opts.p}`);
  const byKey = new Map<string, Neuron>();
  for (const list of coarse) {
    for (const n of list) {
      const key = `${n.layer}:${n.index}`;
      const seen = byKey.get(key);
      if (seen) {
        seen.score = (seen.score * seen.count + n.score) / (seen.count + 1);
        seen.count += 1;
      } else {
        byKey.set(key, { ...n, count: 1 });
      }
    }
  }
  const all = [...byKey.values()];
  const t = coarse.length * opts.p;
  return opts.refine ? all.filter((n) => n.count > t) : all;
}

/** At most `max` neurons: the largest scores (ties: the earlier neuron), returned in their original order. */
export function capNeurons(neurons: Neuron[], max: number): { kept: Neuron[]; dropped: number } {
  if (neurons.length <= max) return { kept: neurons, dropped: 0 };
  const order = neurons.map((_, i) => i).sort((a, b) => neurons[b].score - neurons[a].score || a - b);
  const keep = new Set(order.slice(0, max));
  return { kept: neurons.filter((_, i) => keep.has(i)), dropped: neurons.length - max };
}

/** Neuron indices per layer, ascending layers. */
export function byLayer(neurons: Neuron[]): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const n of [...neurons].sort((a, b) => a.layer - b.layer || a.index - b.index)) {
    const list = m.get(n.layer) ?? [];
    list.push(n.index);
    m.set(n.layer, list);
  }
  return m;
}
