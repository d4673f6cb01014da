// TALL masks on Task Arithmetic (methods.md §9): one task-specific model per task,
// θ_t' = θ0 + m_t ⊙ τ_MTL (scale 1), as FusionBench's tall_mask/task_arithmetic returns.
import { defineMethod } from '../types'
import { FB } from './_params'
import { writeTensors } from './_stream'
import { TALL_CITATION, mtlSum, tallMasks } from './_tall'

interface P { tall_mask_lambda: number; [k: string]: unknown }

export default defineMethod<P>({
  info: {
    name: 'tall_mask_task_arithmetic',
    title: 'TALL masks (task-specific models)',
    family: 'data-free',
    description: 'Writes one model per task: the summed task vector restricted to the task’s TALL mask, added to the base at scale 1. A compression method: inference must know the task.',
    citation: `${TALL_CITATION}; ${FB} config/method/tall_mask/task_arithmetic.yaml; methods.md §9`,
    perTask: true,
    params: [
      { name: 'tall_mask_lambda', type: 'number', default: 0.6, min: 0, max: 10, description: 'λ of the mask |τ_t| > λ·|τ_MTL − τ_t|', citation: `${FB} tall_mask/task_arithmetic.yaml (tall_mask_lambda: 0.6)` },
    ],
  },
  async merge(job) {
    const density = new Array(job.pool.models.length).fill(0)
    let total = 0
    await writeTensors(job, 'merge', (s) => {
      const mtl = mtlSum(s)
      total += mtl.length
      return tallMasks(s, mtl, job.params.tall_mask_lambda).map((m, t) => {
        const out = new Float32Array(mtl.length)
        for (let k = 0; k < out.length; k++) { out[k] = m[k] ? s.base[k] + mtl[k] : s.base[k]; density[t] += m[k] }
        return out
      })
    })
    job.diag.set('maskDensity', density.map((d) => d / Math.max(total, 1)))
  },
})
