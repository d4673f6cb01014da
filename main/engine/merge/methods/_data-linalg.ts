// Gram-matrix solves shared by LOT, RegMean and CAT, in float64 through the engine's native
// LAPACK path (eigh off the event loop so progress and cancellation still get through).
import { eighAsync, matmulAsync, mat64, pinvKeep, EPS_F32, type Mat64 } from '../../linalg/index'

export interface PinvInfo { rank: number; dim: number; cutoff: number; maxEig: number; minKeptEig: number }

/** S⁺ of a symmetric PSD S in factored form V_r diag(1/λ_r) V_rᵀ. */
export interface PinvFactor { V: Mat64; inv: Float64Array; info: PinvInfo }

/**
 * Eigen pseudo-inverse of a symmetric PSD S (in×in, float64): eigenvalues ≤ rtol·λ_max are
 * dropped; the default rtol = in·eps_f32 is torch.linalg.pinv's cutoff for a float32 input
 * (methods.md §23: LOT depends on it).
 */
export async function pinvFactor(S: Mat64, rtol = S.rows * EPS_F32): Promise<PinvFactor> {
  const n = S.rows
  const { values, vectors } = await eighAsync(S)
  const { keep, cutoff, maxAbs: smax } = pinvKeep(values, rtol)
  const r = keep.length
  let minKept = Infinity
  for (const j of keep) minKept = Math.min(minKept, Math.abs(values[j]))
  const V = new Float64Array(n * r), inv = new Float64Array(r)
  for (let i = 0; i < n; i++) for (let c = 0; c < r; c++) V[i * r + c] = vectors.data[i * n + keep[c]]
  for (let c = 0; c < r; c++) inv[c] = 1 / values[keep[c]]
  return { V: mat64(n, r, V), inv, info: { rank: r, dim: n, cutoff, maxEig: smax, minKeptEig: r ? minKept : 0 } }
}

/** A·S⁺ as (A V_r) diag(1/λ) V_rᵀ: 2·out·in·r FLOP instead of forming S⁺. */
export async function applyRightPinv(A: Mat64, f: PinvFactor): Promise<Mat64> {
  const r = f.inv.length
  if (r === 0) return mat64(A.rows, f.V.rows)
  const AV = (await matmulAsync(A, f.V)).data as Float64Array
  for (let i = 0; i < A.rows; i++) for (let c = 0; c < r; c++) AV[i * r + c] *= f.inv[c]
  return (await matmulAsync(mat64(A.rows, r, AV), f.V, { transB: true })) as Mat64
}

/** T = A·S⁺ (see pinvFactor for the cutoff). */
export async function rightPinvSolve(A: Mat64, S: Mat64, rtol?: number): Promise<{ T: Mat64; info: PinvInfo }> {
  const f = await pinvFactor(S, rtol)
  return { T: await applyRightPinv(A, f), info: f.info }
}

/** ⟨X, Y⟩ = Σ x·y over two equally long arrays, float64. */
export function dot(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < x.length; i++) s += x[i] * y[i]
  return s
}

/** tr(T S Tᵀ) = ⟨T·S, T⟩ for T (out×in) and symmetric S (in×in). */
export async function quadForm(T: Mat64, S: Mat64): Promise<number> {
  const TS = await matmulAsync(T, S)
  return dot(TS.data, T.data)
}
