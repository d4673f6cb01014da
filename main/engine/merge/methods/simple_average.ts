// Weight averaging (Model Soup): θ = (1/N) Σ_t θ_t (methods.md §1). θ0 is not used.
import { defineMethod } from '../types'
import { FB } from './_params'
import { writeTensors } from './_stream'

export default defineMethod({
  info: {
    name: 'simple_average',
    title: 'Simple average',
    family: 'data-free',
    description: 'Element-wise mean of the fine-tuned models (the base model is not used). Equals Task Arithmetic with λ = 1/N.',
    citation: `Wortsman et al., Model soups, ICML 2022; ${FB} config/method/simple_average.yaml; methods.md §1`,
    params: [],
  },
  async merge(job) {
    const n = job.pool.models.length
    await writeTensors(job, 'merge', (s) => {
      // float32 sum then divide, as FusionBench's state_dict_avg does
      const acc = Float32Array.from(s.models[0])
      for (let i = 1; i < n; i++) { const m = s.models[i]; for (let k = 0; k < acc.length; k++) acc[k] += m[k] }
      for (let k = 0; k < acc.length; k++) acc[k] /= n
      return acc
    })
  },
})
