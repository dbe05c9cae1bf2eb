// A small seeded PRNG shared by every layer that needs reproducible draws without libtorch (case sampling, IKE's
// demonstration kinds).

/**
 * mulberry32 (Tommy Ettinger's 32-bit generator, public domain): uniform floats in [0, 1), the same sequence for the
 * same seed on every platform. Seeds are taken modulo 2^32.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a string, mixed with a seed: a 32-bit seed derived from text. */
export function stringSeed(seed: number, text: string): number {
  let h = 2166136261 ^ seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}
