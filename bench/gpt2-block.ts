// One GPT-2-small transformer block (pre-LN, causal attention, GELU-tanh MLP), written with the TypeScript API,
// plus an independent reference written with different ops to check it. The block is the same computation as
// gpt2Block in native/bench.cc, op for op, so the TS-vs-C++ timing ratio measures only the binding's overhead.
import {
  Generator, cat, full, layerNorm, linear, noGrad, ones, randn, tidy, type DType, type Tensor,
} from '../src/tensor/index.js';

/** GPT-2 small: d 768, 12 heads, MLP 3072; 128 tokens, batch 1. */
export const GPT2_SMALL = { tokens: 128, d: 768, heads: 12, mlp: 3072 };

/**
 * Block parameters in native/bench.cc's order, weights as nn.Linear [out, in]:
 * ln1.w, ln1.b, attn.w [3d,d], attn.b, proj.w [d,d], proj.b, ln2.w, ln2.b, fc.w [4d,d], fc.b, fc2.w [d,4d], fc2.b
 */
export interface BlockInputs {
  x: Tensor;
  params: Tensor[];
  /** Additive causal mask [T, T]: 0 on and below the diagonal, -1e9 above; same dtype as x. */
  mask: Tensor;
  heads: number;
}

/** Random inputs (seeded), every parameter a leaf with requiresGrad. Not tracked by any scope: dispose them. */
export function makeBlockInputs(dtype: DType, seed = 0): BlockInputs {
  const { tokens: T, d, heads, mlp } = GPT2_SMALL;
  const g = new Generator(seed);
  const make = (shape: number[], scale: number, offset = 0): Tensor => tidy(() => {
    const r = randn(shape, { generator: g }).mul(scale);
    return (offset === 0 ? r : r.add(offset)).to(dtype).requiresGrad_(true);
  });
  const params = [
    make([d], 0.1, 1), make([d], 0.02),
    make([3 * d, d], 0.02), make([3 * d], 0.02),
    make([d, d], 0.02), make([d], 0.02),
    make([d], 0.1, 1), make([d], 0.02),
    make([mlp, d], 0.02), make([mlp], 0.02),
    make([d, mlp], 0.02), make([d], 0.02),
  ];
  const x = tidy(() => randn([T, d], { generator: g }).to(dtype));
  const mask = tidy(() => full([T, T], -1e9, { dtype }).triu(1));
  return { x, params, mask, heads };
}

export function disposeBlockInputs(b: BlockInputs): void {
  for (const t of [b.x, b.mask, ...b.params]) t.dispose();
}

/** The block, line for line as gpt2Block in native/bench.cc. */
export function gpt2Block(x: Tensor, p: Tensor[], heads: number, mask: Tensor): Tensor {
  const [T, d] = x.shape;
  const hd = d / heads;
  const h = layerNorm(x, [d], p[0], p[1], 1e-5);
  const [q, k, v] = linear(h, p[2], p[3]).split(d, -1).map((t) => t.view(T, heads, hd).transpose(0, 1));
  const scores = q.matmul(k.transpose(-1, -2)).mul(1 / Math.sqrt(hd)).add(mask);
  const attn = scores.softmax(-1).matmul(v).transpose(0, 1).reshape(T, d);
  const x1 = x.add(linear(attn, p[4], p[5]));
  const h2 = layerNorm(x1, [d], p[6], p[7], 1e-5);
  const m = linear(linear(h2, p[8], p[9]).gelu('tanh'), p[10], p[11]);
  return x1.add(m);
}

/** One timed step: forward under noGrad, or forward + loss = mean(out²) + backward to all 12 parameters. */
export function blockStep(b: BlockInputs, backward: boolean): void {
  if (backward) {
    tidy(() => {
      gpt2Block(b.x, b.params, b.heads, b.mask).pow(2).mean().backward();
    });
    for (const p of b.params) p.grad = undefined;
  } else {
    noGrad(() => tidy(() => {
      gpt2Block(b.x, b.params, b.heads, b.mask);
    }));
  }
}

// ---- reference ---------------------------------------------------------------------------------------------

/** Written from the formulas with other ops: per-head loop, explicit LN/softmax/GELU, masked_fill, matmul(w.t()). */
function referenceBlock(x: Tensor, p: Tensor[], heads: number): Tensor {
  const [T, d] = x.shape;
  const hd = d / heads;
  const norm = (t: Tensor, w: Tensor, b: Tensor): Tensor => {
    const mu = t.mean(-1, true);
    const centered = t.sub(mu);
    return centered.mul(centered.square().mean(-1, true).add(1e-5).rsqrt()).mul(w).add(b);
  };
  const dense = (t: Tensor, w: Tensor, b: Tensor): Tensor => t.matmul(w.t()).add(b);
  const geluTanh = (t: Tensor): Tensor =>
    t.mul(0.5).mul(t.add(t.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI)).tanh().add(1));
  const future = ones([T, T], { dtype: 'bool' }).triu(1);
  const qkv = dense(norm(x, p[0], p[1]), p[2], p[3]);
  const perHead: Tensor[] = [];
  for (let i = 0; i < heads; i++) {
    const q = qkv.narrow(1, i * hd, hd);
    const k = qkv.narrow(1, d + i * hd, hd);
    const v = qkv.narrow(1, 2 * d + i * hd, hd);
    const s = q.matmul(k.t()).div(Math.sqrt(hd)).maskedFill(future, -Infinity);
    const e = s.sub(s.max(-1, true).values).exp();
    perHead.push(e.div(e.sum(-1, true)).matmul(v));
  }
  const x1 = x.add(dense(cat(perHead, 1), p[4], p[5]));
  return x1.add(dense(geluTanh(dense(norm(x1, p[6], p[7]), p[8], p[9])), p[10], p[11]));
}

export interface BlockCheck {
  /** max |TS block − reference| over the output, relative to max |reference|. */
  forwardRelErr: number;
  /** The same for the gradients of mean(out²), worst of the 12 parameters. */
  gradRelErr: number;
}

/**
 * Checks the TS block (float32) against the reference computed in float64 from the same values: output and the
 * gradients of mean(out²) with respect to all 12 parameters.
 */
export function checkBlock(): BlockCheck {
  const b32 = makeBlockInputs('float32', 1);
  try {
    return tidy(() => {
      const p64 = b32.params.map((p) => p.detach().double().requiresGrad_(true));
      const out = gpt2Block(b32.x, b32.params, b32.heads, b32.mask);
      out.pow(2).mean().backward();
      const ref = referenceBlock(b32.x.double(), p64, b32.heads);
      ref.pow(2).mean().backward();
      const relErr = (a: Tensor, r: Tensor): number => a.double().sub(r).abs().max().item() / r.abs().max().item();
      const forwardRelErr = relErr(out.detach(), ref.detach());
      const gradRelErr = Math.max(...b32.params.map((p, i) => relErr(p.grad!, p64[i].grad!)));
      return { forwardRelErr, gradRelErr };
    });
  } finally {
    disposeBlockInputs(b32);
  }
}
