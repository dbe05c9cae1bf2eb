// The trainer's hparams, with EasyEdit's trainer field names (easyeditor/trainer: lr, batch_size, val_interval,
// early_stop_patience, early_stop_key, max_iters, max_epochs, grad_clip, opt, val_steps, log_interval,
// model_save_pt, archive). A trained method's schema spreads TRAINING_FIELDS into its own.
import type { Schema } from './hparams.js';

export interface TrainingHparams {
  /** Path of the trained editor (directory or editor.safetensors) the method edits with. */
  archive: string | null;
  /** Learning rate of the editor's main parameter group. */
  lr: number;
  /** Training records per step (EasyEdit's batch_size). */
  batch_size: number;
  /** Accumulate gradients over this many records per optimiser step (EasyEdit's accumulate_bs; ≥ batch_size). */
  accumulate_bs: number;
  /** Optimiser: only Adam (EasyEdit's default). */
  opt: string;
  /** Clip the gradient's global L2 norm to this (EasyEdit's grad_clip). */
  grad_clip: number;
  /** Stop after this many optimiser steps. */
  max_iters: number;
  /** Stop after this many passes over the training records. */
  max_epochs: number;
  /** Stop (after the step in progress) once training has run this long; 0 = no limit. */
  max_train_seconds: number;
  /** Validate every this many steps. */
  val_interval: number;
  /** Validation records (the first of the validation split). */
  val_steps: number;
  /** Stop when `early_stop_key` has not improved for this many validations. */
  early_stop_patience: number;
  /** The validation metric early stopping and the saved editor follow (higher is better). */
  early_stop_key: string;
  /** Log every this many steps. */
  log_interval: number;
  /** Write a resumable checkpoint every this many steps. */
  model_save_pt: number;
  /** Learning-rate schedule over max_iters: 'constant', 'linear' (warm-up then linear decay) or 'cosine'. */
  lr_scheduler: string;
  warmup_steps: number;
  /** Seed of initialisation, batch order and every per-step draw. */
  seed: number;
}

export const TRAINING_FIELDS: Schema = {
  archive: { type: 'string|null', default: null, doc: 'trained editor directory (lmedit train --out; --editor on the command line)' },
  lr: { type: 'number', default: 1e-4, exclusiveMin: 0 },
  batch_size: { type: 'integer', default: 10, min: 1 },
  accumulate_bs: { type: 'integer', default: 10, min: 1 },
  opt: { type: 'string', default: 'Adam' },
  grad_clip: { type: 'number', default: 100, exclusiveMin: 0 },
  max_iters: { type: 'integer', default: 1000, min: 1 },
  max_epochs: { type: 'integer', default: 100, min: 1 },
  max_train_seconds: { type: 'number', default: 0, min: 0 },
  val_interval: { type: 'integer', default: 50, min: 1 },
  val_steps: { type: 'integer', default: 100, min: 1 },
  early_stop_patience: { type: 'integer', default: 5, min: 1 },
  early_stop_key: { type: 'string', default: 'edit_success' },
  log_interval: { type: 'integer', default: 10, min: 1 },
  model_save_pt: { type: 'integer', default: 50, min: 1 },
  lr_scheduler: { type: 'string', default: 'constant' },
  warmup_steps: { type: 'integer', default: 0, min: 0 },
  seed: { type: 'integer', default: 0, min: 0 },
};
