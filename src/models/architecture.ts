// What one architecture file provides (registry.ts maps config.model_type to it).
import type { Tensor } from '../tensor/index.js';
import type { Hooks } from './trace.js';
import type { LayerCache } from './layers.js';

/** Architecture-independent facts every editing method needs, read from config.json. */
export interface ModelDims {
  numLayers: number;
  hiddenSize: number;
  /** Width of the MLP's hidden layer: the down-projection's input (ROME's key dimension). */
  intermediateSize: number;
  vocabSize: number;
  numHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  /** Longest sequence the position scheme supports (learned positions), or the config's max_position_embeddings. */
  maxPositions: number;
}

/**
 * Module paths of the parts editing methods address, as EasyEdit/ROME hparams name them ({} = layer index).
 * `rewriteModule` is the MLP down-projection whose weight ROME/MEMIT edit.
 */
export interface ModuleTemplates {
  layer: string;
  mlp: string;
  attn: string;
  rewriteModule: string;
  /** How the rewrite module's weight is stored: 'in_out' for GPT-2's Conv1D [in, out], 'out_in' for nn.Linear. */
  rewriteWeightLayout: 'in_out' | 'out_in';
  /** Module whose output holds the MLP's hidden activations (KN scales these). */
  mlpActivation: string;
  lnF: string;
  lmHead: string;
  embed: string;
  /** Hook path of the module that produces the logits (HF's name: `lm_head`, or `embed_out` for GPT-NeoX). */
  logits: string;
}

/** One forward pass's inputs as the architecture sees them. */
export interface ForwardState {
  inputIds: Tensor;
  positionIds: Tensor;
  /** bool [B, 1, T, S]: true where a query must not see a key. */
  blocked: Tensor;
  past: LayerCache[] | undefined;
  useCache: boolean;
  hooks: Hooks;
  /** Parameter by Hugging Face name. */
  p: (name: string) => Tensor;
  /** Called with the residual stream after the embeddings and after every block (before the final norm). */
  onResidual?: (h: Tensor) => void;
}

export interface ArchitectureOutput {
  /** Final hidden states after the last norm, [B, T, d]. */
  hidden: Tensor;
  cache?: LayerCache[];
}

export interface Architecture<C = any> {
  modelType: string;
  /** Positions are a learned table (GPT-2): sequences beyond dims.maxPositions cannot be embedded. */
  learnedPositions?: boolean;
  /** Validates config.json fields and derives the typed config. */
  parseConfig(raw: Record<string, any>, file: string): C;
  dims(c: C): ModelDims;
  templates: ModuleTemplates;
  /** Every parameter the checkpoint must hold, with its shape. */
  parameterShapes(c: C): Map<string, number[]>;
  /** Canonical HF name for a checkpoint tensor name; null for buffers to ignore (causal-mask biases, inv_freq). */
  canonicalName(name: string, c: C): string | null;
  /** Every module path the trace API accepts. */
  modulePaths(c: C): string[];
  forward(c: C, s: ForwardState): ArchitectureOutput;
  /** Logits from final hidden states [.., d] → [.., V] (the 'lm_head' module). */
  lmHead(c: C, p: (name: string) => Tensor, hidden: Tensor): Tensor;
}

/** Reads a required positive integer config field; the error names the file and field. */
export function configInt(raw: Record<string, any>, key: string, file: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${file}: field '${key}' must be a positive integer, got ${JSON.stringify(raw[key])}`);
  return v;
}

export function configNumber(raw: Record<string, any>, key: string, file: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${file}: field '${key}' must be a number, got ${JSON.stringify(raw[key])}`);
  return v;
}

/** Expands a template like `transformer.h.{}.mlp` for every layer. */
export function perLayer(template: string, layers: number): string[] {
  return Array.from({ length: layers }, (_, i) => template.replace('{}', String(i)));
}
