// KN: Knowledge Neurons (Dai et al., ACL 2022), as EasyEdit runs it (easyeditor/models/kn/kn_main.py over its
// vendored EleutherAI/knowledge-neurons): integrated-gradients attribution of the *ground truth* to the FFN neurons
// at the prompt's last position (attribution.ts), the neurons above adaptive_threshold × the largest attribution,
// refined across prompts (neurons.ts), then the down-projection's output vectors of those neurons move from the word
// embedding of the model's original prediction to the target's (edit.ts). A request without ground_truth is refused.
import { keep, tidy } from '../../tensor/index.js';
import { CausalLM, type EditableModel } from '../../models/index.js';
import { checkAgainstModel } from '../hparams.js';
import type { NormalizedRequest } from '../request.js';
import type { EditContext, EditMethod, Edit } from '../types.js';
import { KN_SCHEMA, type KnHparams } from './hparams.js';
import { attributionScores, type NeuronSite } from './attribution.js';
import { byLayer, capNeurons, coarseNeurons, refinedNeurons, type Neuron } from './neurons.js';
import { greedyTokens, neuronDeltas, rowChange } from './edit.js';

/** A T5's neurons: the decoder FFNs' (the answer is read in the decoder), at the input of `wo`. */
export const T5_REWRITE_TEMPLATE = 'decoder.block.{}.layer.2.DenseReluDense.wo';

/** The down-projection template of these hparams ('' = the architecture's). */
export function rewriteTemplate(model: EditableModel, h: KnHparams): string {
  return h.rewrite_module_tmp || (model instanceof CausalLM ? model.templates.rewriteModule : T5_REWRITE_TEMPLATE);
}

/** Where the neurons are read and replaced (see KnHparams.input_ff_module_tmp). */
export function neuronSite(model: EditableModel, h: KnHparams): NeuronSite {
  const tmpl = h.input_ff_module_tmp || rewriteTemplate(model, h);
  return { module: (l) => tmpl.replace('{}', String(l)), side: h.input_ff_module_tmp ? 'output' : 'input' };
}

function embeddingParam(model: EditableModel, h: KnHparams): string {
  return h.word_embeddings_param || (model instanceof CausalLM ? `${model.templates.embed}.weight` : 'shared.weight');
}

export const kn: EditMethod<KnHparams> = {
  name: 'KN',
  schema: KN_SCHEMA,
  batching: 'sequential',

  encoderDecoder: true, // the decoder's FFN neurons of a T5, at the answer's decoder position

  check(model, h, source) {
    const templates: Record<string, string> = { rewrite_module_tmp: rewriteTemplate(model, h) };
    if (h.input_ff_module_tmp) templates.input_ff_module_tmp = h.input_ff_module_tmp;
    checkAgainstModel(model, source, [0], templates);
    if (h.steps % h.batch_size !== 0) throw new Error(`${source}: steps (${h.steps}) must be a multiple of batch_size (${h.batch_size}), as EasyEdit asserts`);
    if (h.p >= 1) throw new Error(`${source}: field 'p' must be < 1, got ${h.p}`);
    const emb = embeddingParam(model, h);
    if (!model.parameterNames().includes(emb)) throw new Error(`${source}: word_embeddings_param '${emb}' is not a parameter of this ${model.modelType} model`);
    const shape = model.parameter(emb).shape;
    if (shape.length !== 2 || shape[1] !== model.dims.hiddenSize) {
      throw new Error(`${source}: word_embeddings_param '${emb}' has shape [${shape.join(',')}], expected [vocab, ${model.dims.hiddenSize}]`);
    }
  },

  open(model, h, ctx) {
    return {
      compute: (requests, c) => {
        const result: Edit = { deltas: [], diagnostics: [], statsKeys: [] };
        for (const request of requests) computeOne(model, request, h, { ...ctx, ...c }, result);
        return result;
      },
      dispose: () => undefined,
    };
  },
};

function describe(r: NormalizedRequest): string {
  return `edit request ${r.index}${r.caseId !== undefined ? ` (case ${r.caseId})` : ''}`;
}

/** The knowledge neurons of one request's ground truth (attribution, threshold, refinement, cap). */
export function findNeurons(model: EditableModel, request: NormalizedRequest, h: KnHparams, ctx: EditContext) {
  const tok = ctx.tokenizer;
  if (request.groundTruth === undefined || request.groundTruth.trim() === '') {
    throw new Error(`KN: ${describe(request)} has no ground_truth: KN attributes the model's current answer to find the neurons to edit ` +
      `(EasyEdit's request['ground_truth']); give the request a groundTruth`);
  }
  const answer = tok.encode(request.groundTruth, { addSpecialTokens: false });
  if (answer.length === 0) throw new Error(`KN: ${describe(request)}: ground_truth '${request.groundTruth}' encodes to no tokens`);
  const site = neuronSite(model, h);
  // EasyEdit's kn_main passes the one request prompt (text = [request['prompt']]); refine/p act across this list.
  const prompts = [request.text];
  const coarse = prompts.map((p) => {
    const grid = tidy(() => {
      const s = attributionScores(model, site, tok.encode(p), answer, { steps: h.steps, batchSize: h.batch_size });
      return { values: s.toFlatArray() as number[], numLayers: s.shape[0], width: s.shape[1] };
    });
    return coarseNeurons(grid, h.adaptive_threshold);
  });
  const refined = refinedNeurons(coarse.map((c) => c.neurons), { p: h.p, refine: h.refine });
  const { kept, dropped } = capNeurons(refined, h.max_neurons);
  if (dropped > 0) {
    ctx.log?.(`KN: ${describe(request)}: ${refined.length} neurons selected, editing the ${kept.length} with the largest attribution (max_neurons ${h.max_neurons})`);
  }
  return { prompts, coarse, refined, kept, dropped };
}

function computeOne(model: EditableModel, request: NormalizedRequest, h: KnHparams, ctx: EditContext, result: Edit): void {
  const started = performance.now();
  const tok = ctx.tokenizer;
  const found = findNeurons(model, request, h, ctx);
  const targetIds = tok.encode(request.targetNew, { addSpecialTokens: false });
  if (targetIds.length === 0) throw new Error(`KN: ${describe(request)}: target_new '${request.targetNew}' encodes to no tokens`);
  const original = greedyTokens(model, tok.encode(request.text), targetIds.length);
  const rewrite = rewriteTemplate(model, h);
  const { deltas, vNorm } = tidy(() => {
    const v = rowChange(model.parameter(embeddingParam(model, h)), targetIds, original, h.lr_scale);
    return keep({ deltas: neuronDeltas(model, (l) => `${rewrite.replace('{}', String(l))}.weight`, byLayer(found.kept), v), vNorm: v.norm().item() });
  });
  if (found.kept.length === 0) ctx.log?.(`KN: ${describe(request)}: no neuron above the threshold; the edit changes nothing`);
  result.deltas.push(...deltas);
  const perLayer = Object.fromEntries([...byLayer(found.kept)].map(([l, idx]) => [l, idx.length]));
  result.diagnostics.push({
    caseId: request.caseId, prompt: request.text, targetNew: request.targetNew,
    seconds: (performance.now() - started) / 1000,
    norms: { rowChange: vNorm, deltaW: vNorm * Math.sqrt(found.kept.length) },
    extra: {
      groundTruth: request.groundTruth,
      originalPrediction: tok.decode(original),
      originalTokens: original,
      prompts: found.prompts.length,
      threshold: found.coarse.map((c) => c.threshold),
      maxAttribution: found.coarse.map((c) => c.max),
      coarseNeurons: found.coarse.map((c) => c.neurons.length),
      refinedNeurons: found.refined.length,
      editedNeurons: found.kept.length,
      cappedAt: found.dropped > 0 ? h.max_neurons : null,
      droppedNeurons: found.dropped,
      neuronsPerLayer: perLayer,
      neurons: found.kept.map((n: Neuron) => [n.layer, n.index, n.score]),
    },
  });
}

export type { KnHparams } from './hparams.js';
export { KN_SCHEMA } from './hparams.js';
