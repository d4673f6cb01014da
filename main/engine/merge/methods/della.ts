// DELLA / MagPrune (methods.md §6): per row, keep probabilities grow with the magnitude rank
// (d − ε … d + ε); survivors are rescaled by 1/p_i (official) and merged with sign consensus.
import { TorchGenerator } from '../../kernels/torch-generator'
import { defineMethod } from '../types'
import { paramError } from '../schema'
import { taskVectors, writeTensors } from './_stream'
import { mergekitDisjoint } from './_ties-core'

interface P { density: number; epsilon: number; scaling_factor: number; rescale: boolean; consensus: 'sum' | 'none'; variant: 'official' | 'mergekit'; [k: string]: unknown }

/** Keep probabilities of one row: p_i = (d − ε) + 2ε·(rank_i − 1)/(n − 1), rank 1 = smallest |v|. */
export function dellaProbabilities(row: ArrayLike<number>, density: number, eps: number): Float64Array {
  const n = row.length
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => Math.abs(row[a]) - Math.abs(row[b]) || a - b)
  const p = new Float64Array(n)
  idx.forEach((i, r) => { p[i] = density - eps + (n > 1 ? (2 * eps * r) / (n - 1) : 0) })
  return p
}

/** FNV-1a of the tensor name, so each (seed, model, tensor) has its own reproducible stream. */
function nameHash(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0 }
  return h
}

export default defineMethod<P>({
  info: {
    name: 'della',
    title: 'DELLA (MagPrune)',
    family: 'data-free',
    description: 'Magnitude-aware random drop: within each row, larger task-vector entries are kept with higher probability (d ± ε by rank); survivors are rescaled by 1/p, then merged with TIES-style sign consensus (or summed) and scaled by λ.',
    citation: 'Deep et al., DELLA-Merging, 2024; official declare-lab/della (vendored mergekit); mergekit della / della_linear; methods.md §6',
    params: [
      { name: 'density', type: 'number', default: 0.7, min: 0, max: 1, description: 'd: mean keep probability', citation: 'DELLA official run example (drop 0.3)' },
      { name: 'epsilon', type: 'number', default: 0.14, min: 0, max: 0.5, description: 'ε: half-width of the keep-probability window over the magnitude ranks', citation: 'DELLA official window_size 0.14; mergekit epsilon 0.15' },
      { name: 'scaling_factor', type: 'number', default: 1.1, min: -10, max: 10, description: 'λ: θ = θ0 + λ·merged', citation: 'DELLA official run example λ = 1.1' },
      { name: 'rescale', type: 'boolean', default: true, description: 'rescale survivors (official: divide by their own p_i; mergekit: match the tensor L1 norm)', citation: 'mergekit della (rescale: true)' },
      { name: 'consensus', type: 'enum', default: 'sum', choices: ['sum', 'none'], description: 'sum: sign election + disjoint mean (mergekit della); none: plain sum (della_linear)', citation: 'mergekit della / della_linear' },
      { name: 'variant', type: 'enum', default: 'official', choices: ['official', 'mergekit'], description: 'rescale rule: official 1/p_i per entry, mergekit per-tensor L1 ratio', citation: 'methods.md §6 Variants' },
    ],
  },
  check(p) {
    if (!(p.density - p.epsilon > 0 && p.density + p.epsilon <= 1)) throw paramError('della', 'epsilon', `needs 0 < density − epsilon and density + epsilon ≤ 1 (density ${p.density}, epsilon ${p.epsilon})`)
  },
  async merge(job) {
    const p = job.params
    const lambda = Math.fround(p.scaling_factor)
    let kept = 0, total = 0
    await writeTensors(job, 'merge', (s) => {
      const taus = taskVectors(s)
      const n = s.shape.length ? s.shape[s.shape.length - 1] : 1
      taus.forEach((tau, t) => {
        // stream per (seed, model index, tensor): results do not depend on tensor order (§4 RNG)
        const g = new TorchGenerator(((job.seed * 1000003) ^ Math.imul(t + 1, 0x9e3779b1) ^ nameHash(s.name)) >>> 0)
        let l1 = 0, l1m = 0
        for (let off = 0; off < tau.length; off += n) {
          const row = tau.subarray(off, off + n)
          const prob = dellaProbabilities(row, p.density, p.epsilon)
          for (let i = 0; i < row.length; i++) {
            const u = (g.nextU32() & 0xffffff) * 2 ** -24
            l1 += Math.abs(row[i])
            if (u < prob[i]) { kept++; l1m += Math.abs(row[i]); if (p.rescale && p.variant === 'official') row[i] = row[i] / prob[i] } else row[i] = 0
          }
        }
        total += tau.length
        if (p.rescale && p.variant === 'mergekit' && l1m > 0) { const r = l1 / l1m; for (let i = 0; i < tau.length; i++) tau[i] *= r }
      })
      let merged: Float32Array
      if (p.consensus === 'sum') merged = mergekitDisjoint(taus, 'mean')
      else { merged = new Float32Array(s.base.length); for (const x of taus) for (let k = 0; k < merged.length; k++) merged[k] += x[k] }
      const out = new Float32Array(merged.length)
      for (let k = 0; k < out.length; k++) out[k] = s.base[k] + Math.fround(lambda * merged[k])
      return out
    })
    job.diag.set('keptFraction', kept / Math.max(total, 1))
  },
})
