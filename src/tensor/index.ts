// lmedit's tensor engine: libtorch through a small N-API addon, with PyTorch's names.
export { Tensor, type Scalar, type TensorOrScalar, type IndexList, type Reduction } from './tensor.js';
export * from './creation.js';
export * from './functional.js';
export * as linalg from './linalg.js';
export * as autograd from './autograd.js';
export { noGrad, enableGrad, isGradEnabled } from './autograd.js';
export * from './optim.js';
export { tidy, keep, dispose, memory, resetPeakMemory, type MemoryInfo } from './scope.js';
export { type DType, type Device, type TypedArray, DTYPE_BYTES, isFloatingDtype } from './dtype.js';
export { setNumThreads, getNumThreads, cuda, backendInfo } from './runtime.js';
