// What `lmedit inspect` and `lmedit logits` show for a T5 checkpoint: the two stacks' shapes and module paths, and
// the decoder's next-token logits with the encoder and decoder residual norms (to compare against transformers).
import { noGrad, tidy } from '../tensor/index.js';
import type { T5Model } from './t5-model.js';

export interface T5Summary {
  dir: string;
  modelType: 't5';
  parameters: number;
  dtype: string;
  config: {
    encoderLayers: number; decoderLayers: number; dModel: number; dKv: number; dFf: number; numHeads: number; vocabSize: number;
    feedForward: string; tiedHead: boolean; relativeBuckets: number; relativeMaxDistance: number; decoderStartTokenId: number;
  };
  /** Module paths of encoder block 0 and decoder block 0 with the index as {}. */
  encoderBlockModules: string[];
  decoderBlockModules: string[];
  otherModules: string[];
}

export function summarizeT5(model: T5Model): T5Summary {
  const c = model.config;
  const paths = model.modulePaths();
  const block = (stack: string) => paths.filter((p) => p === `${stack}.block.0` || p.startsWith(`${stack}.block.0.`))
    .map((p) => p.replace(`${stack}.block.0`, `${stack}.block.{}`));
  return {
    dir: model.source.dir,
    modelType: 't5',
    parameters: model.numParameters(),
    dtype: model.dtype,
    config: {
      encoderLayers: c.encoderLayers, decoderLayers: c.decoderLayers, dModel: c.d, dKv: c.dKv, dFf: c.dFf, numHeads: c.numHeads,
      vocabSize: c.vocabSize, feedForward: `${c.gated ? 'gated-' : ''}${c.activation}`, tiedHead: c.tied,
      relativeBuckets: c.numBuckets, relativeMaxDistance: c.maxDistance, decoderStartTokenId: c.decoderStartTokenId,
    },
    encoderBlockModules: block('encoder'),
    decoderBlockModules: block('decoder'),
    otherModules: paths.filter((p) => !/^(en|de)coder\.block\./.test(p)),
  };
}

export function formatT5Summary(s: T5Summary): string[] {
  const c = s.config;
  return [
    `model         ${s.dir}`,
    `architecture  t5 (encoder-decoder; load with loadT5Model)`,
    `parameters    ${s.parameters.toLocaleString('en-US')} (${s.dtype})`,
    `shape         ${c.encoderLayers} encoder + ${c.decoderLayers} decoder blocks, d_model ${c.dModel}, ${c.numHeads} heads of ${c.dKv}, ` +
      `FF ${c.dFf} (${c.feedForward}), vocab ${c.vocabSize}, ${c.tiedHead ? 'tied head (d^-0.5 rescale)' : 'untied lm_head'}, ` +
      `${c.relativeBuckets} relative buckets up to distance ${c.relativeMaxDistance}, decoder start ${c.decoderStartTokenId}`,
    '',
    'modules in every encoder block ({} = 0..' + (c.encoderLayers - 1) + '):',
    ...s.encoderBlockModules.map((p) => `  ${p}${p.endsWith('relative_attention_bias') ? '  (block 0 only)' : ''}`),
    '',
    'modules in every decoder block ({} = 0..' + (c.decoderLayers - 1) + '):',
    ...s.decoderBlockModules.map((p) => `  ${p}${p.endsWith('relative_attention_bias') ? '  (block 0 only)' : ''}`),
    '',
    'other modules:',
    ...s.otherModules.map((p) => `  ${p}`),
  ];
}

export interface T5LogitsReport {
  encoderIds: number[];
  decoderIds: number[];
  top: { id: number; logit: number }[];
  logsumexp: number;
  encoderResidualNorms: number[];
  decoderResidualNorms: number[];
  finalNormOutputNorm: number;
}

/**
 * Decoder logits at the last decoder position for one encoder input (decoder input default: the start token), with
 * residual norms at the last position of each stack (embeddings, then after each block, before the final norm).
 */
export function t5Logits(model: T5Model, encoderIds: number[], decoderIds: number[] | undefined, k: number): T5LogitsReport {
  const dec = decoderIds ?? [model.config.decoderStartTokenId];
  return tidy(() => noGrad(() => {
    const out = model.forward({ inputIds: [encoderIds], decoderInputIds: [dec], logits: 'last', residuals: true });
    const last = out.logits!.select(0, 0).to('float32');
    const top = last.topk(Math.min(k, last.shape[0]));
    const ids = top.indices.toFlatArray();
    const vals = top.values.toFlatArray();
    const norm = (h: { select(d: number, i: number): any }) => h.select(0, 0).select(0, -1).to('float32').norm().item() as number;
    return {
      encoderIds,
      decoderIds: dec,
      top: ids.map((id, i) => ({ id, logit: vals[i] })),
      logsumexp: last.logsumexp(0).item(),
      encoderResidualNorms: out.encoderResiduals!.map(norm),
      decoderResidualNorms: out.residuals!.map(norm),
      finalNormOutputNorm: norm(out.hidden),
    };
  }));
}
