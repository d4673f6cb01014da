// Cholesky factor-and-solve in float64 (right-looking, row-major lower factor).
import { cholPivotFloor } from '../impl'

export function cholSolveFallback(a: Float64Array, n: number, b: Float64Array, nrhs: number): Float64Array | null {
  const floor = cholPivotFloor(a, n)
  const L = new Float64Array(n * n)
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j]
    const rj = j * n
    for (let p = 0; p < j; p++) d -= L[rj + p] * L[rj + p]
    if (!(d > floor)) return null // also catches NaN
    const ljj = Math.sqrt(d)
    L[rj + j] = ljj
    for (let i = j + 1; i < n; i++) {
      const ri = i * n
      let s = a[ri + j] // lower triangle, like LAPACK's uplo = 'L'
      for (let p = 0; p < j; p++) s -= L[ri + p] * L[rj + p]
      L[ri + j] = s / ljj
    }
  }
  const x = Float64Array.from(b)
  // L y = b, then Lᵀ x = y, for all right-hand sides at once (rows of x are contiguous)
  for (let i = 0; i < n; i++) {
    const ri = i * n, xi = i * nrhs
    for (let p = 0; p < i; p++) {
      const l = L[ri + p]; if (l === 0) continue
      const xp = p * nrhs
      for (let c = 0; c < nrhs; c++) x[xi + c] -= l * x[xp + c]
    }
    const inv = 1 / L[ri + i]
    for (let c = 0; c < nrhs; c++) x[xi + c] *= inv
  }
  for (let i = n - 1; i >= 0; i--) {
    const xi = i * nrhs
    for (let p = i + 1; p < n; p++) {
      const l = L[p * n + i]; if (l === 0) continue
      const xp = p * nrhs
      for (let c = 0; c < nrhs; c++) x[xi + c] -= l * x[xp + c]
    }
    const inv = 1 / L[i * n + i]
    for (let c = 0; c < nrhs; c++) x[xi + c] *= inv
  }
  return x
}
