// Reproducible sampling of cases from a stream: a small seeded PRNG and reservoir sampling, so n cases are drawn
// uniformly from a file of any size while holding only n of them.

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

/**
 * Uniform sample of n items from a stream of unknown length (Vitter's Algorithm R): the k-th item (0-based) replaces a
 * random kept one with probability n/(k+1). `items()` returns the kept items in stream order.
 */
export class Reservoir<T> {
  private kept: { order: number; item: T }[] = [];
  private seen = 0;
  private readonly random: () => number;

  constructor(private readonly n: number, seed: number) {
    this.random = mulberry32(seed);
  }

  offer(item: T): void {
    const order = this.seen++;
    if (this.kept.length < this.n) {
      this.kept.push({ order, item });
      return;
    }
    const j = Math.floor(this.random() * (order + 1));
    if (j < this.n) this.kept[j] = { order, item };
  }

  items(): T[] {
    return [...this.kept].sort((a, b) => a.order - b.order).map((k) => k.item);
  }
}
