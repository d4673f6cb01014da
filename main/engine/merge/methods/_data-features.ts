// The feature pass of the Gram-based methods (LOT, RegMean, CAT): for each task, run a chosen
// model over that task's training exemplars and hand the activation statistics to the method,
// one task at a time so that only one task's statistics are alive.
import { AmalgamError } from '#common/errors'
import { captureActivations, type ActivationStats } from '../../model/capture'
import { getModelTf } from '../../model/tf'
import type { TensorSource } from '../../tensors/source'
import { throwIfCancelled } from '../../util/task'
import type { MergeData, ExemplarOptions } from '../data'
import type { MergeJob } from '../types'
import { readStats, statsKey, writeStats, type StatsKinds } from '../stats-cache'
import { loadTower } from './_data-model'

export interface FeaturePass {
  data: MergeData
  /** exemplars per task */
  n: number
  grams?: boolean
  norms?: boolean
  batchSize?: number
  exemplars?: ExemplarOptions
  /**
   * the model whose activations are captured for task k (default: the fine-tuned expert θ_k); such
   * a model has no content key, so its statistics are not cached
   */
  model?: (k: number) => TensorSource
}

/**
 * Statistics of the expert θ_k on task k's exemplars (seed job.seed + k), task by task. With a
 * job cache and a data fingerprint they come from the cache when another run on the same pool
 * captured them (merge/stats-cache.ts); only kinds the cache lacks are captured.
 */
export async function forEachTaskStats(job: MergeJob, p: FeaturePass, fn: (k: number, stats: ActivationStats) => Promise<void> | void): Promise<void> {
  const N = job.pool.models.length
  const names = job.pool.names ?? []
  const want: StatsKinds = { grams: p.grams ?? true, norms: p.norms ?? false }
  const cache = job.cache && p.data.fingerprint && !p.model ? job.cache : undefined
  const backend = cache ? (await getModelTf()).getBackend() : ''
  for (let k = 0; k < N; k++) {
    throwIfCancelled(job.ctx, `${job.method} (features)`)
    const stage = `features ${names[k] ?? k + 1}`
    job.ctx.progress?.('features', k / N, stage)
    const key = cache ? statsKey({ model: cache.modelKey(k), data: p.data.fingerprint!, config: p.data.config, task: k, n: p.n, seed: job.seed + k, shuffle: p.exemplars?.shuffle ?? true, backend }) : ''
    const hit = cache ? await readStats(cache, key, want) : null
    const missing: StatsKinds = { grams: want.grams && !hit?.has.grams, norms: want.norms && !hit?.has.norms }
    let stats: ActivationStats
    if (hit && !missing.grams && !missing.norms) stats = hit.stats
    else {
      const images = await p.data.exemplars(k, p.n, job.seed + k, p.exemplars)
      if (images.count !== p.n) throw new AmalgamError('BAD_REQUEST', `${job.method}: the data provider gave ${images.count} exemplars for task ${names[k] ?? k + 1}, asked for ${p.n}`)
      const tower = await loadTower(p.data, p.model ? p.model(k) : job.pool.models[k])
      // with a partial entry only the missing kinds are captured; the entry grows to hold both
      const capture: StatsKinds = hit ? missing : want
      let fresh: ActivationStats
      try {
        fresh = await captureActivations(tower, images, { ...capture, batchSize: p.batchSize, ctx: job.ctx, what: `${job.method} (${stage})` })
      } finally { tower.dispose() }
      // the entry keeps what it had and gains what was captured now
      if (cache) await writeStats(cache, key, fresh, capture, hit?.index)
      stats = hit ? { images: fresh.images, grams: capture.grams ? fresh.grams : hit.stats.grams, norms: capture.norms ? fresh.norms : hit.stats.norms } : fresh
    }
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
