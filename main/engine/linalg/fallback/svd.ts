// Thin SVD in float64 by one-sided (Hestenes) Jacobi. Tall inputs are first reduced by Householder
// QR (A = QR, SVD of the small R), wide inputs are handled through Aᵀ. One-sided Jacobi is
// slower than LAPACK's divide and conquer but accurate to high relative precision even for small
// singular values, unlike an eigen-decomposition of the Gram matrix (which squares the condition
// number). Cost ≈ sweeps · 3n²·m flops with 6–10 sweeps.
import { AmalgamError } from '#common/errors'
import type { SvdRaw } from '../impl'
import { qrFallback } from './qr'
import { gemmInto } from './gemm'

export function svdFallback(a: Float64Array, m: number, n: number): SvdRaw {
  if (m < n) {
    // A = U S Vt  ⇔  Aᵀ = V S Uᵀ
    const at = new Float64Array(m * n)
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) at[j * m + i] = a[i * n + j]
    const t = svdTall(at, n, m)
    // t.U is n×m (= V), t.Vt is m×m (= Uᵀ)
    const r = m
    const U = new Float64Array(m * r)
    for (let i = 0; i < r; i++) for (let j = 0; j < m; j++) U[j * r + i] = t.Vt[i * m + j]
    const Vt = new Float64Array(r * n)
    for (let i = 0; i < n; i++) for (let j = 0; j < r; j++) Vt[j * n + i] = t.U[i * r + j]
    return { U, S: t.S, Vt }
  }
  return svdTall(a, m, n)
}

function svdTall(a: Float64Array, m: number, n: number): SvdRaw {
  if (m > n) {
    const { Q, R } = qrFallback(a, m, n) // Q m×n, R n×n
    const inner = jacobiSquare(R, n, n)
    const U = new Float64Array(m * n)
    gemmInto(Q, inner.U, m, n, n, false, false, U)
    return { U, S: inner.S, Vt: inner.Vt }
  }
  return jacobiSquare(a, m, n)
}

/** One-sided Jacobi on the m×n matrix X (m ≥ n): X V = U Σ. */
function jacobiSquare(x: Float64Array, m: number, n: number): SvdRaw {
  // W holds the columns of X as rows so rotations touch contiguous memory
  const W = new Float64Array(n * m)
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) W[j * m + i] = x[i * n + j]
  const V = new Float64Array(n * n) // rows = rows of Vᵀ
  for (let i = 0; i < n; i++) V[i * n + i] = 1
  const tol = Number.EPSILON * m
  let converged = false
  for (let sweep = 0; sweep < 80 && !converged; sweep++) {
    converged = true
    for (let p = 0; p < n - 1; p++) {
      const rp = p * m
      for (let q = p + 1; q < n; q++) {
        const rq = q * m
        let alpha = 0, beta = 0, gamma = 0
        for (let i = 0; i < m; i++) { const u = W[rp + i], v = W[rq + i]; alpha += u * u; beta += v * v; gamma += u * v }
        if (gamma === 0 || Math.abs(gamma) <= tol * Math.sqrt(alpha * beta)) continue
        converged = false
        const zeta = (beta - alpha) / (2 * gamma)
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta))
        const c = 1 / Math.sqrt(1 + t * t), s = c * t
        for (let i = 0; i < m; i++) {
          const u = W[rp + i], v = W[rq + i]
          W[rp + i] = c * u - s * v
          W[rq + i] = s * u + c * v
        }
        const vp = p * n, vq = q * n
        for (let i = 0; i < n; i++) {
          const u = V[vp + i], v = V[vq + i]
          V[vp + i] = c * u - s * v
          V[vq + i] = s * u + c * v
        }
      }
    }
  }
  if (!converged) throw new AmalgamError('INTERNAL', `svd: one-sided Jacobi did not converge (${m}×${n})`)
  const sig = new Float64Array(n)
  for (let j = 0; j < n; j++) { let s = 0; const r = j * m; for (let i = 0; i < m; i++) s += W[r + i] * W[r + i]; sig[j] = Math.sqrt(s) }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => sig[y] - sig[x])
  const S = new Float64Array(n)
  const U = new Float64Array(m * n)
  const Vt = new Float64Array(n * n)
  const smax = n > 0 ? sig[order[0]] : 0
  const tiny = smax * m * Number.EPSILON
  const missing: number[] = []
  for (let j = 0; j < n; j++) {
    const src = order[j]
    S[j] = sig[src]
    Vt.set(V.subarray(src * n, src * n + n), j * n)
    if (sig[src] > tiny && sig[src] > 0) {
      const inv = 1 / sig[src]
      for (let i = 0; i < m; i++) U[i * n + j] = W[src * m + i] * inv
    } else missing.push(j)
  }
  if (missing.length) completeOrthonormal(U, m, n, missing)
  return { U, S, Vt }
}

/**
 * Columns of U for (numerically) zero singular values carry no information from A; LAPACK still
 * returns orthonormal ones, so do the same: Gram–Schmidt (twice) of unit vectors against the rest.
 */
function completeOrthonormal(U: Float64Array, m: number, n: number, missing: number[]): void {
  const have = new Set<number>(Array.from({ length: n }, (_, j) => j).filter((j) => !missing.includes(j)))
  let cand = 0
  for (const j of missing) {
    for (; cand < m; cand++) {
      const v = new Float64Array(m); v[cand] = 1
      for (let pass = 0; pass < 2; pass++) {
        for (const h of have) {
          let dot = 0
          for (let i = 0; i < m; i++) dot += U[i * n + h] * v[i]
          for (let i = 0; i < m; i++) v[i] -= dot * U[i * n + h]
        }
      }
      let nrm = 0
      for (let i = 0; i < m; i++) nrm += v[i] * v[i]
      nrm = Math.sqrt(nrm)
      if (nrm > 0.5) {
        for (let i = 0; i < m; i++) U[i * n + j] = v[i] / nrm
        have.add(j); cand++
        break
      }
    }
  }
}
