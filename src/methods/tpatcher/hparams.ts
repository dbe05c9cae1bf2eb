// T-Patcher hyper-parameters. EasyEdit does not ship T-Patcher, so the names are the original code's
// (ZeroYuHuang/Transformer-Patcher src/utils.py patch_related_args and main_args, the Trainer's gradient_clip_val in
// scripts/T-patch.py), plus lmedit's own: which MLP the patch sits on (layer, mlp_module_tmp) and where the memory
// set comes from (memory_file, pool_file/pool_range). docs/tpatcher.md says what each one does here.
import { modelActivation } from '../activation.js';
import { CausalLM, type EditableModel } from '../../models/index.js';
import type { Schema } from '../hparams.js';

export interface TPatcherHparams {
  /** The layer whose MLP gets the neurons (the original: the last decoder layer); negative counts from the end. */
  layer: number;
  /** The MLP module ({} = layer), e.g. transformer.h.{}.mlp. */
  mlp_module_tmp: string;
  // optimiser (the original: torch Adam with L2 weight decay, ReduceLROnPlateau on the edit loss, grad-norm clip)
  optim: string;
  lr: number;
  weight_decay: number;
  lr_scheduler_factor: number;
  lr_scheduler_patience: number;
  gradient_clip_val: number;
  // steps and stopping (one "epoch" of the original = one step on the edit example)
  max_edit_step: number;
  check_val_every_n_epoch: number;
  start_val_epoch: number;
  early_patience: number;
  use_val: number;
  /** The edit example is a batch of this many identical copies (changes the top-k losses only). */
  example_repeat: number;
  // the neurons
  max_add_neuron_num: number;
  use_init_weight: number;
  amplify_v: number;
  amplify_con: number;
  freeze_a: number;
  freeze_k: number;
  // activation loss
  activate_loss: string;
  alc: number;
  act_margin_val: number;
  act_loss_thd: number;
  // memory loss
  memory_loss: string;
  mlc: number;
  margin_val1: number;
  margin_val2: number;
  update_memory: number;
  memory_size: number;
  /** A plain-text file whose first memory_size token positions join the memory (WikiText). */
  memory_file: string | null;
  /** Edit cases whose prompts (with their answers) join the memory: read by `lmedit eval` into SessionContext.pool. */
  pool_file: string | null;
  pool_range: string | null;
}

export const TPATCHER_SCHEMA: Schema = {
  layer: { type: 'integer', default: -1, doc: 'the MLP that gets the neurons; -1 = the last layer' },
  mlp_module_tmp: { type: 'string', default: '', doc: "e.g. 'transformer.h.{}.mlp'; empty = the architecture's MLP" },
  optim: { type: 'string', default: 'adam' },
  lr: { type: 'number', default: 1e-2, exclusiveMin: 0 },
  weight_decay: { type: 'number', default: 0.01, min: 0 },
  lr_scheduler_factor: { type: 'number', default: 0.5, exclusiveMin: 0 },
  lr_scheduler_patience: { type: 'integer', default: 1, min: 0 },
  gradient_clip_val: { type: 'number', default: 5.0, min: 0, doc: '0 = no clipping' },
  max_edit_step: { type: 'integer', default: 2000, min: 1 },
  check_val_every_n_epoch: { type: 'integer', default: 25, min: 1 },
  start_val_epoch: { type: 'integer', default: 100, min: 0 },
  early_patience: { type: 'integer', default: 1, min: 1 },
  use_val: { type: 'integer', default: 1, min: 0 },
  example_repeat: { type: 'integer', default: 8, min: 1 },
  max_add_neuron_num: { type: 'integer', default: 5, min: 1 },
  use_init_weight: { type: 'integer', default: 1, min: 0 },
  amplify_v: { type: 'integer', default: 1, min: 0 },
  amplify_con: { type: 'number', default: 10.0 },
  freeze_a: { type: 'integer', default: 0, min: 0 },
  freeze_k: { type: 'integer', default: 0, min: 0 },
  activate_loss: { type: 'string', default: 'top5_exp' },
  alc: { type: 'number', default: 1.0, min: 0 },
  act_margin_val: { type: 'number', default: 0.0 },
  act_loss_thd: { type: 'number', default: 0.1 },
  memory_loss: { type: 'string', default: 'top1000_exp+top1000_exp' },
  mlc: { type: 'number', default: 10, min: 0 },
  margin_val1: { type: 'number', default: 3 },
  margin_val2: { type: 'number', default: -3 },
  update_memory: { type: 'integer', default: 1, min: 0 },
  memory_size: { type: 'integer', default: 40000, min: 0 },
  memory_file: { type: 'string|null', default: null },
  pool_file: { type: 'string|null', default: null },
  pool_range: { type: 'string|null', default: null },
};

/** A margin loss type: margin | exp | expmargin, optionally `top<k>_` before it. */
const LOSS_TYPE = /^(top\d+_)?(margin|exp|expmargin)$/;

/** The layer index the hparams name, within the model. */
export function patchLayer(model: EditableModel, h: TPatcherHparams): number {
  return h.layer < 0 ? model.dims.numLayers + h.layer : h.layer;
}

/** A T5's FFN: the decoder's (the original patches BART's last decoder FFN), read behind its layer norm. */
export const T5_MLP_TEMPLATE = 'decoder.block.{}.layer.2.DenseReluDense';

/** The MLP module the patch wraps (e.g. transformer.h.5.mlp; decoder.block.3.layer.2.DenseReluDense on a T5). */
export function patchModule(model: EditableModel, h: TPatcherHparams): string {
  const tmpl = h.mlp_module_tmp || (model instanceof CausalLM ? model.templates.mlp : T5_MLP_TEMPLATE);
  return tmpl.replace('{}', String(patchLayer(model, h)));
}

/** Checks the hparams against the model; every error names the file and the field. */
export function checkTPatcherHparams(model: EditableModel, h: TPatcherHparams, source: string): void {
  const n = model.dims.numLayers;
  const layer = patchLayer(model, h);
  if (layer < 0 || layer >= n) throw new Error(`${source}: layer ${h.layer} is out of range (the model has ${n} layers: 0..${n - 1}, or -1..-${n})`);
  const module = patchModule(model, h);
  if (!model.modulePaths().includes(module)) {
    throw new Error(`${source}: mlp_module_tmp '${h.mlp_module_tmp}' names '${module}', which this ${model.modelType} model does not have ` +
      `(its MLP is '${model instanceof CausalLM ? model.templates.mlp : T5_MLP_TEMPLATE}'; see \`lmedit inspect\`)`);
  }
  if (h.optim !== 'adam') throw new Error(`${source}: optim must be 'adam' (the original's default; rmsprop and sgd are not implemented), got '${h.optim}'`);
  if (h.activate_loss !== 'non_use' && !LOSS_TYPE.test(h.activate_loss)) {
    throw new Error(`${source}: activate_loss must be non_use or [top<k>_]margin|exp|expmargin (e.g. top5_exp), got '${h.activate_loss}'`);
  }
  if (h.memory_loss !== 'non_use') {
    const parts = h.memory_loss.split('+');
    if (h.memory_loss.startsWith('kl')) throw new Error(`${source}: memory_loss '${h.memory_loss}': the KL memory loss is not implemented (use the margin form, e.g. top1000_exp+top1000_exp, or non_use)`);
    if (parts.length !== 2 || !parts.every((p) => LOSS_TYPE.test(p))) {
      throw new Error(`${source}: memory_loss must be non_use or two loss types joined by '+' (e.g. top1000_exp+top1000_exp), got '${h.memory_loss}'`);
    }
  }
  if (h.margin_val1 < 0) throw new Error(`${source}: margin_val1 must be >= 0 (memory activations stay margin_val1 below the edit's), got ${h.margin_val1}`);
  if (h.margin_val2 > 0) throw new Error(`${source}: margin_val2 must be <= 0 (memory activations stay below it), got ${h.margin_val2}`);
  if (h.freeze_k && !h.use_init_weight) throw new Error(`${source}: freeze_k 1 with use_init_weight 0 would freeze a random key`);
}

export type { Activation } from '../activation.js';

/** The MLP activation of the model (the neuron uses it): GPT-2/GPT-J/NeoX read config.json, Llama/Qwen2 use SiLU. */
export const mlpActivation = (model: EditableModel) => modelActivation(model, 'T-Patcher');
