// Loads the libtorch addon (native/, built by `npm install` into build/Release).
//
// Two settings must be in place before libtorch's OpenMP runtime starts (measured in docs/backend.md):
// OMP_WAIT_POLICY=PASSIVE (spinning OpenMP workers starve OpenBLAS's threads: fp32 blocks run ~3x slower), and the
// intra-op thread count, which libtorch sets to 1 on these VMs. LMEDIT_NUM_THREADS overrides the core count.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An opaque handle owning one libtorch tensor. */
export interface NativeHandle {
  dispose(): void;
  isDisposed(): boolean;
}

/** The flat binding: one function per op (see native/*.cc for the argument order of each). */
export type NativeBinding = Record<string, (...args: any[]) => any> & {
  TensorHandle: new () => NativeHandle;
};

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'lmedit') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('lmedit: cannot find the package root (package.json) above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

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
