// Helpers for the SVD-based methods (TSV-M, Iso-C, Iso-CTS, DogeTA): placing singular blocks into
// concatenated bases, polar factors (methods.md P4), and the per-tensor plumbing they share.
import { mat64, matmul, polar, type Mat, type Mat64, type SvdResult } from '../../linalg/index'
import { keyList } from '../schema'
import type { MergeJob } from '../types'
import { addScaled, inKeys, runningMean, taskVectors, writeTensors, type Slice } from './_stream'

/** Copies columns [0, r) of U (m×*) into columns [at, at + r) of dst (m×k). */
export function placeCols(dst: Mat64, U: Mat, r: number, at: number): void {
  for (let i = 0; i < U.rows; i++) for (let j = 0; j < r; j++) dst.data[i * dst.cols + at + j] = U.data[i * U.cols + j]
}

/** Copies rows [0, r) of Vt (*×n) into rows [at, at + r) of dst (k×n). */
export function placeRows(dst: Mat64, Vt: Mat, r: number, at: number): void {
  dst.data.set(Vt.data.subarray(0, r * Vt.cols), at * dst.cols)
}

/** polar(U) · diag(s) · polar(Vt) as a float32 array (m×n). */
export function polarProduct(U: Mat64, s: Float64Array, Vt: Mat64): Float32Array {
  const Pu = polar(U)
  const Pv = polar(Vt)
  const k = s.length
  for (let i = 0; i < Pu.rows; i++) for (let j = 0; j < k; j++) Pu.data[i * k + j] *= s[j]
  return Float32Array.from(matmul(Pu, Pv).data)
}

/** Wraps a float32 tensor slice as a float64 matrix. */
export function asMat64(data: Float32Array, shape: number[]): Mat64 { return mat64(shape[0], shape[1], Float64Array.from(data)) }

/** First `count` values of a spectrum, rounded for diagnostics. */
export function spectrumHead(s: Float64Array | number[], count = 8): number[] {
  return Array.from(s).slice(0, count).map((x) => Number(x.toPrecision(6)))
}

export type SvdMerge = (taus: Float32Array[], shape: number[], name: string) => { merged: Float32Array; diag: Record<string, unknown> }

/**
 * The common frame of TSV-M / Iso-C / Iso-CTS: every 2-D tensor not in `exclude_keys` goes
 * through `svdMerge`; every other tensor gets FusionBench's running mean of τ; then θ0 + α·merged.
 */
export async function runSvdMethod(job: MergeJob, alpha: number, excludeParam: unknown, svdMerge: SvdMerge): Promise<void> {
  const excluded = inKeys(keyList(excludeParam))
  const perTensor: Record<string, unknown> = {}
  await writeTensors(job, 'merge', (s: Slice) => {
    const taus = taskVectors(s)
    if (s.shape.length !== 2 || excluded(s.name, s.shape)) return addScaled(s.base, runningMean(taus), alpha)
    const { merged, diag } = svdMerge(taus, s.shape, s.name)
    perTensor[s.name] = diag
    return addScaled(s.base, merged, alpha)
  })
  job.diag.set('svd', perTensor)
}

export type { SvdResult }
