// Single-threaded fused elementwise kernels with argument checks. The loops live in core.mjs so
// that worker threads (parallel.ts) run exactly the same code.
import { AmalgamError } from '#common/errors'
import * as core from './core.mjs'
import type { KernelArgs, KernelOp } from './core.mjs'
import { kernelAddon, kernelThreads } from './native-kernels'

export type { KernelArgs, KernelOp } from './core.mjs'

type Arr = Float32Array | Uint8Array

/** Throws naming the argument when lengths differ from out's. Returns the common length. */
export function checkKernelArgs<K extends KernelOp>(op: K, args: KernelArgs[K]): number {
  const a = args as unknown as Record<string, unknown>
  const out = a.out
  if (!(out instanceof Float32Array)) throw new AmalgamError('BAD_PARAM', `${op}: out must be a Float32Array`)
  const n = out.length
  const check = (name: string, v: unknown): void => {
    if (!(v instanceof Float32Array || v instanceof Uint8Array)) throw new AmalgamError('BAD_PARAM', `${op}: ${name} must be a Float32Array${name.startsWith('masks') ? ' / Uint8Array' : ''}`)
    if ((v as Arr).length !== n) throw new AmalgamError('BAD_PARAM', `${op}: ${name} has ${(v as Arr).length} elements, out has ${n}`)
  }
  for (const [k, v] of Object.entries(a)) {
    if (k === 'out' || k === 'weights') continue
    if (Array.isArray(v)) v.forEach((x, i) => check(`${k}[${i}]`, x))
    else if (ArrayBuffer.isView(v)) check(k, v)
  }
  if ('weights' in a && a.weights !== undefined) {
    const w = a.weights as ArrayLike<number>, arrays = a.arrays as unknown[]
    if (w.length !== arrays.length) throw new AmalgamError('BAD_PARAM', `${op}: ${w.length} weights for ${arrays.length} arrays`)
  }
  if ('masks' in a && (a.masks as unknown[]).length !== (a.arrays as unknown[]).length) {
    throw new AmalgamError('BAD_PARAM', `${op}: ${(a.masks as unknown[]).length} masks for ${(a.arrays as unknown[]).length} arrays`)
  }
  return n
}

/** Runs one kernel over the whole array on this thread. */
export function runKernelSync<K extends KernelOp>(op: K, args: KernelArgs[K]): void {
  const n = checkKernelArgs(op, args)
  core.KERNELS[op](args, 0, n)
}

/** out += a·x */
export function axpyInto(out: Float32Array, a: number, x: Float32Array): Float32Array {
  runKernelSync('axpy', { out, a, x }); return out
}

/** out = x − y (a task vector) */
export function subInto(out: Float32Array, x: Float32Array, y: Float32Array): Float32Array {
  runKernelSync('sub', { out, x, y }); return out
}

/** out *= a */
export function scaleInto(out: Float32Array, a: number): Float32Array {
  runKernelSync('scale', { out, a }); return out
}

/**
 * out = base + λ·Σᵢ(modelsᵢ − base), one fused pass (out may alias base). Uses the addon's C++
 * loop when it is loaded (bit-identical, several times the bandwidth of the JS loop).
 */
export function taskArithmeticInto(out: Float32Array, base: Float32Array, models: readonly Float32Array[], lambda: number): Float32Array {
  const addon = kernelAddon()
  if (addon) { checkKernelArgs('taskArithmetic', { out, base, models, lambda }); addon.streamTaskArithmetic(out, base, models, lambda, kernelThreads()); return out }
  runKernelSync('taskArithmetic', { out, base, models, lambda }); return out
}

/** out = Σᵢ wᵢ·arraysᵢ (accumulate: out += …); native C++ loop when the addon is loaded */
export function weightedSumInto(out: Float32Array, arrays: readonly Float32Array[], weights: ArrayLike<number>, accumulate = false): Float32Array {
  const addon = kernelAddon()
  if (addon) {
    checkKernelArgs('weightedSum', { out, arrays, weights, accumulate })
    addon.streamWeightedSum(out, arrays, Float64Array.from(weights), accumulate, kernelThreads()); return out
  }
  runKernelSync('weightedSum', { out, arrays, weights, accumulate }); return out
}

/** out = Σᵢ wᵢ·(masksᵢ ? arraysᵢ : 0); masks are 0/1 bytes */
export function maskedSumInto(out: Float32Array, arrays: readonly Float32Array[], masks: readonly Uint8Array[], weights?: ArrayLike<number>): Float32Array {
  runKernelSync('maskedSum', { out, arrays, masks, weights }); return out
}

/** out = min(max(x, lo), hi) (out may alias x) */
export function clampInto(out: Float32Array, x: Float32Array, lo: number, hi: number): Float32Array {
  runKernelSync('clamp', { out, x, lo, hi }); return out
}

/** out = |x| ≥ threshold ? x : 0 — keeps ties at the threshold (FusionBench's topk mask) */
export function trimAbsInto(out: Float32Array, x: Float32Array, threshold: number): Float32Array {
  runKernelSync('trimAbs', { out, x, threshold }); return out
}

/** out = sign(Σᵢ arraysᵢ) ∈ {−1, 0, 1} (TIES sign election by total mass) */
export function signElectInto(out: Float32Array, arrays: readonly Float32Array[]): Float32Array {
  runKernelSync('signElect', { out, arrays }); return out
}

/** out = sum (or mean) of the entries whose sign agrees with `sign` (TIES disjoint merge) */
export function disjointMergeInto(out: Float32Array, arrays: readonly Float32Array[], sign: Float32Array, mean: boolean): Float32Array {
  runKernelSync('disjointMerge', { out, arrays, sign, mean }); return out
}
