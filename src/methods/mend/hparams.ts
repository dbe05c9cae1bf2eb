// MEND's hparams, with EasyEdit's field names (easyeditor/models/mend/mend_hparams.py, hparams/TRAINING/MEND/*.yaml)
// and the trainer's (TRAINING_FIELDS). Fields EasyEdit's files carry that change nothing here (model_class, half, …)
// are accepted so that its files read unchanged.
import type { EditableModel } from '../../models/index.js';
import type { Schema } from '../hparams.js';
import { TRAINING_FIELDS, type TrainingHparams } from '../trained-hparams.js';

export interface MendHparams extends TrainingHparams {
  /** Weights the editor changes (Hugging Face names, e.g. transformer.h.5.mlp.c_fc.weight). */
  inner_params: string[];
  /** Initial per-parameter edit learning rate (one learned scalar per inner param). */
  edit_lr: number;
  /** Learning rate of the edit learning rates' parameter group. */
  lr_lr: number;
  /** Weight of the edit loss (NLL of target_new after the edit, on the edit and rephrase inputs). */
  cedit: number;
  /** Weight of the locality KL (base vs edited distribution on locality prompts). */
  cloc: number;
  /** Weight of the base-model loss; only used when the base trains (train_base), which lmedit refuses. */
  cbase: number;
  train_base: boolean;
  /** Rank of every LRLinear of the hypernetwork (capped at its input dimension). */
  rank: number;
  /** Hidden layers of the IDMLP: n_hidden + 1 LRLinear layers. */
  n_hidden: number;
  /** Unused by IDMLP (EasyEdit's field, kept for its files). */
  hidden_dim: number | string | null;
  /** LRLinear initialisation: 'id' (u = 0, v ~ N(0, 1), residual: the identity) or 'xavier'. */
  init: string;
  /** Normalise x and δ by their running mean and standard deviation (buffers, updated in training). */
  norm: boolean;
  /** One network over [x; δ] (true) or one per factor. */
  combine: boolean;
  x_only: boolean;
  delta_only: boolean;
  /** Transform only the smaller factor. */
  one_sided: boolean;
  act: string;
  mlp_class: string;
  /** One hypernetwork per weight shape, with a learned scale and shift per parameter (mode embeddings). */
  shared: boolean;
  /** W' = W − lr·ΔW (true) or W + lr·ΔW (EasyEdit: +, the learned rates and network take the sign). */
  descent: boolean;
  dropout: number;
  lr_scale: number;
}

const IGNORED: Schema = {
  model_class: { type: 'string', default: '' },
  tokenizer_class: { type: 'string', default: '' },
  tokenizer_name: { type: 'string', default: '' },
  results_dir: { type: 'string', default: '' },
  alg: { type: 'string', default: 'MEND' },
  no_grad_layers: { type: 'string|null', default: null },
  silent: { type: 'boolean', default: false },
  eval_log_interval: { type: 'integer', default: 1000, min: 1 },
  final_eval: { type: 'boolean', default: true },
  eval_only: { type: 'boolean', default: false },
  half: { type: 'boolean', default: false },
  debug: { type: 'boolean', default: false },
  save: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: true },
  val_batch_size: { type: 'integer', default: 5, min: 1 },
};

export const MEND_SCHEMA: Schema = {
  inner_params: { type: 'string[]|null', default: null, doc: 'the weights MEND edits, e.g. [transformer.h.5.mlp.c_fc.weight]' },
  edit_lr: { type: 'number', default: 1e-4 },
  lr_lr: { type: 'number', default: 1e-4, exclusiveMin: 0 },
  cedit: { type: 'number', default: 0.1, min: 0 },
  cloc: { type: 'number', default: 1.0, min: 0 },
  cbase: { type: 'number', default: 1.0, min: 0 },
  train_base: { type: 'boolean', default: false },
  rank: { type: 'integer', default: 1920, min: 1 },
  n_hidden: { type: 'integer', default: 1, min: 0 },
  hidden_dim: { type: 'string|null', default: null },
  init: { type: 'string', default: 'id' },
  norm: { type: 'boolean', default: true },
  combine: { type: 'boolean', default: true },
  x_only: { type: 'boolean', default: false },
  delta_only: { type: 'boolean', default: false },
  one_sided: { type: 'boolean', default: false },
  act: { type: 'string', default: 'relu' },
  mlp_class: { type: 'string', default: 'IDMLP' },
  shared: { type: 'boolean', default: true },
  descent: { type: 'boolean', default: true },
  dropout: { type: 'number', default: 0, min: 0 },
  lr_scale: { type: 'number', default: 1.0 },
  ...IGNORED,
  ...TRAINING_FIELDS,
  lr: { type: 'number', default: 1e-6, exclusiveMin: 0 },
  batch_size: { type: 'integer', default: 1, min: 1 },
};

/** The module a weight belongs to ('transformer.h.5.mlp.c_fc.weight' → 'transformer.h.5.mlp.c_fc'). */
export function moduleOf(param: string): string {
  if (!param.endsWith('.weight')) throw new Error(`MEND: inner param '${param}' is not a weight (expected a name ending in .weight)`);
  return param.slice(0, -'.weight'.length);
}

/** Checks the hparams against the model: inner params exist, are 2-D weights of traceable modules; variants known. */
export function checkMendHparams(model: EditableModel, h: MendHparams, source: string): void {
  if (!h.inner_params || h.inner_params.length === 0) throw new Error(`${source}: MEND needs inner_params (the weights it edits, e.g. transformer.h.5.mlp.c_fc.weight)`);
  if (new Set(h.inner_params).size !== h.inner_params.length) throw new Error(`${source}: inner_params lists a weight twice`);
  const modules = new Set(model.modulePaths());
  const names = new Set(model.parameterNames());
  for (const p of h.inner_params) {
    if (!names.has(p)) throw new Error(`${source}: inner_params: the model has no parameter '${p}' (list them with \`lmedit inspect\`)`);
    const m = moduleOf(p);
    if (!modules.has(m)) throw new Error(`${source}: inner_params: '${p}' belongs to '${m}', which is not a module lmedit can trace`);
    if (model.parameter(p).ndim !== 2) throw new Error(`${source}: inner_params: '${p}' is not a matrix`);
  }
  if (h.train_base) throw new Error(`${source}: train_base true is not supported: the base model stays frozen (EasyEdit's MEND files set it false)`);
  if (h.mlp_class !== 'IDMLP') throw new Error(`${source}: mlp_class '${h.mlp_class}' is not supported (IDMLP, the class EasyEdit's MEND files use)`);
  if (!['id', 'xavier'].includes(h.init)) throw new Error(`${source}: init must be 'id' or 'xavier', got '${h.init}'`);
  if (h.act !== 'relu') throw new Error(`${source}: act must be relu (IDMLP clamps at 0), got '${h.act}'`);
  if (h.combine && (h.one_sided || h.x_only || h.delta_only)) throw new Error(`${source}: combine cannot be used with one_sided, x_only or delta_only (as in MEND)`);
  if (h.dropout !== 0) throw new Error(`${source}: dropout must be 0 (the base model runs without dropout)`);
}
