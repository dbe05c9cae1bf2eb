// CaliNet hyper-parameters. EasyEdit does not ship CaliNet, so the names are the original code's
// (dqxiu/CaliNet train_calinet/run_kb_t5_freeze.py `--kb_layer --ex_size`, and the HF training arguments of
// train_calinet/bash/t5_train_kb_f.sh: `--learning_rate --max_steps --adafactor --weight_decay`), plus what the causal
// setting needs (activation, gated, mlp_module_tmp) and one lmedit addition (stop_loss). docs/calinet.md says what
// each one does here.
import { CausalLM, type EditableModel } from '../../models/index.js';
import type { Schema } from '../hparams.js';

export type Activation = 'relu' | 'gelu' | 'gelu_new' | 'silu';
export const ACTIVATIONS: readonly Activation[] = ['relu', 'gelu', 'gelu_new', 'silu'];

export interface CalinetHparams {
  /** Layers whose FFN gets a calibration FFN beside it (the original's comma-separated `kb_layer`). */
  kb_layer: number[];
  /** Calibration memory slots per layer: the side FFN's hidden width (`ex_size`, the README's "dim"). */
  ex_size: number;
  learning_rate: number;
  /** Optimisation steps over the whole batch of facts (full-batch; the original's `max_steps`). */
  max_steps: number;
  /** Adafactor (scale_parameter / relative_step off, as the original's Trainer) when true, else AdamW. */
  adafactor: boolean;
  weight_decay: number;
  /** The side FFN's activation; the original uses its host FFN's (T5: relu, T5 v1.1: gated gelu_new). */
  activation: Activation;
  /** Gated side FFN act(x·K0) ⊙ (x·K1) · V, as the original's T5DenseGatedGeluDenseEx (for gated hosts: Llama). */
  gated: boolean;
  /** MLP module template ({} = layer); '' = the architecture's (transformer.h.{}.mlp, model.layers.{}.mlp, …). */
  mlp_module_tmp: string;
  /** lmedit addition: stop once the mean target loss of a step is below this (0 = never: the original). */
  stop_loss: number;
}

export const CALINET_SCHEMA: Schema = {
  kb_layer: { type: 'integer[]', min: 0, minItems: 1, doc: 'layers whose MLP gets a calibration FFN' },
  ex_size: { type: 'integer', default: 64, min: 1, doc: 'calibration memory slots per layer' },
  learning_rate: { type: 'number', default: 1e-2, exclusiveMin: 0 },
  max_steps: { type: 'integer', default: 5000, min: 1 },
  adafactor: { type: 'boolean', default: true },
  weight_decay: { type: 'number', default: 0, min: 0 },
  activation: { type: 'string', default: 'relu', doc: ACTIVATIONS.join(' | ') },
  gated: { type: 'boolean', default: false },
  mlp_module_tmp: { type: 'string', default: '' },
  stop_loss: { type: 'number', default: 0, min: 0 },
};

/** The MLP module of `layer` on this model. */
/** A T5's FFN behind its layer norm, in the decoder (the original adds CaliNet to decoder blocks only). */
export const T5_FFN_TEMPLATE = 'decoder.block.{}.layer.2.DenseReluDense';

const defaultMlp = (model: EditableModel) => (model instanceof CausalLM ? model.templates.mlp : T5_FFN_TEMPLATE);

export function calinetModulePath(model: EditableModel, h: Pick<CalinetHparams, 'mlp_module_tmp'>, layer: number): string {
  const tmp = h.mlp_module_tmp || defaultMlp(model);
  return tmp.replace('{}', String(layer));
}

/** Checks the hparams against the model; every error names the file and the field. */
export function checkCalinetHparams(model: EditableModel, h: CalinetHparams, source: string): void {
  if (!Array.isArray(h.kb_layer) || h.kb_layer.length === 0) throw new Error(`${source}: kb_layer must list at least one layer`);
  const n = model.dims.numLayers;
  const bad = h.kb_layer.filter((l) => !Number.isInteger(l) || l < 0 || l >= n);
  if (bad.length) throw new Error(`${source}: kb_layer ${JSON.stringify(bad)} out of range: this ${model.modelType} model has layers 0-${n - 1}`);
  if (new Set(h.kb_layer).size !== h.kb_layer.length) throw new Error(`${source}: kb_layer lists a layer twice: ${JSON.stringify(h.kb_layer)}`);
  if (!ACTIVATIONS.includes(h.activation)) throw new Error(`${source}: activation must be one of ${ACTIVATIONS.join(', ')}, got '${h.activation}'`);
  if (!(h.ex_size >= 1)) throw new Error(`${source}: ex_size must be >= 1, got ${h.ex_size}`);
  if (!(h.learning_rate > 0)) throw new Error(`${source}: learning_rate must be > 0, got ${h.learning_rate}`);
  if (h.mlp_module_tmp && !h.mlp_module_tmp.includes('{}')) throw new Error(`${source}: mlp_module_tmp '${h.mlp_module_tmp}' has no '{}' for the layer`);
  const known = model.modulePaths();
  for (const l of h.kb_layer) {
    const path = calinetModulePath(model, h, l);
    if (!known.includes(path)) {
      throw new Error(`${source}: mlp_module_tmp names the module '${path}', which this ${model.modelType} model does not have ` +
        `(its MLP is '${defaultMlp(model)}'; see \`lmedit inspect\`)`);
    }
  }
}
