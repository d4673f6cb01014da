// Float64 references for the linear-algebra tests: naive triple loops, seeded random matrices.
import type { Mat } from '../../../main/engine/linalg/index'

export function rng(seed: number): () => number {
  // xorshift32: independent of the code under test
  let s = seed >>> 0 || 1
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296 - 0.5 }
}

export function randMat(rows: number, cols: number, seed: number, f32 = false): Mat {
  const r = rng(seed)
  const d = f32 ? new Float32Array(rows * cols) : new Float64Array(rows * cols)
  for (let i = 0; i < d.length; i++) d[i] = r()
  return { rows, cols, data: d }
}

export function get(a: Mat, i: number, j: number): number { return a.data[i * a.cols + j] }

export function refMul(a: Mat, b: Mat, ta = false, tb = false): Float64Array {
  const m = ta ? a.cols : a.rows, k = ta ? a.rows : a.cols, n = tb ? b.rows : b.cols
  const out = new Float64Array(m * n)
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0
    for (let p = 0; p < k; p++) s += (ta ? get(a, p, i) : get(a, i, p)) * (tb ? get(b, j, p) : get(b, p, j))
    out[i * n + j] = s
  }
  return out
}

export function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new Error(`length ${x.length} ≠ ${y.length}`)
  let m = 0
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]))
  return m
}

export function maxAbs(x: ArrayLike<number>): number { let m = 0; for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i])); return m }

/** ‖QᵀQ − I‖max for the columns of Q */
export function orthoError(q: Mat): number {
  const g = refMul(q, q, true, false)
  let e = 0
  for (let i = 0; i < q.cols; i++) for (let j = 0; j < q.cols; j++) e = Math.max(e, Math.abs(g[i * q.cols + j] - (i === j ? 1 : 0)))
  return e
}

/** symmetric PSD matrix X Xᵀ of rank r (n×n) */
export function psdOfRank(n: number, r: number, seed: number): Mat {
  const x = randMat(n, r, seed)
  return { rows: n, cols: n, data: refMul(x, x, false, true) }
}
