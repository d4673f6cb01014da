// Chooses between the JavaScript loops (core.mjs) and the addon's C++ versions of the hottest
// streaming kernels (fused Task Arithmetic / weighted sums, radix-select histograms). Both give
// bit-identical results: the addon does the same float64 arithmetic without FMA contraction.
import { AmalgamError } from '#common/errors'
import { nativeLoad, type Addon } from '../linalg/native'

export type KernelImpl = 'native' | 'js'

let mode: KernelImpl | 'auto' = 'auto'
let threads = 1

/** Forces the kernel implementation (tests, benchmarks); 'native' throws when the addon is unavailable. */
export function useKernelImplementation(which: KernelImpl | 'auto'): void {
  if (which === 'native' && !nativeLoad().addon) throw new AmalgamError('INTERNAL', `native kernels unavailable: ${nativeLoad().reason}`)
  mode = which
}

export function availableKernelImplementations(): KernelImpl[] {
  return nativeLoad().addon ? ['native', 'js'] : ['js']
}

/** The addon when native kernels are in use, else null. */
export function kernelAddon(): Addon | null {
  if (mode === 'js') return null
  return nativeLoad().addon ?? null
}

/**
 * Threads the native streaming kernels split one call across (std::thread, contiguous ranges).
 * Default 1: on the shared 2-vCPU build machine a second thread was faster in one of three runs
 * and slower in the others (docs/engine.md §5), so it is not the default; set it to the core
 * count on a dedicated machine.
 */
export function setKernelThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new AmalgamError('BAD_PARAM', `setKernelThreads: ${n} is not a positive integer`)
  threads = n
}

export function kernelThreads(): number { return threads }

export function kernelInfo(): { native: boolean; threads: number } {
  return { native: kernelAddon() !== null, threads }
}
