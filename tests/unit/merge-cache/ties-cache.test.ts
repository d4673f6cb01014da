// TIES through a merge cache: the exact per-task thresholds of a first run are reused by a second
// run on the same pool (one read pass instead of two), with bit-identical tensors; a different
// keep fraction, DARE seed or pool content misses.
import { describe, expect, it } from 'vitest'
import { runMerge } from '../../../main/engine/merge/run'
import { cacheKey, memoryMergeCache, type MergeCache, type PoolContentKeys } from '../../../main/engine/merge/cache'
import { MemorySink } from '../../../main/engine/tensors/source'
import { MixedSource, randn, type T } from '../merge/_pool'

const N = 4
const shapes: Record<string, number[]> = { 'l.0.w': [6, 10], 'l.0.b': [6], 'l.1.w': [10, 6] }
const mk = (seed: number): T => Object.fromEntries(Object.entries(shapes).map(([n, sh], i) => [n, { shape: sh, data: randn(sh[0] * (sh[1] ?? 1), seed * 10 + i, 1) }]))
const pool = () => ({ base: new MixedSource(mk(0), {}, 'base'), models: Array.from({ length: N }, (_, t) => new MixedSource(mk(t + 1), {}, `m${t + 1}`)) })
const keys = (tag = 'a'): PoolContentKeys => ({ base: cacheKey('base', tag), models: Array.from({ length: N }, (_, k) => cacheKey('m', k, tag)) })

async function merge(method: string, params: Record<string, unknown>, cache?: MergeCache, seed = 0) {
  const sink = new MemorySink()
  const res = await runMerge({ method, params, seed, pool: pool(), sink, cache })
  return { sink, d: res.diagnostics as Record<string, unknown> & { cache?: { hits: number; misses: number } } }
}
const values = (s: MemorySink) => [...s.tensors].map(([n, t]) => [n, [...t.data]])

describe('TIES thresholds in the merge cache', () => {
  it('a λ sweep pays the selection once: the second run hits, reads once and gives the same thresholds and tensors', async () => {
    const cache = memoryMergeCache(keys())
    const plain = await merge('ties_merging', { scaling_factor: 0.5 })
    const first = await merge('ties_merging', { scaling_factor: 0.5 }, cache)
    const second = await merge('ties_merging', { scaling_factor: 0.5 }, cache)
    const other = await merge('ties_merging', { scaling_factor: 0.9 }, cache)
    expect([first.d.cache, second.d.cache, other.d.cache].map((c) => [c!.hits, c!.misses])).toEqual([[0, 1], [1, 0], [1, 0]])
    expect([first.d.passes, second.d.passes]).toEqual([2, 1])
    expect(second.d.thresholds).toEqual(plain.d.thresholds)
    expect(values(second.sink)).toEqual(values(plain.sink))
    expect(values(first.sink)).toEqual(values(plain.sink))
    expect(values(other.sink)).toEqual(values((await merge('ties_merging', { scaling_factor: 0.9 })).sink))
  })

  it('another keep fraction, another pool content or another DARE seed misses', async () => {
    const cache = memoryMergeCache(keys())
    await merge('ties_merging', { threshold: 20 }, cache)
    expect((await merge('ties_merging', { threshold: 30 }, cache)).d.cache!.misses).toBe(1)
    expect((await merge('ties_merging', { threshold: 20 }, memoryMergeCache(keys('b')))).d.cache!.misses).toBe(1)
    const d1 = await merge('dare_ties_merging', {}, cache, 1)
    const d1again = await merge('dare_ties_merging', {}, cache, 1)
    const d2 = await merge('dare_ties_merging', {}, cache, 2)
    expect([d1.d.cache!.misses, d1again.d.cache!.hits, d2.d.cache!.misses]).toEqual([1, 1, 1])
    expect(values(d1again.sink)).toEqual(values(d1.sink))
    expect(values(d1again.sink)).toEqual(values((await merge('dare_ties_merging', {}, undefined, 1)).sink))
  })
})

describe('SVD merges in the merge cache (α-free merged task vectors)', () => {
  const svdPool = () => {
    const sh: Record<string, number[]> = { 'l.0.w': [6, 10], 'l.0.b': [6], 'l.1.w': [10, 6] }
    const m = (seed: number): T => Object.fromEntries(Object.entries(sh).map(([n, s], i) => [n, { shape: s, data: randn(s[0] * (s[1] ?? 1), seed * 10 + i, 1) }]))
    return { base: new MixedSource(m(0), {}, 'base'), models: Array.from({ length: N }, (_, t) => new MixedSource(m(t + 1), {}, `m${t + 1}`)) }
  }
  const run = async (method: string, params: Record<string, unknown>, cache?: MergeCache) => {
    const sink = new MemorySink()
    const res = await runMerge({ method, params, seed: 0, pool: svdPool(), sink, cache })
    return { t: [...sink.tensors].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, x]) => [n, [...x.data]]), d: res.diagnostics as Record<string, unknown> }
  }
  for (const [method, a, extra] of [['tsvm', 'alpha', {}], ['iso_c', 'scaling_factor', {}], ['iso_cts', 'scaling_factor', { common_space_fraction: 0.5 }]] as const) {
    it(`${method}: an α sweep reuses the merged task vectors, bit-identical to uncached runs; other settings miss`, async () => {
      const cache = memoryMergeCache(keys())
      const first = await run(method, { ...extra, [a]: 1 }, cache)
      const second = await run(method, { ...extra, [a]: 0.4 }, cache)
      expect([first.d.svdFromCache, second.d.svdFromCache]).toEqual([0, 2])
      expect(second.t).toEqual((await run(method, { ...extra, [a]: 0.4 })).t)
      expect(first.t).toEqual((await run(method, { ...extra, [a]: 1 })).t)
      expect(second.d.svd).toEqual(first.d.svd)
      if (method === 'iso_cts') expect((await run(method, { common_space_fraction: 0.3, [a]: 1 }, cache)).d.svdFromCache).toBe(0)
    })
  }
})

describe('a damaged cached SVD merge', () => {
  it('is recomputed from the models (read on the spot) and gives the uncached result', async () => {
    const { mkdtemp, readdir, truncate, rm } = await import('node:fs/promises')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const { ContentCache } = await import('../../../main/engine/workspace/cache')
    const { diskMergeCache } = await import('../../../main/engine/merge/cache')
    const dir = await mkdtemp(join(tmpdir(), 'amalgam-svd-cache-'))
    try {
      const cache = diskMergeCache(new ContentCache(dir), keys())
      const merge = async (alpha: number, c?: MergeCache) => {
        const sink = new MemorySink()
        await runMerge({ method: 'tsvm', params: { alpha }, seed: 0, pool: pool(), sink, cache: c })
        return [...sink.tensors].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, x]) => [n, [...x.data]])
      }
      await merge(1, cache)
      const parts = (await readdir(join(dir, 'svd-merged-v1'))).filter((f) => f.endsWith('.f32'))
      expect(parts.length).toBe(2)
      await truncate(join(dir, 'svd-merged-v1', parts[0]), 10)
      expect(await merge(0.3, cache)).toEqual(await merge(0.3))
    } finally { await rm(dir, { recursive: true, force: true }) }
  })
})
