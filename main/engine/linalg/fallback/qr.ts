// Householder QR (thin). Row-major friendly: each reflector is applied as wᵀ = vᵀA (rows
// accumulated) followed by a rank-1 update, so all inner loops run along rows.
import type { QrRaw } from '../impl'

/** Factors a copy of the m×n matrix; returns the reflectors (unit vectors) and R in place. */
function householder(a: Float64Array, m: number, n: number): { work: Float64Array; vs: Float64Array[] } {
  const A = Float64Array.from(a)
  const r = Math.min(m, n)
  const vs: Float64Array[] = []
  const w = new Float64Array(n)
  for (let k = 0; k < r; k++) {
    const len = m - k
    const v = new Float64Array(len)
    let norm2 = 0
    for (let i = 0; i < len; i++) { const x = A[(k + i) * n + k]; v[i] = x; norm2 += x * x }
    const norm = Math.sqrt(norm2)
    if (norm === 0) { vs.push(v.fill(0)); continue }
    const alpha = v[0] >= 0 ? -norm : norm
    v[0] -= alpha
    let vn2 = 0
    for (let i = 0; i < len; i++) vn2 += v[i] * v[i]
    const vn = Math.sqrt(vn2)
    if (vn === 0) { vs.push(v.fill(0)); continue }
    for (let i = 0; i < len; i++) v[i] /= vn
    // column k becomes (alpha, 0, …, 0)
    A[k * n + k] = alpha
    for (let i = 1; i < len; i++) A[(k + i) * n + k] = 0
    // trailing columns: A ← A − 2 v (vᵀ A)
    w.fill(0, k + 1, n)
    for (let i = 0; i < len; i++) {
      const vi = v[i]; if (vi === 0) continue
      const row = (k + i) * n
      for (let j = k + 1; j < n; j++) w[j] += vi * A[row + j]
    }
    for (let i = 0; i < len; i++) {
      const s = 2 * v[i]; if (s === 0) continue
      const row = (k + i) * n
      for (let j = k + 1; j < n; j++) A[row + j] -= s * w[j]
    }
    vs.push(v)
  }
  return { work: A, vs }
}

export function qrFallback(a: Float64Array, m: number, n: number): QrRaw {
  const r = Math.min(m, n)
  const { work, vs } = householder(a, m, n)
  const R = new Float64Array(r * n)
  for (let i = 0; i < r; i++) for (let j = i; j < n; j++) R[i * n + j] = work[i * n + j]
  // Q = H0 H1 … H(r−1) applied to the first r columns of I, accumulated backwards so each
  // reflector only touches the trailing block
  const Q = new Float64Array(m * r)
  for (let i = 0; i < r; i++) Q[i * r + i] = 1
  const w = new Float64Array(r)
  for (let k = r - 1; k >= 0; k--) {
    const v = vs[k]; const len = m - k
    w.fill(0, k, r)
    for (let i = 0; i < len; i++) {
      const vi = v[i]; if (vi === 0) continue
      const row = (k + i) * r
      for (let j = k; j < r; j++) w[j] += vi * Q[row + j]
    }
    for (let i = 0; i < len; i++) {
      const s = 2 * v[i]; if (s === 0) continue
      const row = (k + i) * r
      for (let j = k; j < r; j++) Q[row + j] -= s * w[j]
    }
  }
  return { Q, R }
}
