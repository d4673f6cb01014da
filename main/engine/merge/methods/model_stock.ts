// Model Stock (methods.md §7, §29): per tensor, the angle between the fine-tunes' offsets from
// θ0 sets the interpolation ratio t between their average and θ0.
import { AmalgamError } from '#common/errors'
import { defineMethod } from '../types'
import { keyList } from '../schema'
import { FB } from './_params'
import { inKeys, taskVectors, writeTensors } from './_stream'

interface P { ignore_keys: string; variant: 'fusion_bench' | 'mergekit'; [k: string]: unknown }

/** float32-accumulated dot products, as torch.sum over float32 tensors (accumulated in f64 here). */
function cosine(a: Float32Array, b: Float32Array, variant: P['variant']): number {
  let ab = 0, aa = 0, bb = 0
  for (let k = 0; k < a.length; k++) { ab += a[k] * b[k]; aa += a[k] * a[k]; bb += b[k] * b[k] }
  const c = variant === 'fusion_bench' ? ab / (Math.sqrt(aa * bb) + 1e-8) : ab / Math.max(Math.sqrt(aa) * Math.sqrt(bb), 1e-6)
  return Math.min(1, Math.max(-1, c))
}

/** The interpolation ratio t for K models from their pairwise cosines. */
export function stockRatio(cosines: number[], K: number, variant: P['variant']): number {
  if (variant === 'fusion_bench') {
    const angle = cosines.reduce((s, c) => s + Math.acos(c), 0) / cosines.length
    const c = Math.cos(angle)
    return (K * c) / ((K - 1) * c + 1 + 1e-8)
  }
  const c = cosines.reduce((s, x) => s + x, 0) / cosines.length
  return (K * c) / (1 + (K - 1) * c)
}

export default defineMethod<P>({
  info: {
    name: 'model_stock',
    title: 'Model Stock',
    family: 'data-free',
    description: 'Per tensor, interpolates between θ0 and the average of the fine-tuned models with ratio t = K·cos φ / (1 + (K − 1)·cos φ), φ being the (mean pairwise) angle between their offsets from θ0. Designed for several fine-tunes of the same task.',
    citation: `Jang et al., Model Stock: All we need is just a few fine-tuned models, ECCV 2024; ${FB} config/method/model_stock/model_stock.yaml; methods.md §7, §29`,
    params: [
      { name: 'ignore_keys', type: 'string', default: '', description: 'comma-separated tensor names that get the plain average of the fine-tuned models', citation: `${FB} model_stock.yaml (ignore_keys: open_clip text leftovers)` },
      { name: 'variant', type: 'enum', default: 'fusion_bench', choices: ['fusion_bench', 'mergekit'], description: 'K > 2: fusion_bench averages the pairwise angles, mergekit the pairwise cosines', citation: 'methods.md §7 Variants, §29' },
    ],
  },
  check(_p, pool) {
    if (pool.models.length < 2) throw new AmalgamError('BAD_REQUEST', `model_stock needs at least 2 fine-tuned models, got ${pool.models.length}`)
  },
  async merge(job) {
    const K = job.pool.models.length
    const ignored = inKeys(keyList(job.params.ignore_keys))
    const ratios: Record<string, number> = {}
    await writeTensors(job, 'merge', (s) => {
      const avg = new Float32Array(s.base.length)
      for (const m of s.models) for (let k = 0; k < avg.length; k++) avg[k] += m[k]
      for (let k = 0; k < avg.length; k++) avg[k] /= K
      if (ignored(s.name, s.shape)) return avg
      const taus = taskVectors(s)
      const cos: number[] = []
      for (let i = 0; i < K; i++) for (let j = i + 1; j < K; j++) cos.push(cosine(taus[i], taus[j], job.params.variant))
      const t = stockRatio(cos, K, job.params.variant)
      ratios[s.name] = t
      const tf = Math.fround(t), uf = Math.fround(1 - t)
      const out = new Float32Array(avg.length)
      for (let k = 0; k < out.length; k++) out[k] = Math.fround(tf * avg[k]) + Math.fround(uf * s.base[k])
      return out
    })
    job.diag.set('ratio', ratios)
  },
})
