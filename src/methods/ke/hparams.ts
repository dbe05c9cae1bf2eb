// KE's hyper-parameters. EasyEdit dropped KE (its hparams/KE and hparams/TRAINING/KE files remain, with MEND-style
// trainer fields); the method's own fields take the original repository's argument names
// (nicola-decao/KnowledgeEditor src/models/bart_seq2seq_augmented_kilt.py: max_scale, lr_alpha, margin_kl_max/min,
// margin_lp_max/min, p, divergences, eps; one_shot_learner.py: hidden_dim, condition_dim). See docs/ke.md.
import type { CausalLM } from '../../models/index.js';
import type { Schema } from '../hparams.js';
import { TRAINING_FIELDS, type TrainingHparams } from '../trained-hparams.js';

export const KE_DIVERGENCES = ['kl', 'lp', 'both'] as const;

export interface KeHparams extends TrainingHparams {
  /** The edited parameters (EasyEdit's inner_params; `transformer.h[0].mlp.c_fc.weight` or dotted). */
  inner_params: string[];
  /** Condition tokens kept (the original truncates to --max_length 32); a common hparams field. */
  max_length: number;
  /** Scale of the update (the original's --max_scale, default 1). */
  max_scale: number;
  /** Hidden size of each ConditionedParameter's MLP, and of each LSTM direction (the original: 128 for both). */
  hidden_dim: number;
  /** Size of the condition vector (the original: 1024). */
  condition_dim: number;
  /** Learning rate of the Lagrange multipliers (gradient ascent). */
  lr_alpha: number;
  margin_kl_max: number;
  margin_kl_min: number;
  margin_lp_max: number;
  margin_lp_min: number;
  /** The margins shrink by margin_decay when validation edit success exceeds flip_threshold (the original: 0.8, 0.9). */
  margin_decay: number;
  flip_threshold: number;
  /** Norm of the LP constraint (mean over parameters of (mean |Δ|^p)^(1/p)). */
  p: number;
  divergences: (typeof KE_DIVERGENCES)[number];
  /** Label smoothing of the edit loss (the original's --eps); the gradient ∇ is of the plain NLL. */
  eps: number;
  /** Take the edit loss on the rephrases too (the original's --use_views). */
  use_views: boolean;
  /** Also take the KL on the batch's other records' prompts (the original's batch layout); false: own probes only. */
  batch_locality: boolean;
  // EasyEdit's leftover fields of hparams/KE/*.yaml (MEND's trainer), read and recorded, not used by this KE
  edit_lr: number;
  lr_lr: number;
  lr_scale: number;
  cedit: number;
  cloc: number;
  cbase: number;
  dropout: number;
  train_base: boolean;
  no_grad_layers: string | null;
}

const recorded = (type: 'number' | 'boolean' | 'string' | 'string|null' | 'integer', value: unknown) =>
  ({ type, default: value, doc: "EasyEdit's field (MEND trainer); recorded, unused by KE" });

export const KE_SCHEMA: Schema = {
  inner_params: { type: 'string[]|null', doc: "the edited weights, e.g. ['transformer.h[0].mlp.c_fc.weight']" },
  max_scale: { type: 'number', default: 1, exclusiveMin: 0 },
  hidden_dim: { type: 'integer', default: 128, min: 1 },
  condition_dim: { type: 'integer', default: 1024, min: 1 },
  lr_alpha: { type: 'number', default: 0.1, min: 0 },
  margin_kl_max: { type: 'number', default: 1e-3, min: 0 },
  margin_kl_min: { type: 'number', default: 1e-5, min: 0 },
  margin_lp_max: { type: 'number', default: 1e-3, min: 0 },
  margin_lp_min: { type: 'number', default: 1e-7, min: 0 },
  margin_decay: { type: 'number', default: 0.8, exclusiveMin: 0 },
  flip_threshold: { type: 'number', default: 0.9, min: 0 },
  p: { type: 'number', default: 2, exclusiveMin: 0 },
  divergences: { type: 'string', default: 'kl', doc: KE_DIVERGENCES.join(' | ') },
  eps: { type: 'number', default: 0.1, min: 0 },
  use_views: { type: 'boolean', default: true },
  batch_locality: { type: 'boolean', default: false },
  edit_lr: recorded('number', 1e-2),
  lr_lr: recorded('number', 1e-3),
  lr_scale: recorded('number', 1),
  cedit: recorded('number', 0.1),
  cloc: recorded('number', 1),
  cbase: recorded('number', 1),
  dropout: recorded('number', 0),
  train_base: recorded('boolean', false),
  no_grad_layers: recorded('string|null', null),
  model_class: recorded('string', ''),
  tokenizer_class: recorded('string', ''),
  tokenizer_name: recorded('string', ''),
  results_dir: recorded('string', ''),
  val_batch_size: recorded('integer', 5),
  eval_log_interval: recorded('integer', 100),
  final_eval: recorded('boolean', true),
  silent: recorded('boolean', false),
  eval_only: recorded('boolean', false),
  half: recorded('boolean', false),
  debug: recorded('boolean', false),
  save: recorded('boolean', false),
  verbose: recorded('boolean', true),
  ...TRAINING_FIELDS,
};

/** `transformer.h[0].mlp.c_fc.weight` → `transformer.h.0.mlp.c_fc.weight`. */
export function keParamName(inner: string): string {
  return inner.trim().replace(/\[(\d+)\]/g, '.$1');
}

/** Checks the hparams against the model; errors name the file and the field. */
export function checkKeHparams(model: CausalLM, h: KeHparams, source: string): void {
  if (!Array.isArray(h.inner_params) || h.inner_params.length === 0) throw new Error(`${source}: inner_params must list at least one weight to edit`);
  const names = new Set(model.parameterNames());
  for (const p of h.inner_params) {
    const n = keParamName(p);
    if (!names.has(n)) throw new Error(`${source}: inner_params '${p}' is not a parameter of this ${model.modelType} model (e.g. ${[...names].find((x) => x.includes('mlp')) ?? [...names][0]})`);
    const rank = model.parameter(n).shape.length;
    if (rank !== 1 && rank !== 2) throw new Error(`${source}: inner_params '${p}' has ${rank} dimensions; KE edits 1-D or 2-D parameters`);
  }
  if (!KE_DIVERGENCES.includes(h.divergences)) throw new Error(`${source}: divergences must be one of ${KE_DIVERGENCES.join(', ')}, got '${h.divergences}'`);
  if (h.margin_kl_min > h.margin_kl_max) throw new Error(`${source}: margin_kl_min (${h.margin_kl_min}) exceeds margin_kl_max (${h.margin_kl_max})`);
  if (h.margin_lp_min > h.margin_lp_max) throw new Error(`${source}: margin_lp_min (${h.margin_lp_min}) exceeds margin_lp_max (${h.margin_lp_max})`);
}
