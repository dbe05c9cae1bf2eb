// Runtime settings and facts about the linked libtorch.
import { native } from './native.js';

/** Intra-op threads libtorch uses (defaults to the machine's cores, or LMEDIT_NUM_THREADS). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`setNumThreads: expected a positive integer, got ${n}`);
  native.setNumThreads(n);
}
export const getNumThreads = (): number => native.getNumThreads();

export const cuda = {
  /** True when the linked libtorch was built with CUDA and a device is visible. */
  isAvailable: (): boolean => native.cudaIsAvailable(),
  deviceCount: (): number => native.cudaDeviceCount(),
};

/** libtorch's build configuration and parallel settings (torch.__config__.show / parallel_info). */
export function backendInfo(): { config: string; parallel: string } {
  return { config: native.config(), parallel: native.parallelInfo() };
}
