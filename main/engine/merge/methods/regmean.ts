// RegMean (Jin et al., ICLR 2023; methods.md §19): every Linear weight is the least-squares merge
// of the experts on their own inputs, W = (Σ W_t G̃_t)(Σ G̃_t)⁻¹ with the token-averaged input Gram
// of each fine-tuned model on its own task's training exemplars; everything else is the plain
// average of the fine-tuned models (FusionBench RegMeanAlgorithmForCLIP).
import { tick, throwIfCancelled } from '../../util/task'
import { requireData } from '../data'
import { defineMethod } from '../types'
import { FB, compileExcludeRegex } from './_params'
import { linearUnits } from './_data-model'
import { forEachTaskStats, requireTensors } from './_data-features'
import { RegMeanAcc, reduceNonDiagonal } from './_data-regmean'
import { writeTensors } from './_stream'

interface P { num_regmean_examples: number; batch_size: number; reduce_non_diagonal_ratio: number; exclude_param_names_regex: string; [k: string]: unknown }

export const regmeanParams = (def: { n: number; alpha: number }) => [
  { name: 'num_regmean_examples', type: 'integer' as const, default: def.n, min: 1, max: 1000000, description: 'training exemplars per task (shuffled; collection stops after the batch that reaches this count, as FusionBench does)', citation: `${FB} config/method/regmean/clip_regmean.yaml` },
  { name: 'batch_size', type: 'integer' as const, default: 32, min: 1, max: 4096, description: 'exemplar batch size (also decides how many exemplars are used: ⌈n/B⌉·B)', citation: `${FB} clip_regmean.yaml` },
  { name: 'reduce_non_diagonal_ratio', type: 'number' as const, default: def.alpha, min: 0, max: 1, description: 'α: off-diagonal Gram entries are scaled by α (diagonal kept); 1 = plain RegMean', citation: `${FB} clip_regmean.yaml (0.95 for CLIP)` },
]

export default defineMethod<P>({
  info: {
    name: 'regmean',
    title: 'RegMean',
    family: 'data-dependent',
    description: 'Regression mean: each Linear weight minimises Σ_t ‖X_t W_tᵀ − X_t Wᵀ‖² over the experts’ own input features (a Gram-weighted average); other parameters are averaged.',
    citation: `Jin et al., Dataless Knowledge Fusion by Merging Weights of Language Models, ICLR 2023; ${FB} fusion_bench/method/regmean; methods.md §19`,
    params: [
      ...regmeanParams({ n: 256, alpha: 0.95 }),
      { name: 'exclude_param_names_regex', type: 'string', default: '', description: 'parameters whose name matches this regular expression keep the base model’s values', citation: `${FB} clip_regmean.yaml` },
    ],
  },
  check(p) { compileExcludeRegex('regmean', p.exclude_param_names_regex) },
  async merge(job) {
    const data = requireData(job.method, job.data, job.pool.models.length)
    const lins = linearUnits(data.config)
    requireTensors(job, lins.map((u) => [u.weight, u.out * u.in]))
    const excl = compileExcludeRegex(job.method, job.params.exclude_param_names_regex)
    const B = job.params.batch_size
    const n = Math.ceil(job.params.num_regmean_examples / B) * B
    const alpha = job.params.reduce_non_diagonal_ratio
    const acc = new Map(lins.map((u) => [u.unit, new RegMeanAcc(u.out, u.in)]))
    await forEachTaskStats(job, { data, n, grams: true, batchSize: B }, async (k, st) => {
      for (const u of lins) {
        if (excl?.test(u.weight)) continue
        throwIfCancelled(job.ctx, `${job.method} (accumulate)`)
        const g = st.grams.get(u.unit)!
        // token-averaged Gram; q/k/v share one object, so copy before scaling
        const gt = new Float64Array(g.gram.length)
        for (let i = 0; i < gt.length; i++) gt[i] = g.gram[i] / g.rows
        reduceNonDiagonal(gt, u.in, alpha)
        await acc.get(u.unit)!.add(await job.pool.models[k].readF32(u.weight), gt)
        await tick()
      }
    })
    const merged = new Map<string, Float64Array>()
    const cond: Record<string, number> = {}
    let fallbacks = 0
    for (let i = 0; i < lins.length; i++) {
      const u = lins[i]
      if (excl?.test(u.weight)) continue
      throwIfCancelled(job.ctx, `${job.method} (solve)`)
      job.ctx.progress?.('solve', i / lins.length, u.unit)
      const a = acc.get(u.unit)!
      const { W, usedPinv } = a.solve()
      if (usedPinv) fallbacks++
      merged.set(u.weight, W)
      cond[u.weight] = await a.condition()
      job.diag.tensor(u.weight, { condition: cond[u.weight], pinvFallback: usedPinv })
      acc.delete(u.unit)
      await tick()
    }
    job.ctx.progress?.('solve', 1)
    const N = job.pool.models.length
    await writeTensors(job, 'write', (s) => {
      if (excl?.test(s.name)) return Float32Array.from(s.base)
      const w = merged.get(s.name)
      if (w) return Float32Array.from(w)
      const out = new Float32Array(s.base.length)
      for (let i = 0; i < out.length; i++) { let m = 0; for (const x of s.models) m += x[i]; out[i] = m / N }
      return out
    })
    const conds = Object.values(cond)
    job.diag.set('exemplars', { perTask: n, split: 'train', shuffled: true, featureModel: 'each fine-tuned θ_t on its own task', data: data.name })
    job.diag.set('condition', { max: Math.max(...conds), median: conds.sort((a, b) => a - b)[conds.length >> 1] ?? null, pinvFallbacks: fallbacks })
  },
})
