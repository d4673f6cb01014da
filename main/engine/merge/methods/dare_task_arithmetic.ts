// DARE + Task Arithmetic (methods.md §4): randomly drop task-vector entries, rescale, then TA.
import { defineMethod } from '../types'
import { DareMasks } from './_dare'
import { dareCheck, dareFilter, dareParams, type DareParams } from './_dare-params'
import { FB, scalingFactor } from './_params'
import { taskVectors, writeTensors } from './_stream'

type P = DareParams & { scaling_factor: number }

export default defineMethod<P>({
  info: {
    name: 'dare_task_arithmetic',
    title: 'DARE + Task Arithmetic',
    family: 'data-free',
    description: 'Drops each task-vector entry with probability p (seeded, PyTorch-compatible stream), rescales the survivors by 1/(1 − p), then applies Task Arithmetic.',
    citation: `Yu et al., Language models are Super Mario (DARE), ICML 2024; ${FB} config/method/dare/task_arithmetic.yaml; methods.md §4, §29`,
    params: [scalingFactor(0.3, `${FB} dare/task_arithmetic.yaml (scaling_factor: 0.3)`), ...dareParams('dare/task_arithmetic.yaml')],
  },
  check: (p) => dareCheck('dare_task_arithmetic', p),
  async merge(job) {
    const p = job.params
    const masks = DareMasks.draw(job, p.sparsity_ratio, dareFilter(p), p.variant)
    const lambda = Math.fround(p.scaling_factor)
    await writeTensors(job, 'merge', (s) => {
      const v = masks.vectors(s, taskVectors(s), p.sparsity_ratio, p.rescale, p.variant)
      const sum = Float32Array.from(v[0])
      for (let t = 1; t < v.length; t++) { const x = v[t]; for (let k = 0; k < sum.length; k++) sum[k] += x[k] }
      const out = new Float32Array(sum.length)
      for (let k = 0; k < out.length; k++) out[k] = s.base[k] + Math.fround(lambda * sum[k])
      return out
    })
    job.diag.set('keptFraction', masks.keptFraction())
  },
})
