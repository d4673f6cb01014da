// TALL masks (methods.md §9, §29): task t owns the coordinates where its own delta dominates the
// rest of the multi-task vector, |θ0 − θ_t| > λ·|θ0 + τ_MTL − θ_t|, with τ_MTL = Σ τ_i unscaled.
import type { Slice } from './_stream'

export const TALL_CITATION = 'Wang et al., Localizing Task Information for Improved Model Merging and Compression (TALL masks / Consensus), ICML 2024; official nik-dim/tall_masks'

/** τ_MTL = Σ τ_i in float32 (task order). */
export function mtlSum(s: Slice): Float32Array {
  const sum = new Float32Array(s.base.length)
  for (const m of s.models) for (let k = 0; k < sum.length; k++) sum[k] += Math.fround(m[k] - s.base[k])
  return sum
}

/** The TALL mask of every task for one tensor (1 = the task keeps the coordinate). */
export function tallMasks(s: Slice, mtl: Float32Array, lambda: number): Uint8Array[] {
  const l = Math.fround(lambda)
  return s.models.map((m) => {
    const mask = new Uint8Array(m.length)
    for (let k = 0; k < m.length; k++) {
      const own = Math.abs(Math.fround(s.base[k] - m[k]))
      const rest = Math.abs(Math.fround(Math.fround(s.base[k] + mtl[k]) - m[k]))
      mask[k] = own > Math.fround(l * rest) ? 1 : 0
    }
    return mask
  })
}
