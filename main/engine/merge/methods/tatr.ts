// TATR — Task Arithmetic in Trust Region (Sun et al., ICLR 2025; methods.md §21): drop the
// coordinates where one task's vector moves along another task's gradient most (the top 1 − q of
// the conflict Ω = Σ_{i≠j} g_i ⊙ |v_j|), then Task Arithmetic on the rest. Data mode: g_t = mean
// over labelled training samples of |∇ CE| at θ0 with task t's head (one backward per sample);
// zero-shot mode: g_t = |v_t|. g is keyed by task (FusionBench's data mode keys it by the last
// parameter name, which collapses Ω to 0 and returns θ0 — that defect is not reproduced).
import type * as tfjs from '@tensorflow/tfjs'
import { AmalgamError } from '#common/errors'
import { kthSmallestAbs } from '../../kernels/select'
import { clipForward, prepareClip, readClipParams, type ClipParams } from '../../model/clip-vision'
import { getModelTf, tf } from '../../model/tf'
import { tick, throwIfCancelled } from '../../util/task'
import { requireData, sliceBatch } from '../data'
import { defineMethod } from '../types'
import { FB } from './_params'
import { headLogits, headTensor } from './_data-model'
import { floatNames, writeTensors } from './_stream'

interface P { scaling_factor: number; threshold_quantile: number; max_samples: number; zero_shot: boolean; [k: string]: unknown }

/** The trust-region mask on explicit flat vectors (tests): keeps Ω < Ω_sorted[min(⌊q·d⌋, d − 1)]. */
export function tatrMerge(v: ArrayLike<number>[], g: ArrayLike<number>[], q: number): { merged: Float64Array; threshold: number; kept: number } {
  const d = v[0].length, N = v.length
  const omega = new Float32Array(d)
  for (let e = 0; e < d; e++) {
    let s = 0
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) if (i !== j) s += g[i][e] * Math.abs(v[j][e])
    omega[e] = s
  }
  const thr = kthSmallestAbs(omega, Math.min(Math.floor(q * d), d - 1) + 1)
  const merged = new Float64Array(d)
  let kept = 0
  for (let e = 0; e < d; e++) if (omega[e] < thr) { kept++; for (let i = 0; i < N; i++) merged[e] += v[i][e] }
  return { merged, threshold: thr, kept }
}

export default defineMethod<P>({
  info: {
    name: 'tatr',
    title: 'TATR (Task Arithmetic in Trust Region)',
    family: 'data-dependent',
    description: 'Task Arithmetic restricted to a trust region: the coordinates where task vectors conflict most with other tasks’ gradients (top 1 − q of Σ_{i≠j} |∇L_i| ⊙ |τ_j|) are dropped before adding.',
    citation: `Sun et al., Task Arithmetic in Trust Region: A Training-Free Model Merging Approach to Navigate Knowledge Conflicts, ICLR 2025; ${FB} fusion_bench/method/task_arithmetic trust region; methods.md §21`,
    params: [
      { name: 'scaling_factor', type: 'number', default: 0.3, min: -10, max: 10, description: 'λ: θ = θ0 + λ·(mask ⊙ Σ τ)', citation: `${FB} (scaling_factor 0.3)` },
      { name: 'threshold_quantile', type: 'number', default: 0.99, min: 0, max: 1, description: 'q: coordinates with conflict below the q-quantile are kept (0.99 drops ≈ 1 %)', citation: `${FB} (threshold_quantile 0.99)` },
      { name: 'max_samples', type: 'integer', default: 128, min: 1, max: 100000, description: 'labelled training samples per task for the mean |gradient| at θ0 (one backward each)', citation: `${FB} (max_samples 128)` },
      { name: 'zero_shot', type: 'boolean', default: false, description: 'use |τ_t| in place of the gradient (no data read)', citation: `${FB} (zero_shot false)` },
    ],
  },
  async merge(job) {
    const p = job.params
    const data = requireData(job.method, job.data, job.pool.models.length)
    const N = job.pool.models.length
    const names = floatNames(job)
    const taus = new Map<string, Float32Array[]>()
    for (const n of names) {
      const b = await job.pool.base.readF32(n)
      taus.set(n, await Promise.all(job.pool.models.map(async (m) => { const x = await m.readF32(n); return Float32Array.from(x, (v, i) => v - b[i]) })))
    }
    // g_t per tensor: zero-shot |τ_t|; data mode mean |∇ CE| at θ0 (tensors the tower does not use: 0)
    const g = new Map<string, Float32Array[]>(names.map((n) => [n, taus.get(n)!.map((t) => (p.zero_shot ? t.map(Math.abs) : new Float32Array(t.length)))]))
    if (!p.zero_shot) {
      await getModelTf()
      const params: ClipParams = await readClipParams(data.config, job.pool.base, job.pool.base.label)
      const pn = Object.keys(params)
      try {
        for (let t = 0; t < N; t++) {
          const head = await data.head(t)
          const headT = headTensor(head)
          const ex = await data.exemplars(t, p.max_samples, job.seed + t, { labels: true })
          if (!ex.labels) throw new AmalgamError('BAD_REQUEST', `tatr: the data provider ${data.name} gave no labels for task ${t + 1} (data mode needs labelled training samples)`)
          for (let s = 0; s < ex.count; s++) {
            throwIfCancelled(job.ctx, `${job.method} (gradients)`)
            const one = sliceBatch(ex, s, 1)
            const gs = tf.tidy(() => {
              const x = tf.tensor4d(one.pixels, [1, one.side, one.side, one.channels])
              const y = tf.oneHot(tf.tensor1d([one.labels![0]], 'int32'), head.classes)
              return tf.grads((...ts: tfjs.Tensor[]) => {
                const q: ClipParams = {}
                pn.forEach((n, i) => { q[n] = ts[i] })
                const { embeds } = clipForward(data.config, prepareClip(data.config, q), x)
                return tf.losses.softmaxCrossEntropy(y, headLogits(embeds, headT, head.logitScale)) as tfjs.Scalar
              })(pn.map((n) => params[n]))
            })
            pn.forEach((n, i) => { const d = gs[i].dataSync(); const acc = g.get(n)?.[t]; if (acc) for (let k = 0; k < d.length; k++) acc[k] += Math.abs(d[k]) / ex.count })
            for (const x of gs) x.dispose()
            if (s % 8 === 7) { job.ctx.progress?.('gradients', (t + (s + 1) / ex.count) / N); await tick() }
          }
          headT.dispose()
        }
      } finally { for (const x of Object.values(params)) x.dispose() }
    }
    // Ω and its q-quantile over the whole flattened model (sorted keys)
    const omega = names.map((n) => {
      const v = taus.get(n)!, gg = g.get(n)!, d = v[0].length
      const sumG = new Float32Array(d), sumA = new Float32Array(d), self = new Float32Array(d)
      for (let i = 0; i < N; i++) for (let e = 0; e < d; e++) { const a = Math.abs(v[i][e]); sumG[e] += gg[i][e]; sumA[e] += a; self[e] += gg[i][e] * a }
      // Σ_{i≠j} g_i |v_j| = (Σ g)(Σ |v|) − Σ g_i |v_i|, computed per element in float64 then stored float32
      return Float32Array.from(sumG, (x, e) => Math.max(0, x * sumA[e] - self[e]))
    })
    const d = omega.reduce((s, o) => s + o.length, 0)
    const thr = kthSmallestAbs(omega, Math.min(Math.floor(p.threshold_quantile * d), d - 1) + 1)
    const mask = new Map(names.map((n, i) => [n, omega[i]]))
    let kept = 0
    const lambda = Math.fround(p.scaling_factor)
    await writeTensors(job, 'write', (s) => {
      const om = mask.get(s.name)!, v = taus.get(s.name)!
      const out = Float32Array.from(s.base)
      for (let e = 0; e < out.length; e++) {
        if (!(om[e] < thr)) continue
        kept++
        let sum = 0
        for (let i = 0; i < N; i++) sum = Math.fround(sum + v[i][e])
        out[e] += Math.fround(lambda * sum)
      }
      return out
    })
    job.diag.set('threshold', thr)
    job.diag.set('keptFraction', kept / Math.max(d, 1))
    job.diag.set('mode', p.zero_shot ? 'zero-shot (|τ| in place of gradients)' : { samplesPerTask: p.max_samples, split: 'train', labels: true, gradientAt: 'θ0 with each task’s head', data: data.name })
  },
})
