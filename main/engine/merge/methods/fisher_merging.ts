// Fisher merging, diagonal (Matena & Raffel, NeurIPS 2022; methods.md §18), as FusionBench's
// clip_fisher_merging computes it: per task, the squared batch-summed gradient of Σ_c √q_c·log q_c
// (q = the model's own predicted distribution, detached) over the first n training examples,
// divided by the example count; then θ = Σ_t c_t (F_t + ε) θ_t / Σ_t c_t (F_t + ε) element-wise.
import type * as tfjs from '@tensorflow/tfjs'
import { clipForward, prepareClip, readClipParams, type ClipParams } from '../../model/clip-vision'
import { getModelTf, tf } from '../../model/tf'
import { tick, throwIfCancelled } from '../../util/task'
import { requireData, sliceBatch, type MergeData } from '../data'
import { defineMethod, type MergeJob } from '../types'
import { FB, compileExcludeRegex } from './_params'
import { headLogits, headTensor } from './_data-model'
import { writeTensors } from './_stream'

interface P { num_fisher_examples: number; batch_size: number; normalize_fisher_weight: boolean; minimal_fisher_weight: number; exclude_param_names_regex: string; [k: string]: unknown }

/**
 * The merge rule on explicit vectors (tests, tools): θ = Σ c_t (F_t + ε) θ_t / Σ c_t (F_t + ε) with
 * c_t ∝ 1/(‖F_t‖ + ε) when normalising (‖·‖ over the whole model), else c_t = 1/N.
 */
export function fisherMerge(thetas: ArrayLike<number>[], fishers: ArrayLike<number>[], normalize: boolean, eps: number, norms?: number[]): Float64Array {
  const N = thetas.length
  const n = norms ?? fishers.map((f) => Math.sqrt(Array.from(f).reduce((s, v) => s + v * v, 0)))
  const inv = n.map((x) => 1 / (x + eps)), sumInv = inv.reduce((a, b) => a + b, 0)
  const c = normalize ? inv.map((x) => x / sumInv / N) : new Array(N).fill(1 / N)
  const out = new Float64Array(thetas[0].length)
  for (let k = 0; k < out.length; k++) {
    let num = 0, den = 0
    for (let t = 0; t < N; t++) { const w = c[t] * (fishers[t][k] + eps); num += w * thetas[t][k]; den += w }
    out[k] = num / den
  }
  return out
}

// TF.js has no stop_gradient: an identity whose gradient is zero (q is detached in FusionBench)
let detachFn: ((x: tfjs.Tensor) => tfjs.Tensor) | null = null
function detach(x: tfjs.Tensor): tfjs.Tensor {
  if (!detachFn) {
    detachFn = tf.customGrad(((t: tfjs.Tensor) => ({ value: tf.clone(t), gradFunc: (dy: tfjs.Tensor) => tf.zerosLike(dy) })) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tfjs.Tensor) => tfjs.Tensor
  }
  return detachFn(x)
}

/** Diagonal Fisher of one expert (FusionBench/MergeLM batch approximation), per parameter name. */
export async function diagonalFisher(job: MergeJob, data: MergeData, k: number, n: number, batch: number): Promise<Map<string, Float64Array>> {
  await getModelTf()
  const params: ClipParams = await readClipParams(data.config, job.pool.models[k], job.pool.models[k].label)
  const head = await data.head(k)
  const headT = headTensor(head)
  const names = Object.keys(params)
  const F = new Map(names.map((nm) => [nm, new Float64Array(params[nm].size)]))
  try {
    const images = await data.exemplars(k, n, 0, { shuffle: false })
    for (let o = 0; o < images.count; o += batch) {
      throwIfCancelled(job.ctx, `${job.method} (Fisher of task ${k + 1})`)
      const b = sliceBatch(images, o, Math.min(batch, images.count - o))
      const gs = tf.tidy(() => {
        const x = tf.tensor4d(b.pixels, [b.count, b.side, b.side, b.channels])
        return tf.grads((...ts: tfjs.Tensor[]) => {
          const q: ClipParams = {}
          names.forEach((nm, i) => { q[nm] = ts[i] })
          const { embeds } = clipForward(data.config, prepareClip(data.config, q), x)
          const logits = headLogits(embeds, headT, head.logitScale)
          const logp = tf.logSoftmax(logits)
          const sq = tf.sqrt(detach(tf.softmax(logits)))
          return tf.sum(tf.mul(sq, logp)) as tfjs.Scalar
        })(names.map((nm) => params[nm]))
      })
      names.forEach((nm, i) => { const g = gs[i].dataSync(); const f = F.get(nm)!; for (let j = 0; j < f.length; j++) f[j] += g[j] * g[j] })
      for (const g of gs) g.dispose()
      job.ctx.progress?.('fisher', (k + (o + b.count) / images.count) / job.pool.models.length)
      await tick()
    }
    for (const f of F.values()) for (let j = 0; j < f.length; j++) f[j] /= n
  } finally {
    headT.dispose()
    for (const t of Object.values(params)) t.dispose()
  }
  return F
}

export default defineMethod<P>({
  info: {
    name: 'fisher_merging',
    title: 'Fisher merging',
    family: 'data-dependent',
    description: 'Element-wise average of the fine-tuned weights weighted by each model’s diagonal Fisher information, estimated from its own predictions on training exemplars.',
    citation: `Matena & Raffel, Merging Models with Fisher-Weighted Averaging, NeurIPS 2022; ${FB} config/method/fisher_merging/clip_fisher_merging.yaml; methods.md §18`,
    params: [
      { name: 'num_fisher_examples', type: 'integer', default: 256, min: 1, max: 1000000, description: 'training examples per task, the first ones in stored order (FusionBench’s CLIP loader is not shuffled)', citation: `${FB} clip_fisher_merging.yaml` },
      { name: 'batch_size', type: 'integer', default: 32, min: 1, max: 4096, description: 'examples per batch; the estimate squares batch-summed gradients, so the batch size changes it', citation: `${FB} clip_fisher_merging.yaml` },
      { name: 'normalize_fisher_weight', type: 'boolean', default: true, description: 'weight each task by 1/(‖F_t‖ + ε) (global L2 norm of its Fisher)', citation: `${FB} clip_fisher_merging.yaml` },
      { name: 'minimal_fisher_weight', type: 'number', default: 1e-6, min: 0, max: 1, description: 'ε added to every Fisher value', citation: `${FB} clip_fisher_merging.yaml` },
      { name: 'exclude_param_names_regex', type: 'string', default: '', description: 'parameters matching this regular expression keep the base model’s values', citation: `${FB} clip_fisher_merging.yaml` },
    ],
  },
  check(p) { compileExcludeRegex('fisher_merging', p.exclude_param_names_regex) },
  async merge(job) {
    const data = requireData(job.method, job.data, job.pool.models.length)
    const p = job.params
    const eps = p.minimal_fisher_weight
    const excl = compileExcludeRegex(job.method, p.exclude_param_names_regex)
    const N = job.pool.models.length
    // streaming: Σ_t (F_t + ε)θ_t/(n_t + ε) and Σ_t (F_t + ε)/(n_t + ε) — the common factor of c_t cancels
    const num = new Map<string, Float64Array>(), den = new Map<string, Float64Array>()
    const norms: number[] = []
    for (let k = 0; k < N; k++) {
      const F = await diagonalFisher(job, data, k, p.num_fisher_examples, p.batch_size)
      let sq = 0
      for (const [nm, f] of F) if (!excl?.test(nm)) for (const v of f) sq += v * v
      const nk = Math.sqrt(sq)
      norms.push(nk)
      const w = p.normalize_fisher_weight ? 1 / (nk + eps) : 1
      for (const [nm, f] of F) {
        if (excl?.test(nm)) continue
        const th = await job.pool.models[k].readF32(nm)
        const a = num.get(nm) ?? new Float64Array(f.length), b = den.get(nm) ?? new Float64Array(f.length)
        for (let j = 0; j < f.length; j++) { const x = w * (f[j] + eps); a[j] += x * th[j]; b[j] += x }
        num.set(nm, a); den.set(nm, b)
      }
    }
    await writeTensors(job, 'write', (s) => {
      const a = num.get(s.name), b = den.get(s.name)
      if (!a || !b) return Float32Array.from(s.base) // excluded, or not a tower parameter
      return Float32Array.from(a, (v, j) => v / b[j])
    })
    job.diag.set('fisherNorms', norms)
    job.diag.set('exemplars', { perTask: p.num_fisher_examples, split: 'train', order: 'first n, unshuffled', labels: 'model-predicted distribution (no labels)', data: data.name })
  },
})
