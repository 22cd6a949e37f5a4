export { HALF_TO_F32 } from './half';
export { createKernels, kernelImpl, kernels, resolveKernelImpl, wasmSimdSupported } from './select';
export type { KernelSetting } from './select';
export type {
  KernelImpl,
  Kernels,
  MatmulOptions,
  Metric,
  PinnedBytes,
  ScoreOptions,
  TopKResult,
} from './types';
