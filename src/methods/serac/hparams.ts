// SERAC's hyper-parameters: EasyEdit's field names (easyeditor/models/serac/serac_hparams.py and
// hparams/TRAINING/SERAC/*.yaml; eric-mitchell/serac config/alg/rep.yaml) plus the trainer's (TRAINING_FIELDS) and
// lmedit's classifier fields (docs/serac.md says which EasyEdit fields do not apply and why).
import type { Schema } from '../hparams.js';
import { TRAINING_FIELDS, type TrainingHparams } from '../trained-hparams.js';

export const CLS_POOLS = ['mean', 'last', 'mean_last'] as const;

export interface SeracHparams extends TrainingHparams {
  /** The counterfactual model's class (EasyEdit GPT2LMHeadModel); here: a causal LM of the base's architecture. */
  model_class: string;
  /** Directory of the counterfactual model's initial weights; '' = the base model's own directory (a copy of it). */
  small_name: string;
  tokenizer_class: string;
  tokenizer_name: string;
  /** EasyEdit's classifier encoder (distilbert); lmedit: 'base' = the frozen base LM's pooled hidden states. */
  cls_name: string;
  cls_class: string;
  inner_params: string[] | null;
  /** Recorded: SERAC has no fast-weight step (EasyEdit reads it only for MEND). */
  edit_lr: number;
  lr_lr: number;
  /** Weight of the counterfactual NLL (SupervisedTrainer's l_cntr). */
  cedit: number;
  /** Weight of the scope classifier's balanced BCE (SupervisedTrainer's l_cls). */
  cloc: number;
  cbase: number;
  dropout: number;
  final_eval: boolean;
  /** EasyEdit's flag; lmedit trains the original's supervised losses whatever its value (docs/serac.md). */
  supervised: boolean;
  train_base: boolean;
  no_grad_layers: number | null;
  soft_weighting: boolean;
  checkpoint_grad: boolean;
  cross_attend: boolean;
  /** Distance 1 − cosine instead of (squared) L2. */
  cos: boolean;
  freeze: number | null;
  /** Squared L2 distance (EasyEdit default true). */
  square: boolean;
  /** tanh on the embeddings before the distance. */
  bound_embeds: boolean;
  /** Every (locality probe, edit) pair of the batch is a negative, not only each record's own. */
  use_all_negatives: boolean;
  /** The counterfactual model is the frozen base model itself (nothing of it is trained or saved). */
  freeze_cntr: boolean;
  /** The embedding is split into this many heads; the distance is the smallest over heads. */
  dist_heads: number;
  lora: string | null;
  edit_bs: number;
  val_batch_size: number;
  silent: boolean;
  eval_only: boolean;
  half: boolean;
  save: boolean;
  debug: boolean;
  log_errors: boolean;
  unlikelihood: boolean;
  results_dir: string;
  // ---- lmedit: the classifier over the base LM's hidden states ----
  /** Which hidden states are pooled: -1 = the final ones (after the last norm), L = the residual after block L. */
  cls_layer: number;
  /** Pooling over the text's tokens. */
  cls_pool: (typeof CLS_POOLS)[number];
  /** Hidden width of the projection MLP (0 = one linear map). */
  cls_hidden: number;
  /** Width of the embedding the distance is taken in. */
  cls_dim: number;
  /** Learning rate of the projection (0: lr, EasyEdit's one rate for both networks). The counterfactual model trains at lr. */
  cls_lr: number;
  /** Between the edit's text and the query in the counterfactual model's input (EasyEdit: ' '). */
  cntr_sep: string;
  /** The similarity scale (EasyEdit's `scale` buffer, 1.0, never trained). */
  scale: number;
  /** Train the counterfactual model's token embedding / LM head too (false: they stay small_name's and are not saved). */
  cntr_train_embeddings: boolean;
  /** Extra classifier negatives per record: other subjects' pool prompts in the record's template (0 = EasyEdit's). */
  hard_negatives: number;
}

const recorded = (type: 'string' | 'boolean', value: unknown) => ({ type, default: value, doc: 'recorded (docs/serac.md)' });

export const SERAC_SCHEMA: Schema = {
  model_class: recorded('string', 'GPT2LMHeadModel'),
  small_name: { type: 'string', default: '', doc: "counterfactual model's initial weights ('' = a copy of the base model)" },
  tokenizer_class: recorded('string', 'GPT2Tokenizer'),
  tokenizer_name: recorded('string', ''),
  cls_name: { type: 'string', default: 'base', doc: "'base': the frozen base LM's pooled hidden states (lmedit has no encoder)" },
  cls_class: recorded('string', 'AutoModel'),
  inner_params: { type: 'string[]|null', default: null },
  edit_lr: { type: 'number', default: 1e-2 },
  lr_lr: { type: 'number', default: 0 },
  cedit: { type: 'number', default: 0.1, min: 0 },
  cloc: { type: 'number', default: 1.0, min: 0 },
  cbase: { type: 'number', default: 1.0, min: 0 },
  dropout: { type: 'number', default: 0, min: 0 },
  final_eval: recorded('boolean', true),
  supervised: recorded('boolean', false),
  train_base: { type: 'boolean', default: false },
  no_grad_layers: { type: 'string|null', default: null },
  soft_weighting: recorded('boolean', false),
  checkpoint_grad: recorded('boolean', false),
  cross_attend: { type: 'boolean', default: false },
  cos: { type: 'boolean', default: false },
  freeze: { type: 'string|null', default: null },
  square: { type: 'boolean', default: true },
  bound_embeds: { type: 'boolean', default: false },
  use_all_negatives: { type: 'boolean', default: false },
  freeze_cntr: { type: 'boolean', default: false },
  dist_heads: { type: 'integer', default: 1, min: 1 },
  lora: { type: 'string|null', default: null },
  edit_bs: { type: 'integer', default: 1, min: 1 },
  val_batch_size: { type: 'integer', default: 1, min: 1 },
  silent: recorded('boolean', false),
  eval_only: recorded('boolean', false),
  half: { type: 'boolean', default: false },
  save: recorded('boolean', false),
  debug: recorded('boolean', false),
  log_errors: recorded('boolean', false),
  unlikelihood: recorded('boolean', true),
  results_dir: recorded('string', './results'),
  cls_layer: { type: 'integer', default: -1, min: -1 },
  cls_pool: { type: 'string', default: 'mean_last', doc: CLS_POOLS.join(' | ') },
  cls_hidden: { type: 'integer', default: 512, min: 0 },
  cls_dim: { type: 'integer', default: 128, min: 1 },
  cls_lr: { type: 'number', default: 0, min: 0, doc: '0 = lr' },
  cntr_sep: { type: 'string', default: ' ' },
  scale: { type: 'number', default: 1.0, exclusiveMin: 0 },
  cntr_train_embeddings: { type: 'boolean', default: true },
  hard_negatives: { type: 'integer', default: 0, min: 0 },
  ...TRAINING_FIELDS,
};

/** Checks what the schema cannot; errors name the file and the field. */
export function checkSeracHparams(h: SeracHparams, nLayers: number, source: string): void {
  const no = (field: keyof SeracHparams, why: string) => { throw new Error(`${source}: ${String(field)}: ${why}`); };
  if (!(CLS_POOLS as readonly string[]).includes(h.cls_pool)) no('cls_pool', `must be one of ${CLS_POOLS.join(', ')}, got '${h.cls_pool}'`);
  if (h.cls_name !== 'base') no('cls_name', `lmedit has no encoder models; 'base' (the frozen base LM's hidden states) is the only classifier, got '${h.cls_name}'`);
  if (h.cross_attend) no('cross_attend', 'the cross-attention classifier needs a sequence-classification encoder, which lmedit lacks; use the embedding classifier (false)');
  if (h.train_base) no('train_base', 'the base model stays frozen in SERAC; train_base: true is not supported');
  if (h.lora !== null) no('lora', 'LoRA counterfactual models are not supported (null)');
  if (h.dropout !== 0) no('dropout', 'lmedit models have no dropout; use 0');
  if (h.half) no('half', 'half precision is not supported; use false');
  if (h.freeze !== null) no('freeze', 'applies to EasyEdit encoder classifiers only (null)');
  if (h.cls_layer >= nLayers) no('cls_layer', `the model has ${nLayers} blocks (0-${nLayers - 1}, or -1 for the final hidden states), got ${h.cls_layer}`);
  if (h.cls_dim % h.dist_heads !== 0) no('dist_heads', `cls_dim ${h.cls_dim} is not divisible by dist_heads ${h.dist_heads}`);
}
