// Weighted averaging: θ = Σ_t w_t θ_t (/ Σ_t w_t when normalize) (methods.md §1).
import { defineMethod } from '../types'
import { paramError } from '../schema'
import { FB } from './_params'
import { writeTensors } from './_stream'

interface P { weights: number[]; normalize: boolean; [k: string]: unknown }

export default defineMethod<P>({
  info: {
    name: 'weighted_average',
    title: 'Weighted average',
    family: 'data-free',
    description: 'Weighted element-wise mean of the fine-tuned models: θ = Σ w_t θ_t / Σ w_t (normalize) or Σ w_t θ_t. The base is not used.',
    citation: `${FB} WeightedAverageAlgorithm (config/method/weighted_average.yaml); mergekit linear; methods.md §1`,
    params: [
      { name: 'weights', type: 'number[]', default: [], min: -100, max: 100, description: 'one weight per model in pool order; empty = all 1', citation: `${FB} weighted_average.yaml` },
      { name: 'normalize', type: 'boolean', default: true, description: 'divide by the sum of the weights (mergekit: normalize)', citation: `${FB} weighted_average.yaml; mergekit linear` },
    ],
  },
  check(p, pool) {
    if (p.weights.length !== 0 && p.weights.length !== pool.models.length) throw paramError('weighted_average', 'weights', `has ${p.weights.length} entries for ${pool.models.length} models`)
    if (p.normalize) {
      const w = p.weights.length ? p.weights : pool.models.map(() => 1)
      if (Math.abs(w.reduce((a, b) => a + b, 0)) < 1e-12) throw paramError('weighted_average', 'weights', 'sum to 0, which normalize=true cannot divide by')
    }
  },
  async merge(job) {
    const n = job.pool.models.length
    const w = job.params.weights.length ? job.params.weights : Array.from({ length: n }, () => 1)
    const total = w.reduce((a, b) => a + b, 0)
    const coef = w.map((x) => Math.fround(job.params.normalize ? x / total : x))
    job.diag.set('weights', coef)
    await writeTensors(job, 'merge', (s) => {
      const acc = new Float32Array(s.base.length)
      for (let i = 0; i < n; i++) { const m = s.models[i]; const c = coef[i]; for (let k = 0; k < acc.length; k++) acc[k] += c * m[k] }
      return acc
    })
  },
})
