// The feature pass of the Gram-based methods (LOT, RegMean, CAT): for each task, run a chosen
// model over that task's training exemplars and hand the activation statistics to the method,
// one task at a time so that only one task's statistics are alive.
import { AmalgamError } from '#common/errors'
import { captureActivations, type ActivationStats } from '../../model/capture'
import type { TensorSource } from '../../tensors/source'
import { throwIfCancelled } from '../../util/task'
import type { MergeData, ExemplarOptions } from '../data'
import type { MergeJob } from '../types'
import { loadTower } from './_data-model'

export interface FeaturePass {
  data: MergeData
  /** exemplars per task */
  n: number
  grams?: boolean
  norms?: boolean
  batchSize?: number
  exemplars?: ExemplarOptions
  /** the model whose activations are captured for task k (default: the fine-tuned expert θ_k) */
  model?: (k: number) => TensorSource
}

export async function forEachTaskStats(job: MergeJob, p: FeaturePass, fn: (k: number, stats: ActivationStats) => Promise<void> | void): Promise<void> {
  const N = job.pool.models.length
  const names = job.pool.names ?? []
  for (let k = 0; k < N; k++) {
    throwIfCancelled(job.ctx, `${job.method} (features)`)
    const stage = `features ${names[k] ?? k + 1}`
    job.ctx.progress?.('features', k / N, stage)
    const images = await p.data.exemplars(k, p.n, job.seed + k, p.exemplars)
    if (images.count !== p.n) throw new AmalgamError('BAD_REQUEST', `${job.method}: the data provider gave ${images.count} exemplars for task ${names[k] ?? k + 1}, asked for ${p.n}`)
    const tower = await loadTower(p.data, p.model ? p.model(k) : job.pool.models[k])
    let stats: ActivationStats
    try {
      stats = await captureActivations(tower, images, { grams: p.grams ?? true, norms: p.norms ?? false, batchSize: p.batchSize, ctx: job.ctx, what: `${job.method} (${stage})` })
    } finally { tower.dispose() }
    await fn(k, stats)
  }
  job.ctx.progress?.('features', 1)
}

/** θ_k − θ0 of one tensor in float64. */
export async function deltaF64(job: MergeJob, k: number, name: string): Promise<Float64Array> {
  const [b, m] = await Promise.all([job.pool.base.readF32(name), job.pool.models[k].readF32(name)])
  if (b.length !== m.length) throw new AmalgamError('POOL_MISMATCH', `tensor ${name}: model ${k + 1} has ${m.length} values but the base has ${b.length}`)
  const d = new Float64Array(b.length)
  for (let i = 0; i < d.length; i++) d[i] = m[i] - b[i]
  return d
}

/** Checks that every named tensor exists with the expected element count in the base. */
export function requireTensors(job: MergeJob, names: Array<[string, number]>): void {
  for (const [n, size] of names) {
    if (!job.pool.base.has(n)) throw new AmalgamError('POOL_MISMATCH', `${job.method}: the base ${job.pool.base.label} has no tensor ${n} (the data provider's model config expects it)`)
    const s = job.pool.base.meta(n).shape.reduce((a, b) => a * b, 1)
    if (s !== size) throw new AmalgamError('POOL_MISMATCH', `${job.method}: tensor ${n} has ${s} values, the model config expects ${size}`)
  }
}

/** k_proj and v_proj read q_proj's input: one Gram group per attention block. */
export const gramGroup = (unit: string): string => unit.replace(/\.(k_proj|v_proj)$/, '.q_proj')
