// Batch order and per-step randomness of the trainer, as pure functions of (seed, step): a resumed run draws exactly
// what the uninterrupted run would have, with nothing random to checkpoint.
import { mulberry32, stringSeed } from '../util/random.js';
import type { TrainRecord } from '../methods/trained.js';

/** Fisher–Yates permutation of 0..n-1 from a seed. */
export function permutation(n: number, seed: number): number[] {
  const rand = mulberry32(seed);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

export class BatchOrder {
  /** Batches per pass over the records (the last one may be short). */
  readonly batchesPerEpoch: number;
  private cachedEpoch = -1;
  private cachedPerm: number[] = [];

  constructor(private readonly records: readonly TrainRecord[], readonly batchSize: number, readonly seed: number) {
    if (records.length === 0) throw new Error('trainer: no training records');
    this.batchesPerEpoch = Math.ceil(records.length / batchSize);
  }

  /** The epoch global batch `k` belongs to. */
  epochOf(k: number): number {
    return Math.floor(k / this.batchesPerEpoch);
  }

  /** Global batch `k` (0-based, counting across epochs): each epoch is its own seeded shuffle. */
  batch(k: number): TrainRecord[] {
    const epoch = this.epochOf(k);
    if (epoch !== this.cachedEpoch) {
      this.cachedPerm = permutation(this.records.length, stringSeed(this.seed, `epoch:${epoch}`));
      this.cachedEpoch = epoch;
    }
    const start = (k % this.batchesPerEpoch) * this.batchSize;
    return this.cachedPerm.slice(start, start + this.batchSize).map((i) => this.records[i]);
  }
}

/** The seeded stream of optimiser step `step`. */
export function stepRandom(seed: number, step: number): () => number {
  return mulberry32(stringSeed(seed, `step:${step}`));
}

/** Learning-rate factor at `step` for the hparams' schedule over `total` steps. */
export function scheduleFactor(kind: string, step: number, total: number, warmup: number): number {
  const warm = step < warmup ? (step + 1) / (warmup + 1) : 1;
  switch (kind) {
    case 'constant': return warm;
    case 'linear': return step < warmup ? warm : Math.max(0, (total - step) / Math.max(1, total - warmup));
    case 'cosine': {
      if (step < warmup) return warm;
      const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
      return 0.5 * (1 + Math.cos(Math.PI * progress));
    }
    default: throw new Error(`trainer: lr_scheduler '${kind}' is not one of constant, linear, cosine`);
  }
}
