// The RegMean solve shared by RegMean and RegMean++ (methods.md §19–20): per Linear weight,
// W = (Σ_t W_t G̃_t)(Σ_t G̃_t)⁻¹ with G̃ = α·G + (1 − α)·diag(G), by Cholesky in float64
// (pseudo-inverse fallback when the sum is singular).
import { choleskySolve, eighAsync, mat64, matmulAsync, type Mat64 } from '../../linalg/index'

/** Scales the off-diagonal entries of a Gram by α in place (diagonal kept). */
export function reduceNonDiagonal(g: Float64Array, dim: number, alpha: number): Float64Array {
  if (alpha === 1) return g
  for (let i = 0; i < dim; i++) for (let j = 0; j < dim; j++) if (i !== j) g[i * dim + j] *= alpha
  return g
}

/** Accumulates Σ G̃_t and Σ G̃_t W_tᵀ for one Linear weight over tasks. */
export class RegMeanAcc {
  readonly S: Mat64
  /** Σ_t G̃_t W_tᵀ, in × out */
  readonly B: Mat64
  tasks = 0
  constructor(readonly out: number, readonly inn: number) {
    this.S = mat64(inn, inn)
    this.B = mat64(inn, out)
  }
  /** w: W_t [out, in] row-major; g: G̃_t [in, in] */
  async add(w: Float32Array | Float64Array, g: Float64Array): Promise<void> {
    const gw = (await matmulAsync(mat64(this.inn, this.inn, g), { rows: this.out, cols: this.inn, data: w }, { transB: true })).data
    for (let i = 0; i < gw.length; i++) this.B.data[i] += gw[i]
    for (let i = 0; i < g.length; i++) this.S.data[i] += g[i]
    this.tasks++
  }
  /** W_merged [out, in] (float64) and whether the Cholesky solve had to fall back to the pseudo-inverse */
  solve(): { W: Float64Array; usedPinv: boolean } {
    const { x, usedFallback } = choleskySolve(this.S, this.B) // x = S⁻¹B, in × out
    const W = new Float64Array(this.out * this.inn)
    for (let i = 0; i < this.inn; i++) for (let o = 0; o < this.out; o++) W[o * this.inn + i] = x.data[i * this.out + o]
    return { W, usedPinv: usedFallback }
  }
  /** 2-norm condition number of Σ G̃_t (diagnostics) */
  async condition(): Promise<number> {
    const { values } = await eighAsync(this.S)
    const hi = values[values.length - 1], lo = values[0]
    return lo > 0 ? hi / lo : Infinity
  }
}

/** RegMean on explicit matrices (tests, tools): Ws [out, in], Gs [in, in]. */
export async function regmeanSolve(Ws: Mat64[], Gs: Mat64[], alpha: number): Promise<Float64Array> {
  const acc = new RegMeanAcc(Ws[0].rows, Ws[0].cols)
  for (let t = 0; t < Ws.length; t++) await acc.add(Ws[t].data, reduceNonDiagonal(Float64Array.from(Gs[t].data), Gs[t].rows, alpha))
  return acc.solve().W
}
