// Symmetric eigendecomposition in float64: Householder reduction to tridiagonal form, then the
// implicit-shift QL iteration on the tridiagonal (the classic EISPACK route). Eigenvectors are
// kept as ROWS of Zt while iterating so every Givens rotation touches two contiguous rows.
// Accuracy: backward stable, residuals ≈ n·eps64·‖A‖ like LAPACK's dsyev.
import { AmalgamError } from '#common/errors'
import type { EighRaw } from '../impl'

export function eighFallback(a: Float64Array, n: number): EighRaw {
  // work on a symmetric copy built from the lower triangle (LAPACK's uplo = 'L' semantics)
  const A = new Float64Array(n * n)
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) { const x = a[i * n + j]; A[i * n + j] = x; A[j * n + i] = x }
  const d = new Float64Array(n)
  const e = new Float64Array(n) // e[i] couples i and i+1; e[n−1] = 0
  const vs: (Float64Array | null)[] = []
  const p = new Float64Array(n)

  for (let k = 0; k < n - 2; k++) {
    const off = k + 1, len = n - off
    const v = new Float64Array(len)
    let norm2 = 0
    for (let i = 0; i < len; i++) { const x = A[(off + i) * n + k]; v[i] = x; norm2 += x * x }
    const norm = Math.sqrt(norm2)
    d[k] = A[k * n + k]
    if (norm === 0) { e[k] = 0; vs.push(null); continue }
    const alpha = v[0] >= 0 ? -norm : norm
    v[0] -= alpha
    let vn2 = 0
    for (let i = 0; i < len; i++) vn2 += v[i] * v[i]
    const vn = Math.sqrt(vn2)
    if (vn === 0) { e[k] = A[off * n + k]; vs.push(null); continue }
    for (let i = 0; i < len; i++) v[i] /= vn
    e[k] = alpha
    // trailing block S ← H S H with H = I − 2vvᵀ: S −= 2(v wᵀ + w vᵀ), p = S v, w = p − (vᵀp) v
    let K = 0
    for (let i = 0; i < len; i++) {
      const row = (off + i) * n + off
      let s = 0
      for (let j = 0; j < len; j++) s += A[row + j] * v[j]
      p[i] = s
      K += v[i] * s
    }
    for (let i = 0; i < len; i++) p[i] -= K * v[i]
    for (let i = 0; i < len; i++) {
      const row = (off + i) * n + off
      const vi2 = 2 * v[i], wi2 = 2 * p[i]
      for (let j = 0; j < len; j++) A[row + j] -= vi2 * p[j] + wi2 * v[j]
    }
    vs.push(v)
  }
  if (n >= 2) { d[n - 2] = A[(n - 2) * n + n - 2]; e[n - 2] = A[(n - 1) * n + n - 2] }
  if (n >= 1) d[n - 1] = A[(n - 1) * n + n - 1]

  // Zt = Qᵀ where Q = H0 H1 … ; build Q backwards in row-major then transpose once
  const Q = new Float64Array(n * n)
  for (let i = 0; i < n; i++) Q[i * n + i] = 1
  const w = new Float64Array(n)
  for (let k = vs.length - 1; k >= 0; k--) {
    const v = vs[k]; if (!v) continue
    const off = k + 1, len = n - off
    w.fill(0, off, n)
    for (let i = 0; i < len; i++) {
      const vi = v[i]; if (vi === 0) continue
      const row = (off + i) * n
      for (let j = off; j < n; j++) w[j] += vi * Q[row + j]
    }
    for (let i = 0; i < len; i++) {
      const s = 2 * v[i]; if (s === 0) continue
      const row = (off + i) * n
      for (let j = off; j < n; j++) Q[row + j] -= s * w[j]
    }
  }
  const Zt = new Float64Array(n * n)
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) Zt[j * n + i] = Q[i * n + j]

  tridiagonalQL(d, e, Zt, n)

  // sort ascending; column j of the output = row order[j] of Zt
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[x] - d[y])
  const values = new Float64Array(n)
  const vectors = new Float64Array(n * n)
  for (let j = 0; j < n; j++) {
    const src = order[j]
    values[j] = d[src]
    const row = src * n
    for (let i = 0; i < n; i++) vectors[i * n + j] = Zt[row + i]
  }
  return { values, vectors }
}

/** Implicit-shift QL on (d, e); rotations are applied to rows of Zt. */
function tridiagonalQL(d: Float64Array, e: Float64Array, Zt: Float64Array, n: number): void {
  for (let l = 0; l < n; l++) {
    let iter = 0
    for (;;) {
      let m = l
      for (; m < n - 1; m++) {
        const dd = Math.abs(d[m]) + Math.abs(d[m + 1])
        if (Math.abs(e[m]) <= Number.EPSILON * dd) break
      }
      if (m === l) break
      if (++iter > 60) throw new AmalgamError('INTERNAL', `eigh: QL iteration did not converge (n = ${n})`)
      // Wilkinson-style shift from the leading 2×2 block
      let g = (d[l + 1] - d[l]) / (2 * e[l])
      let r = Math.hypot(g, 1)
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r))
      let s = 1, c = 1, p = 0
      let i = m - 1
      let deflated = false
      for (; i >= l; i--) {
        const f = s * e[i], b = c * e[i]
        r = Math.hypot(f, g)
        e[i + 1] = r
        if (r === 0) { d[i + 1] -= p; e[m] = 0; deflated = true; break }
        s = f / r; c = g / r
        g = d[i + 1] - p
        r = (d[i] - g) * s + 2 * c * b
        p = s * r
        d[i + 1] = g + p
        g = c * r - b
        const ri = i * n, rk = (i + 1) * n
        for (let k = 0; k < n; k++) {
          const zk = Zt[rk + k], zi = Zt[ri + k]
          Zt[rk + k] = s * zi + c * zk
          Zt[ri + k] = c * zi - s * zk
        }
      }
      if (deflated) continue
      d[l] -= p; e[l] = g; e[m] = 0
    }
  }
}
