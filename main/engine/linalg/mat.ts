// Row-major dense matrices over typed arrays. The engine's tensors are already Float32Arrays
// in PyTorch's [out, in] layout, so a Mat is just a shape attached to such a view (no copy).
import { AmalgamError } from '#common/errors'

export interface Mat {
  rows: number
  cols: number
  /** row-major: element (i, j) is data[i * cols + j] */
  data: Float32Array | Float64Array
}

export type Mat64 = Mat & { data: Float64Array }
export type Mat32 = Mat & { data: Float32Array }

function checkShape(rows: number, cols: number, len: number | undefined, what: string): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new AmalgamError('BAD_PARAM', `${what}: shape ${rows}×${cols} is not a pair of non-negative integers`)
  }
  if (len !== undefined && len !== rows * cols) {
    throw new AmalgamError('BAD_PARAM', `${what}: data has ${len} elements, shape ${rows}×${cols} needs ${rows * cols}`)
  }
}

/** A float32 matrix; wraps `data` without copying when given. */
export function mat(rows: number, cols: number, data?: Float32Array | ArrayLike<number>): Mat32 {
  checkShape(rows, cols, data?.length, 'mat')
  const d = data instanceof Float32Array ? data : data ? Float32Array.from(data) : new Float32Array(rows * cols)
  return { rows, cols, data: d }
}

/** A float64 matrix; wraps `data` without copying when given. */
export function mat64(rows: number, cols: number, data?: Float64Array | ArrayLike<number>): Mat64 {
  checkShape(rows, cols, data?.length, 'mat64')
  const d = data instanceof Float64Array ? data : data ? Float64Array.from(data) : new Float64Array(rows * cols)
  return { rows, cols, data: d }
}

/** Validates a Mat coming from a caller; `what` names it in the error. */
export function assertMat(a: Mat, what: string): void {
  if (!a || typeof a !== 'object' || !(a.data instanceof Float32Array || a.data instanceof Float64Array)) {
    throw new AmalgamError('BAD_PARAM', `${what}: expected a Mat with Float32Array or Float64Array data`)
  }
  checkShape(a.rows, a.cols, a.data.length, what)
}

export function transpose(a: Mat): Mat {
  const { rows: m, cols: n, data } = a
  const out = data instanceof Float32Array ? new Float32Array(m * n) : new Float64Array(m * n)
  // 32×32 blocks keep both the read and the write side in cache for large matrices
  const B = 32
  for (let i0 = 0; i0 < m; i0 += B) {
    const i1 = Math.min(m, i0 + B)
    for (let j0 = 0; j0 < n; j0 += B) {
      const j1 = Math.min(n, j0 + B)
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) out[j * m + i] = data[i * n + j]
    }
  }
  return { rows: n, cols: m, data: out }
}

/** Float64 view of a; returns `a` itself when it is already float64. */
export function toF64(a: Mat): Mat64 {
  if (a.data instanceof Float64Array) return a as Mat64
  return { rows: a.rows, cols: a.cols, data: Float64Array.from(a.data) }
}

/** Float32 copy of a (rounded to nearest); returns `a` itself when it is already float32. */
export function toF32(a: Mat): Mat32 {
  if (a.data instanceof Float32Array) return a as Mat32
  return { rows: a.rows, cols: a.cols, data: Float32Array.from(a.data) }
}

export function identity64(n: number): Mat64 {
  const d = new Float64Array(n * n)
  for (let i = 0; i < n; i++) d[i * n + i] = 1
  return { rows: n, cols: n, data: d }
}
