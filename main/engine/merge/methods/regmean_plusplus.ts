// RegMean++ (Nguyen et al., arXiv 2508.03121; methods.md §20): RegMean block by block, where the
// Grams of block l come from running each model's own block l on features produced by the already
// merged blocks 0..l−1 (cross-layer dependency). Embeddings and pre_layrnorm are averaged,
// post_layernorm stays θ0 (FusionBench fork behaviour).
import { AmalgamError } from '#common/errors'
import type { GramStat } from '../../model/capture'
import { gramCollector } from '../../model/capture'
import { clipParamShapes, numTokens, VM } from '../../model/config'
import { getModelTf, tf } from '../../model/tf'
import { tick, throwIfCancelled } from '../../util/task'
import { requireData } from '../data'
import { defineMethod } from '../types'
import { FB } from './_params'
import { linearUnits } from './_data-model'
import { requireTensors } from './_data-features'
import { RegMeanAcc, reduceNonDiagonal } from './_data-regmean'
import { regmeanParams } from './regmean'
import { embedTokens, encoderBlock } from './_data-encoder-layer'
import { writeTensors } from './_stream'

interface P { num_regmean_examples: number; batch_size: number; reduce_non_diagonal_ratio: number; [k: string]: unknown }

export default defineMethod<P>({
  info: {
    name: 'regmean_plusplus',
    title: 'RegMean++',
    family: 'data-dependent',
    description: 'RegMean applied block by block on features of the already merged earlier blocks, so each block’s Gram reflects the merged model’s own inputs.',
    citation: `Nguyen et al., RegMean++: Enhancing Effectiveness and Generalization of Regression Mean for Model Merging, arXiv 2508.03121 (a FusionBench fork); ${FB}; methods.md §20`,
    params: regmeanParams({ n: 256, alpha: 0.95 }),
  },
  async merge(job) {
    const p = job.params
    const data = requireData(job.method, job.data, job.pool.models.length)
    const cfg = data.config
    const N = job.pool.models.length, T = numTokens(cfg), D = cfg.hiddenSize
    const lins = linearUnits(cfg)
    requireTensors(job, lins.map((u) => [u.weight, u.out * u.in]))
    await getModelTf()
    const shapes = clipParamShapes(cfg)
    const merged = new Map<string, Float32Array>()
    const mean = async (name: string): Promise<Float32Array> => {
      const xs = await Promise.all(job.pool.models.map((m) => m.readF32(name)))
      return Float32Array.from(xs[0], (_, i) => { let s = 0; for (const x of xs) s += x[i]; return s / N })
    }
    for (const n of shapes.keys()) if (n.startsWith(`${VM}.embeddings.`) || n.startsWith(`${VM}.pre_layrnorm.`)) merged.set(n, await mean(n))
    const B = p.batch_size
    const nEx = Math.ceil(p.num_regmean_examples / B) * B
    // H_t^(0) = pre_layrnorm(embeddings(x)) with the merged embeddings, [n·T, D] per task
    const H: Float32Array[] = []
    for (let t = 0; t < N; t++) {
      throwIfCancelled(job.ctx, `${job.method} (embeddings)`)
      const ex = await data.exemplars(t, nEx, job.seed + t)
      if (ex.count !== nEx) throw new AmalgamError('BAD_REQUEST', `${job.method}: the data provider gave ${ex.count} exemplars for task ${t + 1}, asked for ${nEx}`)
      const px = ex.side * ex.side * ex.channels
      const h = new Float32Array(nEx * T * D)
      for (let o = 0; o < nEx; o += B) {
        const b = Math.min(B, nEx - o)
        const out = tf.tidy(() => embedTokens(cfg, (n) => merged.get(n)!, tf.tensor4d(ex.pixels.subarray(o * px, (o + b) * px), [b, ex.side, ex.side, ex.channels])))
        h.set(out.dataSync(), o * T * D)
        out.dispose()
      }
      H.push(h)
    }
    const conds: number[] = []
    for (let l = 0; l < cfg.numLayers; l++) {
      throwIfCancelled(job.ctx, `${job.method} (block ${l})`)
      job.ctx.progress?.('blocks', l / cfg.numLayers, `block ${l}`)
      const prefix = `${VM}.encoder.layers.${l}`
      const blockNames = [...shapes.keys()].filter((n) => n.startsWith(`${prefix}.`))
      const units = lins.filter((u) => u.unit.startsWith(`${prefix}.`))
      const acc = new Map(units.map((u) => [u.unit, new RegMeanAcc(u.out, u.in)]))
      for (let t = 0; t < N; t++) {
        const own = new Map<string, Float32Array>()
        for (const n of blockNames) own.set(n.slice(prefix.length + 1), await job.pool.models[t].readF32(n))
        const grams = new Map<string, GramStat>()
        for (let o = 0; o < nEx; o += B) {
          const b = Math.min(B, nEx - o)
          const hook = gramCollector(grams)
          tf.tidy(() => { encoderBlock(cfg, (s) => own.get(s)!, prefix, tf.tensor2d(H[t].subarray(o * T * D, (o + b) * T * D), [b * T, D]), b, hook) })
          await tick()
        }
        for (const u of units) {
          const g = grams.get(u.unit)!
          const gt = Float64Array.from(g.gram, (v) => v / g.rows)
          reduceNonDiagonal(gt, u.in, p.reduce_non_diagonal_ratio)
          await acc.get(u.unit)!.add(own.get(u.weight.slice(prefix.length + 1))!, gt)
        }
      }
      for (const u of units) {
        const a = acc.get(u.unit)!
        merged.set(u.weight, Float32Array.from(a.solve().W))
        conds.push(await a.condition())
      }
      for (const n of blockNames) if (!merged.has(n)) merged.set(n, await mean(n))
      // H_t^(l+1) = merged block l (H_t^(l))
      for (let t = 0; t < N; t++) {
        for (let o = 0; o < nEx; o += B) {
          const b = Math.min(B, nEx - o)
          const out = tf.tidy(() => encoderBlock(cfg, (s) => merged.get(`${prefix}.${s}`)!, prefix, tf.tensor2d(H[t].subarray(o * T * D, (o + b) * T * D), [b * T, D]), b))
          H[t].set(out.dataSync(), o * T * D)
          out.dispose()
        }
        await tick()
      }
    }
    job.ctx.progress?.('blocks', 1)
    // post_layernorm and anything outside the tower stay θ0
    await writeTensors(job, 'write', (s) => merged.get(s.name) ?? Float32Array.from(s.base))
    job.diag.set('exemplars', { perTask: nEx, split: 'train', shuffled: true, featureModel: 'merged blocks 0..l−1, then each model’s own block l', data: data.name })
    job.diag.set('condition', { max: Math.max(...conds), median: [...conds].sort((a, b) => a - b)[conds.length >> 1] })
  },
})
