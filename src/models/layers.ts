// Pieces shared by the architectures: masks and position ids under padding, multi-head attention with grouped
// key/value heads, rotary embeddings in both layouts, RMSNorm. Conventions: ../shared/data/golden/ARCHITECTURES.md.
import {
  arange, cat, noGrad, stack, tensor, type DType, type Tensor,
} from '../tensor/index.js';

/** Per-layer key/value cache: keys after rotary, shape [B, KV, S, hd]. */
export interface LayerCache {
  k: Tensor;
  v: Tensor;
}

/** The most negative finite value of a dtype: masked scores use it instead of -inf (no NaN rows under padding). */
export function minValue(dtype: DType): number {
  switch (dtype) {
    case 'float64': return -1.7976931348623157e308;
    case 'float16': return -65504;
    case 'bfloat16': return -3.3895313892515355e38;
    default: return -3.4028234663852886e38;
  }
}

/**
 * Which keys each query may attend to, as a bool [B, 1, T, S] "blocked" mask (true = masked out): key j is allowed
 * for query i iff j <= past + i (causal) and attentionMask[b, j] = 1. attentionMask covers past and new tokens [B, S].
 */
export function blockedMask(attentionMask: Tensor | undefined, batch: number, queryLen: number, pastLen: number): Tensor {
  return noGrad(() => {
    const keyLen = pastLen + queryLen;
    const q = arange(pastLen, keyLen).unsqueeze(1);
    const k = arange(0, keyLen).unsqueeze(0);
    const future = k.gt(q).view(1, 1, queryLen, keyLen);
    if (attentionMask === undefined) return future.expand(batch, 1, queryLen, keyLen);
    const pad = attentionMask.eq(0).view(batch, 1, 1, keyLen);
    return future.logicalOr(pad);
  });
}

/**
 * Position ids for the new tokens: with an attention mask, the HF generate() convention cumsum(mask) - 1 with padded
 * slots set to 1 (correct under left padding); without one, past..past+T-1 for every row.
 */
export function positionIdsFor(attentionMask: Tensor | undefined, batch: number, queryLen: number, pastLen: number): Tensor {
  return noGrad(() => {
    if (attentionMask === undefined) return arange(pastLen, pastLen + queryLen).unsqueeze(0).expand(batch, queryLen);
    const m = attentionMask.to('int64');
    const pos = m.cumsum(-1).sub(1).maskedFill(m.eq(0), 1);
    return pos.slice(1, pastLen, pastLen + queryLen);
  });
}

/** [B, T, H*hd] → [B, H, T, hd] */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const [b, t, width] = x.shape;
  return x.view(b, t, heads, width / heads).transpose(1, 2);
}

/**
 * softmax(q kᵀ · scale, masked) v over heads. q [B, H, T, hd], k/v [B, KV, S, hd] with KV dividing H (query head h
 * uses key/value head floor(h / (H/KV)), as HF's repeat_kv). Half-precision scores go through a float32 softmax.
 * Returns [B, T, H*hd].
 */
export function attend(q: Tensor, k: Tensor, v: Tensor, blocked: Tensor, scale: number): Tensor {
  const [b, heads, t, hd] = q.shape;
  const groups = heads / k.shape[1];
  const keys = groups > 1 ? k.repeatInterleave(groups, 1) : k;
  const values = groups > 1 ? v.repeatInterleave(groups, 1) : v;
  const scores = q.matmul(keys.transpose(-1, -2)).mul(scale).maskedFill(blocked, minValue(q.dtype));
  const half = q.dtype === 'float16' || q.dtype === 'bfloat16';
  const probs = half ? scores.softmax(-1, 'float32').to(q.dtype) : scores.softmax(-1);
  return probs.matmul(values).transpose(1, 2).reshape(b, t, heads * hd);
}

/** Appends new keys/values to a layer's cache (concatenation on the sequence axis). */
export function extendCache(past: LayerCache | undefined, k: Tensor, v: Tensor): LayerCache {
  if (past === undefined) return { k, v };
  return { k: cat([past.k, k], 2), v: cat([past.v, v], 2) };
}

export type RotaryStyle = 'half' | 'interleaved';

/**
 * Rotary position embedding on the first `rotaryDim` dims of each head of x [B, H, T, hd]; the rest pass through.
 * Frequencies base^(-2i/rotaryDim) in float32 (as HF). 'half' rotates pairs (i, i + rot/2) (Llama, NeoX);
 * 'interleaved' rotates pairs (2i, 2i+1) (GPT-J).
 */
export function applyRotary(x: Tensor, positionIds: Tensor, rotaryDim: number, base: number, style: RotaryStyle): Tensor {
  const hd = x.shape[3];
  const half = rotaryDim / 2;
  const invFreq = tensor(Float32Array.from({ length: half }, (_, i) => 1 / base ** ((2 * i) / rotaryDim)));
  const angles = positionIds.to('float32').unsqueeze(-1).mul(invFreq).unsqueeze(1); // [B, 1, T, rot/2]
  const expand = (t: Tensor): Tensor => (style === 'half' ? cat([t, t], -1) : t.repeatInterleave(2, -1));
  const cos = expand(angles.cos()).to(x.dtype);
  const sin = expand(angles.sin()).to(x.dtype);
  const rot = rotaryDim === hd ? x : x.narrow(-1, 0, rotaryDim);
  let turned: Tensor;
  if (style === 'half') {
    turned = cat([rot.narrow(-1, half, half).neg(), rot.narrow(-1, 0, half)], -1);
  } else {
    const even = rot.slice(-1, 0, null, 2);
    const odd = rot.slice(-1, 1, null, 2);
    turned = stack([odd.neg(), even], -1).flatten(-2);
  }
  const rotated = rot.mul(cos).add(turned.mul(sin));
  return rotaryDim === hd ? rotated : cat([rotated, x.narrow(-1, rotaryDim, hd - rotaryDim)], -1);
}

/** RMSNorm (Llama): x · rsqrt(mean(x²) + eps) · w, computed in float32 and cast back as HF does. */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  const xf = x.dtype === 'float32' || x.dtype === 'float64' ? x : x.to('float32');
  const normed = xf.mul(xf.square().mean(-1, true).add(eps).rsqrt());
  return normed.to(x.dtype).mul(weight);
}
