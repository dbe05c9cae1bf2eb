// The contract every editing method implements, shaped for the whole roadmap (docs/methods.md):
// a method computes an edit against the model's current state and returns what the edit *is* — weight deltas
// today (ROME, MEMIT, FT); installed modules and inference-time wrappers later (GRACE, SERAC, IKE). The Editor
// applies it, records it for restore/rollback, and measures; methods never evaluate and never roll back silently.
import type { Tensor } from '../tensor/index.js';
import type { CausalLM } from '../models/index.js';
import type { Tokenizer } from '../io/tokenizer.js';
import type { NormalizedRequest } from './request.js';
import type { Schema } from './hparams.js';
import type { ValueCache } from './value-cache.js';

/** One optimisation step of a value/fine-tuning loop, as the reference prints it. */
export interface LossStep {
  step: number;
  loss: number;
  nll: number;
  kl: number;
  weightDecay: number;
  /** mean over prompts of exp(-mean target NLL) */
  avgProbTarget: number;
}

/**
 * A change to one parameter, in the parameter's own layout: ΔW = left · rightᵀ when the change is exactly low
 * rank (ROME: rank 1; MEMIT: rank ≤ batch), else `dense`.
 */
export interface WeightDelta {
  param: string;
  left?: Tensor;
  right?: Tensor;
  dense?: Tensor;
}

export interface EditDiagnostics {
  caseId?: string | number;
  /** The request with the subject filled in. */
  prompt: string;
  targetNew: string;
  /** Seconds spent computing this request's edit (shared by a batch: the batch time divided evenly). */
  seconds: number;
  lossTrace?: LossStep[];
  /** Named norms (e.g. kStar, u, vStar, deltaV, rightVector, deltaW) for spotting degenerate edits. */
  norms?: Record<string, number>;
  /** Method-specific values (lookup indices, templates used, …). */
  extra?: Record<string, unknown>;
}

export interface MethodResult {
  deltas: WeightDelta[];
  diagnostics: EditDiagnostics[];
  /** Key of the second-moment statistics used, or null when none were (recorded with every result). */
  statsKeys: string[];
}

/** Uncentered second moment C = E[k kᵀ] of a module's input, with the cache key it was stored under. */
export interface SecondMoment {
  mom2: Tensor;
  count: number;
  key: string;
}

/** Supplies C for a layer's rewrite module (computed or read from the cache by src/stats). */
export interface SecondMomentProvider {
  get(model: CausalLM, moduleName: string): SecondMoment;
}

export interface EditContext {
  tokenizer: Tokenizer;
  stats?: SecondMomentProvider;
  /** Seed for everything random in the method (context-template sampling). */
  seed: number;
  /** Progress/verbose messages. */
  log?: (message: string) => void;
  /** Put the raw key/value vectors into diagnostics.extra.vectors (for comparisons with a reference). */
  recordVectors?: boolean;
  /**
   * Optimised values computed earlier against the same weights (value-cache.ts). The Editor passes one only while
   * its model is unedited; methods that optimise a value per request (ROME, MEMIT) read and fill it.
   */
  valueCache?: ValueCache;
}

export interface EditMethod<H = any> {
  /** Name as in EasyEdit's alg_name (ROME, MEMIT, FT). */
  name: string;
  /** Fields of the hparams file beyond the common ones. */
  schema: Schema;
  /** Checks hparams against the model (layers in range, module templates exist). */
  check(model: CausalLM, hparams: H, source: string): void;
  /**
   * 'sequential': requests are edited one after another, each against the weights left by the previous one
   * (ROME's apply loop); 'batch': one computation for all requests (MEMIT, FT).
   */
  batching: 'sequential' | 'batch';
  /** Computes the edit for the requests against the model's current weights; leaves the model unchanged. */
  compute(model: CausalLM, requests: NormalizedRequest[], hparams: H, ctx: EditContext): MethodResult;
}
