// Consensus Task Arithmetic (methods.md §9, §29): keep only the coordinates that at least k
// tasks' TALL masks select, then θ = θ0 + λ·(c ⊙ τ_MTL).
import { defineMethod } from '../types'
import { FB, scalingFactor } from './_params'
import { writeTensors } from './_stream'
import { TALL_CITATION, mtlSum, tallMasks } from './_tall'

interface P { scaling_factor: number; tall_mask_lambda: number; prun_thre_k: number; [k: string]: unknown }

export default defineMethod<P>({
  info: {
    name: 'consensus_ta',
    title: 'Consensus Task Arithmetic',
    family: 'data-free',
    description: 'Builds a TALL mask per task (where the task’s own delta dominates the rest of the summed task vector) and keeps only the coordinates selected by at least k tasks, removing “selfish” and “catastrophic” weights before Task Arithmetic.',
    citation: `${TALL_CITATION}; ${FB} tall_mask utilities; methods.md §9, §29`,
    params: [
      scalingFactor(0.3, 'TA default λ = 0.3 (FusionBench task_arithmetic.yaml); the paper tunes α in linspace(0,1,11)[1:] on validation', 'α: θ = θ0 + α·(consensus ⊙ Σ_t τ_t)'),
      { name: 'tall_mask_lambda', type: 'number', default: 0.6, min: 0, max: 10, description: 'λ_t of every task’s TALL mask (fixed to stay data-free)', citation: `${FB} tall_mask/task_arithmetic.yaml (tall_mask_lambda: 0.6)` },
      { name: 'prun_thre_k', type: 'integer', default: 2, min: 0, max: 1000, description: 'k: keep a coordinate when at least k task masks select it (0 = plain TA, > N = zero-shot)', citation: 'tall_masks official (prun_thre_k: 2)' },
    ],
  },
  async merge(job) {
    const p = job.params
    const lambda = Math.fround(p.scaling_factor)
    let kept = 0, total = 0
    const density = new Array(job.pool.models.length).fill(0)
    await writeTensors(job, 'merge', (s) => {
      const mtl = mtlSum(s)
      const masks = tallMasks(s, mtl, p.tall_mask_lambda)
      masks.forEach((m, t) => { for (let k = 0; k < m.length; k++) density[t] += m[k] })
      const out = new Float32Array(mtl.length)
      for (let k = 0; k < out.length; k++) {
        let c = 0
        for (const m of masks) c += m[k]
        const keep = c >= p.prun_thre_k
        if (keep) kept++
        out[k] = s.base[k] + Math.fround(lambda * (keep ? mtl[k] : 0))
      }
      total += out.length
      return out
    })
    job.diag.set('consensusKeptFraction', kept / Math.max(total, 1))
    job.diag.set('tallMaskDensity', density.map((d) => d / Math.max(total, 1)))
  },
})
