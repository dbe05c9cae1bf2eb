// Loads the libtorch addon (native/, built by `npm install` into build/Release).
//
// Two settings must be in place before libtorch's OpenMP runtime starts (measured in docs/backend.md):
// OMP_WAIT_POLICY=PASSIVE (spinning OpenMP workers starve OpenBLAS's threads: fp32 blocks run ~3x slower), and the
// intra-op thread count, which libtorch sets to 1 on these VMs. LMEDIT_NUM_THREADS overrides the core count.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../util/package-root.js';

/** An opaque handle owning one libtorch tensor. */
export interface NativeHandle {
  dispose(): void;
  isDisposed(): boolean;
}

/** The flat binding: one function per op (see native/*.cc for the argument order of each). */
export type NativeBinding = Record<string, (...args: any[]) => any> & {
  TensorHandle: new () => NativeHandle;
};

function load(): NativeBinding {
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  const root = packageRoot();
  const file = join(root, 'build', 'Release', 'lmedit_torch.node');
  if (!existsSync(file)) {
    throw new Error(`lmedit: the native addon ${file} is not built. Run \`npm install\` (or \`npm run build\`) in ${root}.`);
  }
  const binding = createRequire(import.meta.url)(file) as NativeBinding;
  const requested = Number(process.env.LMEDIT_NUM_THREADS ?? availableParallelism());
  binding.setNumThreads(Number.isInteger(requested) && requested > 0 ? requested : availableParallelism());
  return binding;
}

export const native: NativeBinding = load();
