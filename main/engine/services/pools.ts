// pools.*: register a pool (checked, fingerprinted), the benchmark pool, and the pool's
// task-vector similarity (cached by content hash).
import { randomUUID } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { basename, relative, resolve } from 'node:path'
import type { Out, In } from '#common/contract'
import type { PoolRecord } from '#common/types'
import { AmalgamError } from '#common/errors'
import type { PoolFile } from '../store/pools'
import { ContentCache } from '../workspace/cache'
import { modelContentKey, type PoolContentKeys } from '../merge/cache'
import type { TaskCtx } from '../util/task'
import type { ServiceState } from './state'
import { taskVectorSimilarity, type PoolSimilarity } from './similarity'

const SIMILARITY_VERSION = 'similarity-v1'

export async function addPool(s: ServiceState, p: { name: string; base: string; models: string[]; benchmark?: string | null }): Promise<PoolRecord> {
  const ws = s.workspace()
  if (typeof p.name !== 'string' || !p.name.trim()) throw new AmalgamError('BAD_PARAM', 'pool name must be a non-empty string')
  if (!Array.isArray(p.models) || p.models.length === 0) throw new AmalgamError('BAD_PARAM', 'a pool needs at least one fine-tuned model (models)')
  const base = resolve(p.base)
  const models = p.models.map((m) => resolve(m))
  const dup = models.find((m, i) => models.indexOf(m) !== i)
  if (dup) throw new AmalgamError('BAD_PARAM', `model ${dup} is listed twice in the pool`)
  if (models.includes(base)) throw new AmalgamError('BAD_PARAM', `the base model ${base} is also listed as a fine-tuned model`)
  const check = await s.deps.checkPool(base, models, {})
  if (!check.ok) {
    const shown = check.issues.slice(0, 5).map((i) => `${i.model}${i.tensor ? ` ${i.tensor}` : ''}: ${i.detail}`)
    throw new AmalgamError('POOL_MISMATCH', `the models do not form a pool: ${shown.join('; ')}${check.issues.length > 5 ? ` (and ${check.issues.length - 5} more)` : ''}`, { issues: check.issues })
  }
  const files: PoolFile[] = []
  let config: Record<string, unknown> | undefined
  for (const dir of [base, ...models]) {
    const m = await s.deps.openModel(dir)
    try {
      if (dir === base) config = summariseConfig(m.config)
      for (const f of m.files) files.push({ model: dir, path: f, size: (await stat(f)).size, sha256: ws.hashes.cached(f) })
    } finally {
      await m.close?.()
    }
  }
  return ws.pools.insert({ id: randomUUID(), name: p.name.trim(), base, models, benchmark: p.benchmark ?? null, config, files })
}

export async function addBenchmarkPool(s: ServiceState, p: In<'pools.addBenchmark'>): Promise<PoolRecord> {
  const ws = s.workspace()
  if (p?.benchmark !== 'mini8') throw new AmalgamError('BAD_PARAM', `benchmark must be "mini8", got ${JSON.stringify(p?.benchmark)}`)
  const existing = ws.pools.findByBenchmark(p.benchmark)
  if (existing) return existing
  const b = await s.deps.loadBenchmark(p.benchmark)
  return addPool(s, { name: `${p.benchmark} benchmark`, base: b.base, models: b.models, benchmark: p.benchmark })
}

/** Task names of a pool, in model order: the benchmark's tasks, else the model folder names. */
export function poolTaskNames(pool: PoolRecord): string[] {
  const names = pool.models.map((m) => basename(m).replace(/\.safetensors$/, ''))
  // folder names can repeat (…/a/model, …/b/model): fall back to positions to keep them unique
  return new Set(names).size === names.length ? names : pool.models.map((_, i) => `model${i + 1}`)
}

/** sha256 of every file of every model of the pool (cached by path + size + mtime), in pool order. */
export async function poolFingerprint(s: ServiceState, pool: PoolRecord, ctx?: TaskCtx): Promise<PoolFile[]> {
  const ws = s.workspace()
  let files = ws.pools.files(pool.id)
  if (files.length === 0) {
    // pools registered before file tracking: list the files now
    for (const dir of [pool.base, ...pool.models]) {
      const m = await s.deps.openModel(dir)
      try { for (const f of m.files) files.push({ model: dir, path: f, size: 0, sha256: null }) } finally { await m.close?.() }
    }
  }
  const out: PoolFile[] = []
  for (const [i, f] of files.entries()) {
    ctx?.progress?.('hash', i / files.length, basename(f.path))
    const h = await ws.hashes.sha256(f.path)
    out.push({ ...f, size: h.size, sha256: h.sha256 })
  }
  ws.pools.setFiles(pool.id, out)
  return out
}

export function filesOf(files: PoolFile[], modelDir: string): Array<{ file: string; sha256: string; bytes: number }> {
  return files.filter((f) => f.model === modelDir).map((f) => ({ file: relative(modelDir, f.path) || basename(f.path), sha256: f.sha256!, bytes: f.size }))
}

/**
 * Cache key of a statistic of a pool: the statistic's name/version plus the sha256 of every file of
 * every model, in pool order. Other modules caching per-pool statistics (task vectors, activation
 * statistics) key them the same way, so a renamed folder still hits and a re-saved model misses.
 */
export async function poolContentKey(s: ServiceState, pool: PoolRecord, what: string, ctx?: TaskCtx): Promise<string> {
  const files = await poolFingerprint(s, pool, ctx)
  return ContentCache.key(what, ...[pool.base, ...pool.models].map((m) => files.filter((f) => f.model === m).map((f) => f.sha256).join(',')))
}

/** Content keys of the pool's members for the merge cache (merge/cache.ts), from the fingerprinted files. */
export function poolMemberKeys(pool: PoolRecord, files: PoolFile[]): PoolContentKeys {
  const key = (dir: string): string => {
    const shas = files.filter((f) => f.model === dir).map((f) => f.sha256)
    if (shas.length === 0 || shas.some((x) => !x)) throw new AmalgamError('INTERNAL', `pool ${pool.name}: ${dir} has no fingerprinted files`)
    return modelContentKey(shas as string[])
  }
  return { base: key(pool.base), models: pool.models.map(key) }
}

export async function poolSimilarity(s: ServiceState, p: In<'pools.similarity'>): Promise<Out<'pools.similarity'>> {
  const ws = s.workspace()
  const pool = ws.pools.get(p.poolId)
  const key = await poolContentKey(s, pool, SIMILARITY_VERSION)
  const labels = poolTaskNames(pool)
  const hit = await ws.cache.getJson<PoolSimilarity>('similarity', key)
  if (hit) return { ...hit, models: labels }
  const base = await s.deps.openModel(pool.base)
  const models = []
  try {
    for (const m of pool.models) models.push(await s.deps.openModel(m))
    const r = await taskVectorSimilarity(base, models, labels)
    await ws.cache.putJson('similarity', key, r)
    return r
  } finally {
    for (const m of [base, ...models]) await m.close?.()
  }
}

function summariseConfig(c: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!c) return undefined
  const vision = (c.vision_config as Record<string, unknown> | undefined) ?? c
  return {
    architectures: c.architectures, modelType: c.model_type, dtype: c.torch_dtype ?? c.dtype,
    hiddenSize: vision.hidden_size, layers: vision.num_hidden_layers,
  }
}
