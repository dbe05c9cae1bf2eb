// The contract every editing method implements, shaped for the whole roadmap (docs/methods.md):
// a method computes an edit against the model's current state and returns what the edit *is* — weight deltas
// today (ROME, MEMIT, FT); installed modules and inference-time wrappers later (GRACE, SERAC, IKE). The Editor
// applies it, records it for restore/rollback, and measures; methods never evaluate and never roll back silently.
import type { Tensor } from '../tensor/index.js';
import type { CausalLM, EditableModel } from '../models/index.js';
import type { ModulePatch, PatchState } from '../models/patch.js';
import type { GenerateOptions, ScoreOptions, TextGeneration, TextModel, TextScoreRequest, TextScoreResult } from '../models/index.js';
import type { Tokenizer } from '../io/tokenizer.js';
import type { NormalizedRequest } from './request.js';
import type { Schema } from './hparams.js';
import type { ValueCache } from './value-cache.js';
import type { TrainedMethod } from './trained.js';

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

/**
 * What an edit *is*, as a method computes it. The EditedModel applies it and can undo it:
 * - `deltas`: weight changes (ROME, MEMIT, FT), applied in place with the original values kept (bit-exact undo);
 * - `patches`: modules installed into the forward pass (GRACE, T-Patcher); a patch that holds items of several
 *   edits (`removeEdit`) is installed once and shared, the others belong to this edit alone;
 * - `wrapper`: an inference wrapper around the text-level model (IKE, SERAC, MemPrompt), shared the same way.
 */
export interface Edit {
  deltas: WeightDelta[];
  patches?: ModulePatch[];
  wrapper?: InferenceWrapper;
  diagnostics: EditDiagnostics[];
  /** Keys of the second-moment statistics used (recorded with every result). */
  statsKeys: string[];
  /**
   * What the method's later edits read back from this one (AlphaEdit: the keys it wrote, per layer). Each tensor is a
   * matrix whose columns are items: the memory of several edits is their column-wise concatenation, which is how a
   * checkpoint by values keeps it. Saved with the edit and handed back through ComputeContext.previous.
   */
  memory?: Record<string, Tensor>;
}

/** @deprecated the old name of Edit. */
export type MethodResult = Edit;

/**
 * Text-level `score`/`generate` around an inner model (the base with its weight edits and patches): what an
 * in-context or retrieval editor changes is the text the weights see. Wrappers of several edits are one object that
 * holds every edit's items (IKE's facts) tagged by edit id.
 */
export interface InferenceWrapper {
  /** Loader name for EditedModel.load (the method's alg_name). */
  readonly kind: string;
  score(inner: TextModel, requests: TextScoreRequest[], opts?: ScoreOptions): TextScoreResult[];
  generate(inner: TextModel, prompts: string[], opts?: GenerateOptions): TextGeneration[];
  /** Everything needed to rebuild it (tensors are read, not taken). */
  state(): PatchState;
  /** Drops what edit `editId` added. */
  removeEdit?(editId: string): void;
  editIds?(): string[];
  dispose(): void;
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

export interface SessionContext {
  tokenizer: Tokenizer;
  stats?: SecondMomentProvider;
  /** Seed for everything random in the method (context-template sampling, value initialisation). */
  seed: number;
  /** Progress/verbose messages. */
  log?: (message: string) => void;
  /** Put the raw key/value vectors into diagnostics.extra.vectors (for comparisons with a reference). */
  recordVectors?: boolean;
  /**
   * Demonstrations / training records for methods that need a pool disjoint from the evaluated cases (IKE's
   * demonstration pool): normalized requests with their rephrases and locality probes.
   */
  pool?: NormalizedRequest[];
}

export interface ComputeContext {
  /** The id the edit will be recorded under (items of shared patches and wrappers are tagged with it). */
  editId: string;
  /**
   * Optimised values computed earlier against the same weights (value-cache.ts). The Editor passes one only while
   * its model is unedited; methods that optimise a value per request (ROME, MEMIT) read and fill it.
   */
  valueCache?: ValueCache;
  /**
   * The active edits already applied, in order (a rolled-back edit is absent, a replayed state file's are present):
   * methods whose update depends on earlier edits (AlphaEdit's accumulated keys) read their `memory` here instead of
   * keeping it, so that rollback and resumed runs need nothing more.
   */
  previous?: readonly Edit[];
}

/** The context methods computed edits with before sessions (kept for the ROME/MEMIT building blocks). */
export type EditContext = SessionContext & Partial<ComputeContext>;

/**
 * A method opened on one model: holds what lives across edits (context templates, C⁻¹, a codebook, a memory) and is
 * disposed with the editor. Never module globals.
 */
export interface MethodSession {
  /**
   * Computes the edit of the requests against the model's current state (weights and installed patches). Weight
   * methods leave the model unchanged; methods with a shared patch or wrapper add this edit's items to it, tagged with
   * `ctx.editId`, and return it.
   */
  compute(requests: NormalizedRequest[], ctx: ComputeContext): Edit;
  /**
   * Called before the model is first changed other than by this session's own edits (a resumed run adopting saved
   * weights): compute now whatever must come from the unedited model (ROME's sampled context templates).
   */
  prepare?(): void;
  /**
   * Called after saved edits were replayed onto the model (Editor.loadState): take over installed patches of this
   * method (a GRACE codebook) so that later edits extend them.
   */
  adopt?(model: { patches(): ModulePatch[]; inferenceWrappers(): readonly InferenceWrapper[] }): void;
  dispose(): void;
}

export interface EditMethod<H = any> {
  /** Name as in EasyEdit's alg_name (ROME, MEMIT, FT). */
  name: string;
  /** Fields of the hparams file beyond the common ones. */
  schema: Schema;
  /** Checks hparams against the model (layers in range, module templates exist). */
  check(model: EditableModel, hparams: H, source: string): void;
  /**
   * 'sequential': requests are edited one after another, each against the state left by the previous one
   * (ROME's apply loop); 'batch': one computation for all requests (MEMIT, FT).
   */
  batching: 'sequential' | 'batch';
  /**
   * The method also edits encoder-decoder models (T5). Without it the Editor refuses a T5 with an error naming the
   * methods that do; the method's own functions may then assume a CausalLM.
   */
  encoderDecoder?: boolean;
  /** Opens a session on the model (its current patches included: a loaded GRACE codebook is adopted). */
  open(model: EditableModel, hparams: H, ctx: SessionContext): MethodSession;
  /** Rebuilds a saved patch of this method (EditedModel.load). */
  loadPatch?(state: PatchState, model: EditableModel, hparams: H): ModulePatch;
  /** Rebuilds a saved inference wrapper of this method (EditedModel.load). */
  loadWrapper?(state: PatchState, model: EditableModel, hparams: H): InferenceWrapper;
  /** For trained editors (MEND, KE, SERAC): how `lmedit train` builds the editor it optimises (src/methods/trained.ts). */
  trained?: TrainedMethod<H>;
}
