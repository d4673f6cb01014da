// Dense linear algebra for the merge methods: one API over two implementations — the native
// OpenBLAS/LAPACKE addon when it loads, a float64 TypeScript fallback otherwise (or when forced
// with AMALGAM_NATIVE=0 / useImplementation('fallback')). Precision per function: docs/engine.md.
//
// Conventions: row-major Mats; decompositions (eigh, svd, qr, pinvPsd, choleskySolve, polar) take
// any float type and compute and return float64; matmul keeps float32 when both inputs are float32.
import { AmalgamError } from '#common/errors'
import type { LinalgImpl } from './impl'
import { fallbackImpl } from './fallback/index'
import { nativeLoad, type NativeLoad } from './native'
import { assertMat, mat64, toF64, type Mat, type Mat64 } from './mat'
import { TorchGenerator } from '../kernels/torch-generator'

export { mat, mat64, transpose, toF64, toF32, identity64 } from './mat'
export type { Mat, Mat32, Mat64 } from './mat'

/** float32 machine epsilon (2⁻²³), the unit PyTorch uses for linalg.pinv's default rtol */
export const EPS_F32 = 2 ** -23

export type ImplName = 'native' | 'fallback'

let current: LinalgImpl | undefined

function native(): NativeLoad { return nativeLoad() }

function impl(): LinalgImpl {
  if (!current) current = native().impl ?? fallbackImpl
  return current
}

/** Implementations usable in this process (the fallback always is). */
export function availableImplementations(): ImplName[] {
  return native().impl ? ['native', 'fallback'] : ['fallback']
}

/** Forces an implementation (tests, benchmarks). 'native' throws when the addon is unavailable. */
export function useImplementation(which: ImplName | 'auto'): void {
  if (which === 'fallback') { current = fallbackImpl; return }
  const n = native()
  if (which === 'native' && !n.impl) throw new AmalgamError('INTERNAL', `native linear algebra unavailable: ${n.reason}`)
  current = n.impl ?? fallbackImpl
}

export function activeImplementation(): ImplName { return impl().name }

export interface LinalgInfo { native: boolean; reason?: string; threads: number; blas?: string }

export function linalgInfo(): LinalgInfo {
  const n = native()
  const active = impl()
  const info: LinalgInfo = { native: active.name === 'native', threads: active.threads() }
  if (active.name !== 'native') info.reason = n.impl ? 'fallback selected explicitly' : n.reason
  if (active.name === 'native' && n.blas) info.blas = n.blas
  return info
}

/** BLAS/LAPACK threads (OpenBLAS); the fallback is single-threaded and ignores it. */
export function setLinalgThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new AmalgamError('BAD_PARAM', `setLinalgThreads: ${n} is not a positive integer`)
  const nat = native().impl
  if (nat) nat.setThreads(n)
}

// ---------------------------------------------------------------------------------------------

export interface MatmulOpts { transA?: boolean; transB?: boolean }

/**
 * op(a)·op(b). float32 × float32 → float32 (sgemm: float32 products, accumulation order chosen by
 * BLAS; the fallback accumulates in float64 and rounds once). Any float64 operand → float64 (dgemm).
 */
export function matmul(a: Mat, b: Mat, opts: MatmulOpts = {}): Mat {
  assertMat(a, 'matmul: a'); assertMat(b, 'matmul: b')
  const ta = !!opts.transA, tb = !!opts.transB
  const m = ta ? a.cols : a.rows, k = ta ? a.rows : a.cols
  const kb = tb ? b.cols : b.rows, n = tb ? b.rows : b.cols
  if (k !== kb) {
    throw new AmalgamError('BAD_PARAM', `matmul: inner dimensions differ (op(a) is ${m}×${k}, op(b) is ${kb}×${n})`)
  }
  const f32 = a.data instanceof Float32Array && b.data instanceof Float32Array
  if (m === 0 || n === 0 || k === 0) {
    return { rows: m, cols: n, data: f32 ? new Float32Array(m * n) : new Float64Array(m * n) }
  }
  if (f32) return { rows: m, cols: n, data: impl().sgemm(a.data as Float32Array, b.data as Float32Array, m, n, k, ta, tb) }
  return { rows: m, cols: n, data: impl().dgemm(toF64(a).data, toF64(b).data, m, n, k, ta, tb) }
}

/**
 * matmul off the event loop (native: libuv pool thread). Same result as matmul. Do not modify
 * a or b until it resolves.
 */
export async function matmulAsync(a: Mat, b: Mat, opts: MatmulOpts = {}): Promise<Mat> {
  assertMat(a, 'matmul: a'); assertMat(b, 'matmul: b')
  const ta = !!opts.transA, tb = !!opts.transB
  const m = ta ? a.cols : a.rows, k = ta ? a.rows : a.cols
  const n = tb ? b.rows : b.cols
  if ((tb ? b.cols : b.rows) !== k || m === 0 || n === 0 || k === 0) return matmul(a, b, opts)
  if (a.data instanceof Float32Array && b.data instanceof Float32Array) {
    return { rows: m, cols: n, data: await impl().async.sgemm(a.data, b.data, m, n, k, ta, tb) }
  }
  return { rows: m, cols: n, data: await impl().async.dgemm(toF64(a).data, toF64(b).data, m, n, k, ta, tb) }
}

/** eigh off the event loop (native: libuv pool thread). */
export async function eighAsync(a: Mat): Promise<{ values: Float64Array; vectors: Mat64 }> {
  const n = assertSquare(a, 'eigh')
  if (n === 0) return eigh(a)
  const r = await impl().async.eigh(toF64(a).data, n)
  return { values: r.values, vectors: mat64(n, n, r.vectors) }
}

/** Exact thin SVD (optionally truncated to k) off the event loop (native: libuv pool thread). */
export async function svdAsync(a: Mat, opts: { k?: number } = {}): Promise<SvdResult> {
  assertMat(a, 'svd')
  const m = a.rows, n = a.cols, r = Math.min(m, n)
  const k = opts.k ?? r
  if (!Number.isInteger(k) || k < 0 || k > r) throw new AmalgamError('BAD_PARAM', `svd: k = ${opts.k} must be an integer in [0, ${r}] for a ${m}×${n} matrix`)
  if (r === 0 || k === 0) return svd(a, { k })
  const raw = await impl().async.svd(toF64(a).data, m, n)
  return truncate({ U: mat64(m, r, raw.U), S: raw.S, Vt: mat64(r, n, raw.Vt) }, k)
}

function assertSquare(a: Mat, what: string): number {
  assertMat(a, what)
  if (a.rows !== a.cols) throw new AmalgamError('BAD_PARAM', `${what}: expected a square matrix, got ${a.rows}×${a.cols}`)
  return a.rows
}

/**
 * Symmetric eigendecomposition (LAPACK dsyevd / fallback Householder + QL), float64.
 * Reads only the lower triangle, like torch.linalg.eigh(UPLO='L'). values ascending; column j of
 * `vectors` is the unit eigenvector of values[j].
 */
export function eigh(a: Mat): { values: Float64Array; vectors: Mat64 } {
  const n = assertSquare(a, 'eigh')
  if (n === 0) return { values: new Float64Array(0), vectors: mat64(0, 0) }
  const r = impl().eigh(toF64(a).data, n)
  return { values: r.values, vectors: mat64(n, n, r.vectors) }
}

export interface SvdOpts {
  /** keep the top k triplets (default min(m, n)) */
  k?: number
  method?: 'exact' | 'randomized'
  /** randomized: extra sample columns beyond k (default 10) */
  oversample?: number
  /** randomized: subspace (power) iterations (default 2) */
  powerIters?: number
  /** randomized: seed of the Gaussian test matrix (default 0) */
  seed?: number
}

export interface SvdResult { U: Mat64; S: Float64Array; Vt: Mat64 }

/**
 * Thin SVD a = U·diag(S)·Vt, float64, S descending. U is m×r, Vt is r×n with r = min(m, n) or k.
 * 'exact' (default): LAPACK dgesdd / fallback one-sided Jacobi, then truncated to k.
 * 'randomized': Halko–Martinsson–Tropp range finder with q power iterations; error bound in docs/engine.md.
 */
export function svd(a: Mat, opts: SvdOpts = {}): SvdResult {
  assertMat(a, 'svd')
  const m = a.rows, n = a.cols, r = Math.min(m, n)
  const k = opts.k ?? r
  if (!Number.isInteger(k) || k < 0 || k > r) throw new AmalgamError('BAD_PARAM', `svd: k = ${opts.k} must be an integer in [0, ${r}] for a ${m}×${n} matrix`)
  if (r === 0 || k === 0) return { U: mat64(m, 0), S: new Float64Array(0), Vt: mat64(0, n) }
  if (opts.method === 'randomized') return randomizedSvd(toF64(a), k, opts)
  if (opts.method !== undefined && opts.method !== 'exact') throw new AmalgamError('BAD_PARAM', `svd: unknown method '${opts.method}' (exact | randomized)`)
  const raw = impl().svd(toF64(a).data, m, n)
  return truncate({ U: mat64(m, r, raw.U), S: raw.S, Vt: mat64(r, n, raw.Vt) }, k)
}

function truncate(s: SvdResult, k: number): SvdResult {
  const r = s.S.length
  if (k === r) return s
  const m = s.U.rows, n = s.Vt.cols
  const U = new Float64Array(m * k)
  for (let i = 0; i < m; i++) U.set(s.U.data.subarray(i * r, i * r + k), i * k)
  return { U: mat64(m, k, U), S: s.S.slice(0, k), Vt: mat64(k, n, s.Vt.data.slice(0, k * n)) }
}

function gaussian(rows: number, cols: number, seed: number): Mat64 {
  // Box–Muller over 53-bit uniforms from the MT19937 stream: reproducible across platforms
  const g = new TorchGenerator(seed)
  const d = new Float64Array(rows * cols)
  for (let i = 0; i < d.length; i += 2) {
    const u1 = 1 - g.nextDouble(), u2 = g.nextDouble()
    const rad = Math.sqrt(-2 * Math.log(u1)), th = 2 * Math.PI * u2
    d[i] = rad * Math.cos(th)
    if (i + 1 < d.length) d[i + 1] = rad * Math.sin(th)
  }
  return mat64(rows, cols, d)
}

function orthonormalBasis(y: Mat64): Mat64 { return qr(y).Q }

function randomizedSvd(a: Mat64, k: number, opts: SvdOpts): SvdResult {
  const m = a.rows, n = a.cols, r = Math.min(m, n)
  const p = opts.oversample ?? 10
  const q = opts.powerIters ?? 2
  if (!Number.isInteger(p) || p < 0) throw new AmalgamError('BAD_PARAM', `svd: oversample = ${p} must be a non-negative integer`)
  if (!Number.isInteger(q) || q < 0) throw new AmalgamError('BAD_PARAM', `svd: powerIters = ${q} must be a non-negative integer`)
  const l = Math.min(r, k + p)
  let Q = orthonormalBasis(matmul(a, gaussian(n, l, opts.seed ?? 0)) as Mat64) // m×l
  for (let it = 0; it < q; it++) {
    // re-orthonormalise between applications so the small directions are not lost to rounding
    const Z = orthonormalBasis(matmul(a, Q, { transA: true }) as Mat64) // n×l
    Q = orthonormalBasis(matmul(a, Z) as Mat64)
  }
  const B = matmul(Q, a, { transA: true }) as Mat64 // l×n
  const inner = impl().svd(B.data, B.rows, n) // Ub l×l', S, Vt l'×n with l' = min(l, n) = l
  const lb = Math.min(B.rows, n)
  const U = matmul(Q, mat64(B.rows, lb, inner.U)) as Mat64
  return truncate({ U, S: inner.S, Vt: mat64(lb, n, inner.Vt) }, k)
}

/**
 * The eigenvalues a pseudo-inverse keeps: |λ| > rtol·max|λ| (and non-zero), PyTorch's relative
 * cutoff. Shared by pinvPsd and the factored pseudo-inverses of the data-dependent methods.
 */
export function pinvKeep(values: Float64Array, rtol: number): { keep: number[]; cutoff: number; maxAbs: number } {
  let maxAbs = 0
  for (const v of values) maxAbs = Math.max(maxAbs, Math.abs(v))
  const cutoff = rtol * maxAbs
  const keep: number[] = []
  for (let j = 0; j < values.length; j++) if (Math.abs(values[j]) > cutoff && values[j] !== 0) keep.push(j)
  return { keep, cutoff, maxAbs }
}

/**
 * Pseudo-inverse of a symmetric PSD matrix through eigh, float64. Eigenvalues with
 * |λ| ≤ rtol·max|λ| are dropped; default rtol = n·eps_f32 (n = rows), which is what
 * torch.linalg.pinv uses for a float32 input (rtol = max(m, n)·eps(float32) when atol is unset).
 */
export function pinvPsd(a: Mat, opts: { rtol?: number } = {}): Mat64 {
  const n = assertSquare(a, 'pinvPsd')
  const rtol = opts.rtol ?? n * EPS_F32
  if (!(rtol >= 0)) throw new AmalgamError('BAD_PARAM', `pinvPsd: rtol = ${opts.rtol} must be ≥ 0`)
  if (n === 0) return mat64(0, 0)
  const { values, vectors } = eigh(a)
  const { keep } = pinvKeep(values, rtol)
  const r = keep.length
  if (r === 0) return mat64(n, n)
  const V = new Float64Array(n * r), W = new Float64Array(n * r)
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < r; c++) {
      const v = vectors.data[i * n + keep[c]]
      V[i * r + c] = v
      W[i * r + c] = v / values[keep[c]]
    }
  }
  return matmul(mat64(n, r, W), mat64(n, r, V), { transB: true }) as Mat64
}

/**
 * Solves a·x = b for symmetric a (n×n) and b (n×nrhs) by Cholesky (dpotrf/dpotrs), float64.
 * When a is not numerically positive definite (a pivot ≤ n·eps64·max diag), returns
 * pinvPsd(a)·b instead and sets usedFallback.
 */
export function choleskySolve(a: Mat, b: Mat): { x: Mat64; usedFallback: boolean } {
  const n = assertSquare(a, 'choleskySolve: a')
  assertMat(b, 'choleskySolve: b')
  if (b.rows !== n) throw new AmalgamError('BAD_PARAM', `choleskySolve: b has ${b.rows} rows, a is ${n}×${n}`)
  if (n === 0 || b.cols === 0) return { x: mat64(n, b.cols), usedFallback: false }
  const x = impl().cholSolve(toF64(a).data, n, toF64(b).data, b.cols)
  if (x) return { x: mat64(n, b.cols, x), usedFallback: false }
  return { x: matmul(pinvPsd(a), toF64(b)) as Mat64, usedFallback: true }
}

/** Thin QR (geqrf + orgqr / Householder), float64: Q m×r orthonormal columns, R r×n upper, r = min(m, n). */
export function qr(a: Mat): { Q: Mat64; R: Mat64 } {
  assertMat(a, 'qr')
  const m = a.rows, n = a.cols, r = Math.min(m, n)
  if (r === 0) return { Q: mat64(m, 0), R: mat64(0, n) }
  const raw = impl().qr(toF64(a).data, m, n)
  return { Q: mat64(m, r, raw.Q), R: mat64(r, n, raw.R) }
}

/**
 * U(Uᵀg) for U m×r with orthonormal columns and g m×n → m×n: projects the columns of g onto
 * span(U) in O(mnr) without forming UUᵀ. float32 when both are float32.
 */
export function projectCols(U: Mat, g: Mat): Mat {
  assertMat(U, 'projectCols: U'); assertMat(g, 'projectCols: g')
  if (U.rows !== g.rows) throw new AmalgamError('BAD_PARAM', `projectCols: U is ${U.rows}×${U.cols}, g is ${g.rows}×${g.cols} (rows must match)`)
  return matmul(U, matmul(U, g, { transA: true }))
}

/**
 * (gV)Vᵀ for V n×r with orthonormal columns and g m×n → m×n: projects the rows of g onto
 * span(V). float32 when both are float32.
 */
export function projectRows(V: Mat, g: Mat): Mat {
  assertMat(V, 'projectRows: V'); assertMat(g, 'projectRows: g')
  if (V.rows !== g.cols) throw new AmalgamError('BAD_PARAM', `projectRows: V is ${V.rows}×${V.cols}, g is ${g.rows}×${g.cols} (V.rows must equal g.cols)`)
  return matmul(matmul(g, V), V, { transB: true })
}

/** Polar factor P·Qᵀ of the thin SVD a = P Σ Qᵀ (the closest matrix with orthonormal rows/columns), float64. */
export function polar(a: Mat): Mat64 {
  const { U, Vt } = svd(a)
  return matmul(U, Vt) as Mat64
}
