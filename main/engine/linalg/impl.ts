// The low-level contract both linear-algebra implementations (native addon, TypeScript fallback)
// fulfil. Everything is row-major; decompositions take and return float64. index.ts builds the
// public API (pinv, randomized SVD, projections, …) on top of exactly these primitives, so the two
// paths differ only here and one test suite covers both.

export interface EighRaw {
  /** ascending */
  values: Float64Array
  /** n×n row-major; column j is the eigenvector of values[j] */
  vectors: Float64Array
}

export interface SvdRaw {
  /** m×r row-major, r = min(m, n) */
  U: Float64Array
  /** r values, descending */
  S: Float64Array
  /** r×n row-major */
  Vt: Float64Array
}

export interface QrRaw {
  /** m×r row-major, orthonormal columns, r = min(m, n) */
  Q: Float64Array
  /** r×n row-major, upper triangular */
  R: Float64Array
}

export interface LinalgImpl {
  readonly name: 'native' | 'fallback'
  /** C = op(A)·op(B); A, B and C share one float type. op(A) is m×k, op(B) is k×n. */
  sgemm(a: Float32Array, b: Float32Array, m: number, n: number, k: number, transA: boolean, transB: boolean): Float32Array
  dgemm(a: Float64Array, b: Float64Array, m: number, n: number, k: number, transA: boolean, transB: boolean): Float64Array
  /** symmetric eigendecomposition of the n×n matrix a (only its lower triangle is read) */
  eigh(a: Float64Array, n: number): EighRaw
  /** thin SVD of the m×n matrix a */
  svd(a: Float64Array, m: number, n: number): SvdRaw
  /**
   * Cholesky factor-and-solve of a·x = b (a n×n, b n×nrhs). Returns null when a is not
   * numerically positive definite: a pivot ≤ n·eps64·max(diag a) counts as a failure, so that
   * an exactly singular PSD matrix is caught even when rounding leaves a tiny positive pivot.
   */
  cholSolve(a: Float64Array, n: number, b: Float64Array, nrhs: number): Float64Array | null
  /** thin QR of the m×n matrix a */
  qr(a: Float64Array, m: number, n: number): QrRaw
  threads(): number
  setThreads(n: number): void
  /**
   * The heavy primitives off the calling thread (native: Napi::AsyncWorker on the libuv pool;
   * fallback: computed synchronously, returned as a settled promise). Inputs must not be
   * modified until the promise settles.
   */
  async: {
    sgemm(...a: Parameters<LinalgImpl['sgemm']>): Promise<Float32Array>
    dgemm(...a: Parameters<LinalgImpl['dgemm']>): Promise<Float64Array>
    eigh(a: Float64Array, n: number): Promise<EighRaw>
    svd(a: Float64Array, m: number, n: number): Promise<SvdRaw>
  }
}

/** Relative pivot floor shared by both Cholesky paths (see LinalgImpl.cholSolve). */
export function cholPivotFloor(a: Float64Array, n: number): number {
  let maxDiag = 0
  for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, Math.abs(a[i * n + i]))
  return n * Number.EPSILON * maxDiag
}
