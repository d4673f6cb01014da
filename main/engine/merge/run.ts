// The merge runner: validates parameters against the method's schema, checks the pool, hands the
// method its sinks and returns the resolved parameters with the method's diagnostics.
import { AmalgamError } from '#common/errors'
import type { TensorSink } from '../tensors/source'
import { throwIfCancelled, type TaskCtx } from '../util/task'
import { getMethod } from './registry'
import { validateParams } from './schema'
import { requireData, type MergeData } from './data'
import { Diagnostics, type MergeJob, type MergeResult, type ModelPool } from './types'
import { CountingMergeCache, type MergeCache } from './cache'

export interface RunMergeOptions {
  method: string
  params?: Record<string, unknown>
  seed?: number
  pool: ModelPool
  /** the output of a single-model method */
  sink?: TensorSink
  /** one output per task (pool order) for perTask methods (EMR, TALL masks) */
  sinks?: TensorSink[]
  ctx?: TaskCtx
  /** required by the data-dependent methods (methods.md Part III) */
  data?: MergeData
  /** reuse of expensive pool statistics across runs (merge/cache.ts); hits and misses go into diagnostics.cache */
  cache?: MergeCache
}

export async function runMerge(o: RunMergeOptions): Promise<MergeResult> {
  const method = getMethod(o.method)
  const info = method.info
  const params = validateParams(info, o.params ?? {})
  const seed = o.seed ?? 0
  if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 53) throw new AmalgamError('BAD_PARAM', `${info.name}: seed must be a non-negative integer, got ${seed}`)
  const pool = o.pool
  if (!pool?.base || !Array.isArray(pool.models) || pool.models.length === 0) {
    throw new AmalgamError('BAD_REQUEST', `${info.name}: the pool needs a base model and at least one fine-tuned model`)
  }
  const names = pool.names ?? pool.models.map((m) => m.label)
  if (names.length !== pool.models.length) throw new AmalgamError('BAD_REQUEST', `${info.name}: ${names.length} task names for ${pool.models.length} models`)
  let sinks: TensorSink[]
  if (info.perTask) {
    if (!o.sinks || o.sinks.length !== pool.models.length) {
      throw new AmalgamError('BAD_REQUEST', `${info.name} writes one model per task: give ${pool.models.length} sinks (got ${o.sinks?.length ?? 0})`)
    }
    sinks = o.sinks
  } else {
    if (!o.sink) throw new AmalgamError('BAD_REQUEST', `${info.name}: no output sink given`)
    sinks = [o.sink]
  }
  if (info.family === 'data-dependent') requireData(info.name, o.data, pool.models.length)
  method.check?.(params, pool)
  const ctx = o.ctx ?? {}
  throwIfCancelled(ctx, info.name)
  const cache = o.cache ? new CountingMergeCache(o.cache) : undefined
  const job: MergeJob = { method: info.name, pool: { ...pool, names }, params, seed, sinks, ctx, diag: new Diagnostics(), stats: { merged: 0, copied: 0 }, data: o.data, cache }
  const t0 = performance.now()
  await method.merge(job)
  // only methods that looked something up report it: an empty {hits: 0, misses: 0} would say nothing
  const cacheReport = cache?.report()
  if (cacheReport && cacheReport.hits + cacheReport.misses + (cacheReport.writeFailures ?? 0) > 0) job.diag.set('cache', cacheReport)
  return {
    method: info.name,
    params,
    seed,
    outputs: sinks.length,
    taskNames: names,
    tensors: { ...job.stats },
    seconds: (performance.now() - t0) / 1000,
    diagnostics: job.diag.toJSON(),
  }
}
