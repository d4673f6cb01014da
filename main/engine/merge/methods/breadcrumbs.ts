// Model Breadcrumbs (methods.md §5): per row along the last axis, drop the γ fraction of largest
// magnitudes (outliers) and keep the next β fraction; θ = θ0 + α Σ_t τ̂_t.
import { defineMethod } from '../types'
import { paramError } from '../schema'
import { taskVectors, writeTensors } from './_stream'

interface P { density: number; gamma: number; scaling_factor: number; variant: 'official' | 'mergekit'; [k: string]: unknown }

/** Indices of v[off, off+n) by |v| descending, ties by position (a stable sort). */
function orderByMagnitude(v: Float32Array, off: number, n: number): Int32Array {
  const idx = new Int32Array(n)
  for (let i = 0; i < n; i++) idx[i] = i
  return idx.sort((a, b) => Math.abs(v[off + b]) - Math.abs(v[off + a]) || a - b)
}

/** Official mask on one row: keep magnitude ranks (⌊γn⌋, ⌊γn⌋ + ⌊βn⌋] from the top. In place. */
export function breadcrumbRow(v: Float32Array, off: number, n: number, beta: number, gamma: number): void {
  const top = Math.floor(gamma * n), keep = Math.floor(beta * n)
  const order = orderByMagnitude(v, off, n)
  for (let r = 0; r < n; r++) if (r < top || r >= top + keep) v[off + order[r]] = 0
}

/** mergekit `magnitude_outliers` on a whole tensor, with the kept range [n_bot, n − n_top). */
export function breadcrumbTensor(v: Float32Array, density: number, gamma: number): void {
  const n = v.length
  const target = Math.floor(density * n)
  let nTop = Math.floor(gamma * n)
  let nBot = n - target - nTop
  if (nBot < 0) { nTop += nBot; nBot = 0 }
  const desc = orderByMagnitude(v, 0, n) // ascending rank a ↔ descending rank n − 1 − a
  for (let r = 0; r < n; r++) { const asc = n - 1 - r; if (!(asc >= nBot && asc < n - nTop)) v[desc[r]] = 0 }
}

export default defineMethod<P>({
  info: {
    name: 'breadcrumbs',
    title: 'Model Breadcrumbs',
    family: 'data-free',
    description: 'Sparsifies each task vector by masking both its largest-magnitude outliers (top γ) and its small entries (all but the next β), per row in the official code, then adds the scaled sum to the base.',
    citation: 'Davari & Belilovsky, Model Breadcrumbs, ECCV 2024; official rezazzr/breadcrumbs src/task_vectors.py; mergekit breadcrumbs; methods.md §5',
    params: [
      { name: 'density', type: 'number', default: 0.15, min: 0, max: 1, description: 'β: fraction of each row kept after the outliers are removed', citation: 'breadcrumbs official first search point β = 0.15; mergekit density' },
      { name: 'gamma', type: 'number', default: 0.006, min: 0, max: 1, description: 'γ: fraction of the largest magnitudes removed per row', citation: 'breadcrumbs official first search point γ = 0.006; mergekit gamma (0.01)' },
      { name: 'scaling_factor', type: 'number', default: 0.2, min: -10, max: 10, description: 'α: θ = θ0 + α Σ_t τ̂_t', citation: 'breadcrumbs official first search point α = 0.2' },
      { name: 'variant', type: 'enum', default: 'official', choices: ['official', 'mergekit'], description: 'official: per row along the last axis; mergekit: per tensor, kept ascending ranks [n_bot, n − n_top) (without mergekit’s n_top = 0 bug)', citation: 'methods.md §5 Variants, Pitfalls' },
    ],
  },
  check(p) {
    if (p.density + p.gamma > 1) throw paramError('breadcrumbs', 'density', `plus gamma must be ≤ 1, got ${p.density} + ${p.gamma}`)
  },
  async merge(job) {
    const p = job.params
    const lambda = Math.fround(p.scaling_factor)
    await writeTensors(job, 'merge', (s) => {
      const taus = taskVectors(s)
      const sum = new Float32Array(s.base.length)
      for (const tau of taus) {
        if (s.shape.length > 0) {
          if (p.variant === 'mergekit') breadcrumbTensor(tau, p.density, p.gamma)
          else {
            const n = s.shape[s.shape.length - 1]
            for (let off = 0; off < tau.length; off += n) breadcrumbRow(tau, off, n, p.density, p.gamma)
          }
        }
        for (let k = 0; k < sum.length; k++) sum[k] += tau[k]
      }
      const out = new Float32Array(sum.length)
      for (let k = 0; k < out.length; k++) out[k] = s.base[k] + Math.fround(lambda * sum[k])
      return out
    })
  },
})
