// The TypeScript implementation of LinalgImpl: float64 throughout, single-threaded.
import type { LinalgImpl } from '../impl'
import { gemmInto } from './gemm'
import { eighFallback } from './eigen'
import { svdFallback } from './svd'
import { qrFallback } from './qr'
import { cholSolveFallback } from './cholesky'

export const fallbackImpl: LinalgImpl = {
  async: {
    sgemm: async (...a) => fallbackImpl.sgemm(...a),
    dgemm: async (...a) => fallbackImpl.dgemm(...a),
    eigh: async (a, n) => eighFallback(a, n),
    svd: async (a, m, n) => svdFallback(a, m, n),
  },
  name: 'fallback',
  sgemm(a, b, m, n, k, transA, transB) { const c = new Float32Array(m * n); gemmInto(a, b, m, n, k, transA, transB, c); return c },
  dgemm(a, b, m, n, k, transA, transB) { const c = new Float64Array(m * n); gemmInto(a, b, m, n, k, transA, transB, c); return c },
  eigh: eighFallback,
  svd: svdFallback,
  cholSolve: cholSolveFallback,
  qr: qrFallback,
  threads: () => 1,
  setThreads: () => {},
}
