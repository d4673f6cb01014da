// Streaming kernels for the merge methods: fused elementwise passes (single-threaded and split
// across worker threads over SharedArrayBuffers), exact k-th magnitude selection, and PyTorch's
// CPU random stream. Details and measured speeds: docs/engine.md.
export {
  axpyInto, subInto, scaleInto, taskArithmeticInto, weightedSumInto, maskedSumInto, clampInto,
  trimAbsInto, signElectInto, disjointMergeInto, runKernelSync, checkKernelArgs,
} from './elementwise'
export type { KernelArgs, KernelOp } from './elementwise'
export {
  KernelPool, kernelPool, sharedFloat32, sharedUint8, taskArithmeticParallel, weightedSumParallel,
  PARALLEL_MIN_ELEMENTS,
} from './parallel'
export {
  AbsRadixSelect, AbsBucketSelect, kthSmallestAbs, kthLargestAbs, countAbsGreaterEqual, countNaN, countZeros, totalLength,
} from './select'
export type { F32Chunks } from './select'
export { TorchGenerator, torchSeedToU32 } from './torch-generator'
export {
  useKernelImplementation, availableKernelImplementations, setKernelThreads, kernelThreads, kernelInfo,
} from './native-kernels'
export type { KernelImpl } from './native-kernels'
