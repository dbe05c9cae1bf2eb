// A one-layer bidirectional LSTM from tensor ops (lmedit has no LSTM module), as KE's condition encoder uses it:
// torch.nn.LSTM(batch_first, bidirectional, num_layers 1) wrapped by AllenNLP's PytorchSeq2VecWrapper, which returns
// each direction's final hidden state over the real (unpadded) tokens, concatenated [forward, backward].
//
// Cell (PyTorch's gate order i, f, g, o):
//   gates = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh;  i, f, g, o = split(gates, 4)
//   c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g);  h' = σ(o) ⊙ tanh(c')
// Padding (mask 0) leaves a row's state unchanged, which gives packed-sequence semantics for right padding: the
// forward direction's final state is the one after the last real token, and the backward direction starts from the
// zero state at the last real token.
import { cat, keep, rand, zeros, type Generator, type Tensor } from '../../tensor/index.js';

export interface LstmDirection {
  /** [4H, in] */
  wIh: Tensor;
  /** [4H, H] */
  wHh: Tensor;
  /** [4H] */
  bIh: Tensor;
  /** [4H] */
  bHh: Tensor;
}

/** uniform(-k, k), like PyTorch's LSTM and Linear initialisation. */
export function uniform(shape: number[], k: number, generator: Generator): Tensor {
  const r = rand(shape, { generator });
  const out = keep(r.mul(2 * k).sub(k));
  r.dispose();
  return out;
}

/** One direction's weights, initialised as torch.nn.LSTM does: every tensor uniform(-1/√H, 1/√H). */
export function initDirection(inputSize: number, hidden: number, generator: Generator): LstmDirection {
  const k = 1 / Math.sqrt(hidden);
  return {
    wIh: uniform([4 * hidden, inputSize], k, generator),
    wHh: uniform([4 * hidden, hidden], k, generator),
    bIh: uniform([4 * hidden], k, generator),
    bHh: uniform([4 * hidden], k, generator),
  };
}

/** One LSTM step: (x [B, in], h [B, H], c [B, H]) → (h', c'). */
export function lstmCell(d: LstmDirection, x: Tensor, h: Tensor, c: Tensor): { h: Tensor; c: Tensor } {
  const gates = x.matmul(d.wIh.t()).add(d.bIh).add(h.matmul(d.wHh.t())).add(d.bHh);
  const [i, f, g, o] = gates.chunk(4, -1);
  const c2 = f.sigmoid().mul(c).add(i.sigmoid().mul(g.tanh()));
  return { h: o.sigmoid().mul(c2.tanh()), c: c2 };
}

/**
 * Final hidden state of one direction over x [B, T, in] with mask [B, T] (1 = token, 0 = padding): steps in order
 * (or reversed), a padded step keeps the state.
 */
export function runDirection(d: LstmDirection, x: Tensor, mask: Tensor, reverse: boolean): Tensor {
  const [B, T] = x.shape;
  const H = d.wHh.shape[1];
  let h: Tensor = zeros([B, H], { dtype: x.dtype, device: x.device });
  let c: Tensor = h;
  for (let s = 0; s < T; s++) {
    const t = reverse ? T - 1 - s : s;
    const m = mask.select(1, t).unsqueeze(1);
    const next = lstmCell(d, x.select(1, t), h, c);
    h = next.h.mul(m).add(h.mul(m.rsub(1)));
    c = next.c.mul(m).add(c.mul(m.rsub(1)));
  }
  return h;
}

/** [B, 2H]: the forward and backward final states, concatenated (PytorchSeq2VecWrapper's output). */
export function biLstm(fwd: LstmDirection, bwd: LstmDirection, x: Tensor, mask: Tensor): Tensor {
  const m = mask.to(x.dtype);
  return cat([runDirection(fwd, x, m, false), runDirection(bwd, x, m, true)], -1);
}
