// Helpers for the SVD-based methods (TSV-M, Iso-C, Iso-CTS, DogeTA): placing singular blocks into
// concatenated bases, polar factors (methods.md P4), and the per-tensor plumbing they share.
import { eigh, mat64, matmul, polar, svd, toF64, transpose, type Mat, type Mat64, type SvdResult } from '../../linalg/index'
import { keyList } from '../schema'
import { cacheKey } from '../cache'
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

/**
 * polar(U) · diag(s) · polar(Vt) as a float32 array (m×n), over the first `used` slots (default
 * all). Slots past `used` must be zero columns of U / rows of Vt with s = 0 (TSV-M's tail when
 * N·r < k): there the exact polar factor is an arbitrary completion multiplied by s = 0, so
 * leaving them out gives the same product and keeps the factors full-rank.
 */
export function polarProduct(U: Mat64, s: Float64Array, Vt: Mat64, used = s.length): Float32Array {
  const k = used
  const Us = k === U.cols ? U : mat64(U.rows, k, sliceCols(U, k))
  const Vs = k === Vt.rows ? Vt : mat64(k, Vt.cols, Vt.data.slice(0, k * Vt.cols))
  const Pu = polarFast(Us)
  const Pv = polarFast(Vs)
  for (let i = 0; i < Pu.rows; i++) for (let j = 0; j < k; j++) Pu.data[i * k + j] *= s[j]
  return Float32Array.from(matmul(Pu, Pv).data)
}

function sliceCols(U: Mat64, k: number): Float64Array {
  const out = new Float64Array(U.rows * k)
  for (let i = 0; i < U.rows; i++) out.set(U.data.subarray(i * U.cols, i * U.cols + k), i * k)
  return out
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
/** `scaleParam`: the parameter holding α (θ = θ0 + α·merged); everything else keys the cache. */
export async function runSvdMethod(job: MergeJob, scaleParam: string, excludeParam: unknown, svdMerge: SvdMerge): Promise<void> {
  const alpha = job.params[scaleParam] as number
  const excluded = inKeys(keyList(excludeParam))
  const perTensor: Record<string, Record<string, unknown>> = {}
  // The SVD-merged task vectors do not depend on α: with a merge cache, an α sweep (or a re-run)
  // reads them back instead of recomputing every decomposition, and reads only θ0 for them.
  const cache = job.cache
  const rest = Object.fromEntries(Object.entries(job.params).filter(([k]) => k !== scaleParam))
  const key = cache ? cacheKey(SVD_MERGED_NS, job.method, cache.poolKey(), JSON.stringify(rest)) : ''
  const index = cache ? await cache.getJson<{ names: string[]; diag: Record<string, Record<string, unknown>> }>(SVD_MERGED_NS, key) : null
  const fromCache = new Set(index?.names ?? [])
  const stored: string[] = []
  let storeOk = cache !== undefined && index === null
  await writeTensors(job, 'merge', async (s: Slice) => {
    if (fromCache.has(s.name)) {
      const merged = await cache!.getF32(SVD_MERGED_NS, key, svdPart(s.name))
      if (merged && merged.length === s.base.length) { perTensor[s.name] = index!.diag[s.name] ?? {}; return addScaled(s.base, merged, alpha) }
      // a damaged part is a miss: read the models this slice was prefetched without
      s = { ...s, models: await Promise.all(job.pool.models.map((m) => m.readF32(s.name))) }
    }
    const taus = taskVectors(s)
    if (s.shape.length !== 2 || excluded(s.name, s.shape)) return addScaled(s.base, runningMean(taus), alpha)
    const { merged, diag } = svdMerge(taus, s.shape, s.name)
    perTensor[s.name] = diag
    if (storeOk) {
      try { await cache!.putF32(SVD_MERGED_NS, key, merged, svdPart(s.name)); stored.push(s.name) } catch { storeOk = false }
    }
    return addScaled(s.base, merged, alpha)
  }, undefined, { reuseInputs: true, needsModels: (n) => !fromCache.has(n) }) // outputs are fresh arrays; nothing keeps the inputs
  // the index goes in last: an interrupted run leaves parts that are never read
  if (storeOk && stored.length) await cache!.putJson(SVD_MERGED_NS, key, { names: stored, diag: Object.fromEntries(stored.map((n) => [n, perTensor[n]])) })
  job.diag.set('svd', perTensor)
  if (cache) job.diag.set('svdFromCache', fromCache.size)
}

/** Cache namespace of the α-free SVD merges (tsvm, iso_c, iso_cts): one float32 array per 2-D tensor. */
const SVD_MERGED_NS = 'svd-merged-v1'
/** cache part names are [a-z0-9-]: a tensor is named by a hash of its name */
const svdPart = (tensor: string): string => cacheKey(tensor).slice(0, 32)

// ---------------------------------------------------------------------------------------------
// Fast exact paths through the Gram matrix of the smaller side (one dgemm + one dsyevd of
// min(m, n)², instead of a full dgesdd of m×n). They are exact up to the conditioning of what is
// kept: a Gram eigenvalue λ_i carries an absolute error ≈ eps64·λ_1, so σ_i = √λ_i has a relative
// error ≈ eps64·(σ_1/σ_i)² and the recovered singular vectors ≈ eps64·σ_1²/(σ_i·gap). With the
// guard below (kept λ ≥ GRAM_RTOL·λ_1, i.e. σ_i ≥ 1e-4·σ_1) that is ≤ 1e-8, an order below float32
// rounding; anything worse-conditioned (rank-deficient, zero, tiny matrices) goes to exact dgesdd.

/** Smallest kept Gram eigenvalue relative to the largest before the exact SVD is used instead. */
export const GRAM_RTOL = 1e-8

/** Top-k eigenpairs (descending) of the symmetric n×n G, or null when the guard fails. */
function topEig(G: Mat64, k: number): { values: Float64Array; vecs: Float64Array } | null {
  const n = G.rows
  const { values, vectors } = eigh(G)
  const top = values[n - 1]
  if (!(top > 0) || !(values[n - k] >= GRAM_RTOL * top)) return null
  const vals = new Float64Array(k), vecs = new Float64Array(n * k) // n×k, column j = j-th largest
  for (let j = 0; j < k; j++) vals[j] = values[n - 1 - j]
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) vecs[i * k + j] = vectors.data[i * n + (n - 1 - j)]
  return { values: vals, vecs }
}

/**
 * Top-k singular triplets of a (m×n, any float type), float64, S descending, like
 * `svd(a, { k })`. Computed from the eigendecomposition of AᵀA (n ≤ m) or AAᵀ (m < n), the other
 * factor as A·v/σ; falls back to the exact SVD when the kept spectrum is ill-conditioned (above).
 */
export function topSvd(a: Mat, k: number): SvdResult {
  const m = a.rows, n = a.cols
  if (k === 0 || Math.min(m, n) <= 2) return svd(a, { k })
  const A = toF64(a)
  if (n <= m) {
    const e = topEig(matmul(A, A, { transA: true }) as Mat64, k)
    if (!e) return svd(a, { k })
    const V = mat64(n, k, e.vecs)
    const U = matmul(A, V) as Mat64 // m×k, column j = σ_j u_j
    const S = e.values.map(Math.sqrt)
    for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) U.data[i * k + j] /= S[j]
    return { U, S, Vt: transpose(V) as Mat64 }
  }
  const e = topEig(matmul(A, A, { transB: true }) as Mat64, k)
  if (!e) return svd(a, { k })
  const U = mat64(m, k, e.vecs)
  const Vt = matmul(U, A, { transA: true }) as Mat64 // k×n, row j = σ_j v_jᵀ
  const S = e.values.map(Math.sqrt)
  for (let j = 0; j < k; j++) { const s = S[j]; for (let i = j * n, end = i + n; i < end; i++) Vt.data[i] /= s }
  return { U, S, Vt }
}

/**
 * Polar factor of a full-rank a (m×p tall or p×n wide, float64): A(AᵀA)^(−1/2) or (AAᵀ)^(−1/2)A,
 * the same matrix as U·Vᵀ of its thin SVD; error ≈ eps64·cond(a)². Falls back to the exact SVD
 * when cond(a)² > 1/GRAM_RTOL (rank-deficient inputs, whose polar factor is not unique).
 */
export function polarFast(a: Mat64): Mat64 { return polarAndSpectrum(a).P }

/**
 * Polar factor and the full singular spectrum (descending) of a (float64), through the Gram
 * matrix of the smaller side under the same guard as polarFast, else through the exact SVD.
 */
export function polarAndSpectrum(a: Mat64): { P: Mat64; S: Float64Array } {
  const tall = a.rows >= a.cols
  const p = Math.min(a.rows, a.cols)
  const exact = (): { P: Mat64; S: Float64Array } => { const f = svd(a); return { P: matmul(f.U, f.Vt) as Mat64, S: f.S } }
  if (p <= 2) return exact()
  const G = (tall ? matmul(a, a, { transA: true }) : matmul(a, a, { transB: true })) as Mat64
  const e = topEig(G, p)
  if (!e) return exact()
  // H = W Λ^(−1/2) Wᵀ (p×p, symmetric)
  const Ws = new Float64Array(p * p)
  for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) Ws[i * p + j] = e.vecs[i * p + j] / Math.sqrt(e.values[j])
  const W = mat64(p, p, e.vecs)
  const H = matmul(mat64(p, p, Ws), W, { transB: true })
  return { P: (tall ? matmul(a, H) : matmul(H, a)) as Mat64, S: e.values.map(Math.sqrt) }
}

export type { SvdResult }
