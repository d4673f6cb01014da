// CAT Merging's trimming operators (methods.md §22), on explicit arrays so that the self-checks
// S11–S14 can test them directly. PyTorch convention: τ is [out, in], G = XᵀX is [in, in]; the
// projection removes OUTPUT directions (left multiplication), Φ_k(τ) = τ − B_k B_kᵀ τ.
import { eighAsync, mat64, matmulAsync, type Mat64 } from '../../linalg/index'

/**
 * How many eigenvectors to keep from eigenvalues sorted descending (positive ones only): c = −1 all
 * positive; 0 < c < 1 the smallest count whose squared eigenvalues reach that share of the
 * positive energy; c ≥ 1 that many (at most the positive count); c = 0 none.
 */
export function basisCount(desc: Float64Array, c: number): number {
  let pos = 0
  while (pos < desc.length && desc[pos] > 0) pos++
  if (c === 0 || pos === 0) return 0
  if (c < 0) return pos
  if (c >= 1) return Math.min(Math.floor(c), pos)
  let total = 0
  for (let j = 0; j < pos; j++) total += desc[j] ** 2
  let acc = 0
  for (let j = 0; j < pos; j++) { acc += desc[j] ** 2; if (acc >= c * total) return j + 1 }
  return pos
}

/** C_k = Σ_{i≠k} τ_i (G_k − λ G_i) τ_iᵀ for one k, symmetrised (out × out). */
export async function conflictMatrix(taus: Mat64[], grams: Mat64[], k: number, lambda: number): Promise<Mat64> {
  const out = taus[0].rows, inn = taus[0].cols
  const C = mat64(out, out)
  for (let i = 0; i < taus.length; i++) {
    if (i === k) continue
    const D = mat64(inn, inn)
    for (let j = 0; j < D.data.length; j++) D.data[j] = grams[k].data[j] - lambda * grams[i].data[j]
    const tD = await matmulAsync(taus[i], D)
    const c = (await matmulAsync(tD, taus[i], { transB: true })).data
    for (let j = 0; j < c.length; j++) C.data[j] += c[j]
  }
  for (let a = 0; a < out; a++) for (let b = a + 1; b < out; b++) { const m = (C.data[a * out + b] + C.data[b * out + a]) / 2; C.data[a * out + b] = m; C.data[b * out + a] = m }
  return C
}

/** B_k: eigenvectors of the largest positive eigenvalues of C_k (out × r), and those eigenvalues. */
export async function conflictBasis(C: Mat64, c: number): Promise<{ B: Mat64; values: Float64Array }> {
  const n = C.rows
  const { values, vectors } = await eighAsync(C)
  const desc = Float64Array.from(values).reverse()
  const r = basisCount(desc, c)
  const B = mat64(n, r)
  for (let i = 0; i < n; i++) for (let j = 0; j < r; j++) B.data[i * r + j] = vectors.data[i * n + (n - 1 - j)]
  return { B, values: desc.subarray(0, r) }
}

const frob = (x: ArrayLike<number>): number => { let s = 0; for (let i = 0; i < x.length; i++) s += x[i] * x[i]; return Math.sqrt(s) }

/** τ ← τ − B Bᵀ τ in place; with rescale, back to the pre-projection Frobenius norm (port). */
export async function projectOut(tau: Mat64, B: Mat64, rescale: boolean): Promise<void> {
  if (B.cols === 0) return
  const before = rescale ? frob(tau.data) : 0
  const Bt = await matmulAsync(B, tau, { transA: true }) // r × in
  const BBt = (await matmulAsync(B, Bt)).data
  for (let i = 0; i < tau.data.length; i++) tau.data[i] -= BBt[i]
  if (rescale) {
    const after = frob(tau.data)
    if (after > 0) { const s = before / after; for (let i = 0; i < tau.data.length; i++) tau.data[i] *= s }
  }
}

/** Indices of the c largest entries (ties by index order). */
export function topC(v: ArrayLike<number>, c: number): number[] {
  const idx = Array.from({ length: v.length }, (_, i) => i)
  idx.sort((a, b) => v[b] - v[a] || a - b)
  return idx.slice(0, Math.max(0, Math.min(c, v.length)))
}

/** LN-scale score g_k[d] = Σ_{i≠k} (s_k[d] − λ_ln s_i[d]) τ_i[d]² (sums over tokens). */
export function lnScore(taus: ArrayLike<number>[], energies: ArrayLike<number>[], k: number, lambdaLn: number): Float64Array {
  const D = taus[0].length, g = new Float64Array(D)
  for (let i = 0; i < taus.length; i++) {
    if (i === k) continue
    for (let d = 0; d < D; d++) g[d] += (energies[k][d] - lambdaLn * energies[i][d]) * taus[i][d] ** 2
  }
  return g
}

/** Zeroes `dims` of v in place; with rescale, restores the L2 norm unless the masked norm is 0. */
export function maskOut(v: Float64Array, dims: number[], rescale: boolean): void {
  const before = rescale ? frob(v) : 0
  for (const d of dims) v[d] = 0
  if (rescale) {
    const after = frob(v)
    if (after > 0) { const s = before / after; for (let i = 0; i < v.length; i++) v[i] *= s }
  }
}

/**
 * Shift parameters. paper: m_k = top-c of Σ_{i≠k} τ_i², zeroed in every τ_i, i ≠ k (all masks from
 * the original τ). port: task i's own top-c of τ_i² (kth-value, entries ≥ threshold) zeroed in
 * every other task. No rescale in either.
 */
export function trimShift(taus: Float64Array[], c: number, rule: 'paper' | 'port'): Float64Array[] {
  const N = taus.length, D = taus[0].length
  const out = taus.map((t) => Float64Array.from(t))
  if (c <= 0) return out
  for (let k = 0; k < N; k++) {
    let dims: number[]
    if (rule === 'paper') {
      const s = new Float64Array(D)
      for (let i = 0; i < N; i++) if (i !== k) for (let d = 0; d < D; d++) s[d] += taus[i][d] ** 2
      dims = topC(s, c)
    } else {
      const sq = Array.from(taus[k], (x) => x * x)
      const thr = [...sq].sort((a, b) => b - a)[Math.min(c, D) - 1]
      dims = sq.flatMap((x, d) => (x >= thr ? [d] : []))
    }
    for (let i = 0; i < N; i++) if (i !== k) for (const d of dims) out[i][d] = 0
  }
  return out
}
