// One GRACE edit (Thartvigsen/GRACE grace/editors/grace.py, GRACE.edit, as its hallucination task drives it for a
// decoder-only model; EasyEdit's tokenize for the input):
//   input  = prompt + " " + target, labels = the input ids with -100 over the prompt's tokens;
//   key    = the layer's input at the key position, the prompt's last token ((labels == -100).sum() - 1);
//   place  = the codebook rules (codebook.ts) on iteration 0; warm values start from the layer's own output there,
//            cold values from torch.rand (the session's generator);
//   train  = n_iter steps of Adam (lr edit_lr, torch defaults) on the chosen value, each on the mean cross-entropy of
//            the target tokens (HF's shifted LM loss) with the adaptor replacing the output at the key position.
// The key placement reads the layer's input and output in a probing pass first: the same numbers the original reads
// inside its first training pass (the layer's input at the key position does not depend on the layer's output).
import { Adam, crossEntropy, keep, noGrad, rand, tensor, tidy, type Generator, type Tensor } from '../../tensor/index.js';
import type { CausalLM } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import type { NormalizedRequest } from '../request.js';
import type { EditDiagnostics, LossStep } from '../types.js';
import type { GraceAdaptor } from './adaptor.js';
import type { GraceHparams } from './hparams.js';

/** The tokens of one edit: input ids, key position and the label vector. */
export interface EditTokens {
  ids: number[];
  promptLength: number;
  keyPosition: number;
  label: number[];
}

export function editTokens(tok: Tokenizer, r: NormalizedRequest): EditTokens {
  const promptLength = tok.encode(r.text).length;
  const ids = tok.encode(r.text + r.targetNew);
  if (promptLength === 0) throw new Error(`GRACE: the prompt of request ${r.index} encodes to no tokens`);
  if (ids.length <= promptLength) throw new Error(`GRACE: request ${r.index}: the target '${r.targetNew}' adds no token after the prompt`);
  return { ids, promptLength, keyPosition: promptLength - 1, label: ids.map((t, i) => (i < promptLength ? -100 : t)) };
}

/** Mean cross-entropy of the target tokens given the prompt (labels -100 over the prompt, shifted by one). */
function targetLoss(model: CausalLM, t: EditTokens): Tensor {
  const { hidden } = model.forward({ inputIds: [t.ids], logits: 'none' });
  const n = t.ids.length - t.promptLength;
  const logits = model.logitsFrom(hidden.select(0, 0).narrow(0, t.promptLength - 1, n)).to('float32');
  return crossEntropy(logits, tensor(t.ids.slice(t.promptLength), { dtype: 'int64', device: logits.device }));
}

/** The layer's input and own output at the key position (row 0), from one pass with the adaptor capturing. */
function probe(model: CausalLM, adaptor: GraceAdaptor, t: EditTokens): { query: Tensor; output: Tensor } {
  adaptor.probe = { position: t.keyPosition };
  try {
    tidy(() => noGrad(() => { model.forward({ inputIds: [t.ids], logits: 'none' }); }));
    const { query, output } = adaptor.probe;
    if (!query || !output) throw new Error(`GRACE: the forward pass never reached '${adaptor.module}'`);
    return { query, output };
  } finally {
    adaptor.probe = undefined;
  }
}

/** Trains the value of `entry` for n_iter steps; returns the loss of every step (before its update). */
function trainValue(model: CausalLM, adaptor: GraceAdaptor, t: EditTokens, entry: number, h: GraceHparams): { losses: number[]; value: Tensor } {
  const value = keep(noGrad(() => adaptor.book.entries[entry].value.clone())).requiresGrad_(true);
  adaptor.training = { position: t.keyPosition, entry, value };
  const opt = new Adam([value], { lr: h.edit_lr });
  const losses: number[] = [];
  try {
    for (let i = 0; i < h.n_iter; i++) {
      losses.push(tidy(() => {
        const loss = targetLoss(model, t);
        loss.backward();
        opt.step();
        opt.zeroGrad();
        return loss.item();
      }));
    }
    return { losses, value: keep(noGrad(() => value.detach().clone())) };
  } finally {
    adaptor.training = undefined;
    opt.dispose();
    value.dispose();
  }
}

export interface EditOptions {
  editId: string;
  generator: Generator;
  recordVectors?: boolean;
  log?: (message: string) => void;
  /** Receives the edit's key (the query at the key position; the caller owns the copy). */
  onKey?: (query: Tensor) => void;
}

/** Edits one request into the adaptor's codebook (installed in the model by the caller). */
export function graceEdit(model: CausalLM, tok: Tokenizer, adaptor: GraceAdaptor, r: NormalizedRequest, h: GraceHparams, o: EditOptions): EditDiagnostics {
  const started = performance.now();
  const t = editTokens(tok, r);
  const { query, output } = probe(model, adaptor, t);
  o.onKey?.(query);
  try {
    // drawn for every edit, used or not, so the stream does not depend on the codebook's decisions
    const cold = h.val_init === 'cold' ? tidy(() => rand([output.shape[0]], { generator: o.generator, dtype: 'float32' }).to({ dtype: output.dtype, device: output.device })) : undefined;
    const placement = adaptor.book.place(query, t.label, o.editId, { eps: h.eps, expand: h.eps_expand }, () => (cold ?? output).clone());
    cold?.dispose();
    const { losses, value } = trainValue(model, adaptor, t, placement.entry, h);
    adaptor.book.change(placement.entry, o.editId, { value });
    const lossTrace: LossStep[] = losses.map((loss, step) => ({ step, loss, nll: loss, kl: 0, weightDecay: 0, avgProbTarget: Math.exp(-loss) }));
    o.log?.(`GRACE ${o.editId}: ${placement.action} (entry ${placement.entry}), loss ${losses[0].toFixed(4)} → ${losses[losses.length - 1].toFixed(4)}, ${adaptor.book.size} keys`);
    const norms = tidy(() => ({ key: query.norm().item(), valueInit: output.norm().item(), value: value.norm().item() }));
    return {
      caseId: r.caseId, prompt: r.text, targetNew: r.targetNew, seconds: (performance.now() - started) / 1000, lossTrace, norms,
      extra: {
        action: placement.action, entry: placement.entry, nearest: placement.nearest, distance: placement.distance,
        keyPosition: t.keyPosition, codebookSize: adaptor.book.size, epsilons: adaptor.book.epsilons(),
        lossFirst: losses[0], lossLast: losses[losses.length - 1],
        ...(o.recordVectors ? { vectors: { key: query.toFlatArray(), value: value.toFlatArray() } } : {}),
      },
    };
  } finally {
    query.dispose();
    output.dispose();
  }
}
