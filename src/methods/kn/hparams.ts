// KN hyper-parameters (EasyEdit easyeditor/models/kn/kn_hparams.py; hparams/KN/*.yaml), plus the fields this port adds:
// where the neurons are read (module templates) and a cap on how many are edited.
import type { Schema } from '../hparams.js';

export interface KnHparams {
  /** Scales ΔW (EasyEdit reads lr_scale but never uses it; every published file sets 1.0, which is EasyEdit's edit). */
  lr_scale: number;
  /** EasyEdit field, read and unused by its code; accepted and ignored. */
  n_toks: number;
  /** Keep only neurons found for more than p · (number of prompts) prompts; false keeps every coarse neuron. */
  refine: boolean;
  /** Integrated-gradient points per layer and answer token (α = linspace(0, 1, steps)); a multiple of batch_size. */
  steps: number;
  /** Scaled copies of the prompt per forward pass. */
  batch_size: number;
  /** Coarse neurons: attribution > adaptive_threshold · (the largest attribution over all layers). */
  adaptive_threshold: number;
  /** Sharing fraction for refine. */
  p: number;
  /** At most this many neurons are edited (the largest attributions); more are dropped with a note in the diagnostics. */
  max_neurons: number;
  /** The FFN down-projection ({} = layer): its input units are the neurons, its weight rows/columns are edited. '' = the architecture's. */
  rewrite_module_tmp: string;
  /**
   * Where the neuron activations are intervened on: '' (default) = the input of rewrite_module_tmp (the activation
   * after the nonlinearity, gated for Llama: the paper's intermediate neurons); a module template instead = that
   * module's output (EasyEdit/EleutherAI hook `mlp.c_fc` / `mlp.fc_in` / `mlp.gate_proj`: the pre-activation).
   */
  input_ff_module_tmp: string;
  /** Word embedding matrix whose rows are added/subtracted. '' = the architecture's input embedding (EasyEdit's choice). */
  word_embeddings_param: string;
}

export const KN_SCHEMA: Schema = {
  lr_scale: { type: 'number', default: 1.0, doc: 'scales ΔW; 1.0 = EasyEdit (which reads the field but never uses it)' },
  n_toks: { type: 'integer', default: 10, min: 1, doc: 'EasyEdit field, unused' },
  refine: { type: 'boolean', default: false },
  steps: { type: 'integer', default: 20, min: 1, doc: 'integrated-gradient points per layer (a multiple of batch_size)' },
  adaptive_threshold: { type: 'number', default: 0.2, min: 0, doc: 'coarse neurons: attribution > adaptive_threshold × max attribution' },
  p: { type: 'number', default: 0.4, min: 0, doc: 'refine: keep neurons shared by more than p × n_prompts prompts (0 <= p < 1)' },
  max_neurons: { type: 'integer', default: 200, min: 1, doc: 'edit at most this many neurons (the largest attributions)' },
  rewrite_module_tmp: { type: 'string', default: '', doc: "the FFN down-projection ({} = layer); '' = the architecture's" },
  input_ff_module_tmp: { type: 'string', default: '', doc: "module whose output holds the neurons; '' = the down-projection's input" },
  word_embeddings_param: { type: 'string', default: '', doc: "embedding matrix of the targets; '' = the architecture's input embedding" },
};
