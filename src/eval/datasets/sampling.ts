// Reproducible sampling of cases from a stream: a small seeded PRNG and reservoir sampling, so n cases are drawn
// uniformly from a file of any size while holding only n of them.

import { mulberry32 } from '../../util/random.js';

export { mulberry32 };

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
