// DARE + simple average (methods.md §4): the average of the models θ0 + τ̃_t.
import { defineMethod } from '../types'
import { DareMasks } from './_dare'
import { dareCheck, dareFilter, dareParams, type DareParams } from './_dare-params'
import { FB } from './_params'
import { taskVectors, writeTensors } from './_stream'

export default defineMethod<DareParams>({
  info: {
    name: 'dare_simple_average',
    title: 'DARE + simple average',
    family: 'data-free',
    description: 'Drops each task-vector entry with probability p, rescales by 1/(1 − p), rebuilds each model θ0 + τ̃_t and averages them (TA with λ = 1/N).',
    citation: `Yu et al., DARE, ICML 2024; ${FB} config/method/dare/simple_average.yaml; methods.md §4`,
    params: dareParams('dare/simple_average.yaml'),
  },
  check: (p) => dareCheck('dare_simple_average', p),
  async merge(job) {
    const p = job.params
    const masks = DareMasks.draw(job, p.sparsity_ratio, dareFilter(p), p.variant)
    const n = job.pool.models.length
    await writeTensors(job, 'merge', (s) => {
      const v = masks.vectors(s, taskVectors(s), p.sparsity_ratio, p.rescale, p.variant)
      const acc = new Float32Array(s.base.length)
      for (const x of v) for (let k = 0; k < acc.length; k++) acc[k] += Math.fround(s.base[k] + x[k])
      for (let k = 0; k < acc.length; k++) acc[k] /= n
      return acc
    })
    job.diag.set('keptFraction', masks.keptFraction())
  },
})
