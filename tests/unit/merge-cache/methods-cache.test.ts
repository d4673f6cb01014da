// The Gram-based methods through a merge cache on a tiny CLIP pool: a second run hits and gives
// bit-identical tensors (to the first run and to an uncached run), RegMean reuses LOT's Grams,
// CAT with in-memory scaled models does not cache, and the key follows the model content and n.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { rm } from 'node:fs/promises'
import { getModelTf } from '../../../main/engine/model/tf'
import { runMerge } from '../../../main/engine/merge/run'
import { MemoryByteStore, cacheKey, diskMergeCache, memoryMergeCache, type MergeCache, type PoolContentKeys } from '../../../main/engine/merge/cache'
import type { MergeData } from '../../../main/engine/merge/data'
import { MemorySink } from '../../../main/engine/tensors/source'
import { ContentCache } from '../../../main/engine/workspace/cache'
import { makeTempDir } from '../../fixtures/make-tiny-checkpoints'
import { tinyData, tinyPool } from '../merge-data/_fixture'

const N = 3
const keys: PoolContentKeys = { base: cacheKey('base'), models: Array.from({ length: N }, (_, k) => cacheKey('expert', k)) }
const withFingerprint = (d: MergeData, f = 'tiny-random:v1'): MergeData => ({ ...d, fingerprint: f })
const REGMEAN = { num_regmean_examples: 12, batch_size: 4 }
let dir = ''

beforeAll(async () => { await getModelTf(); dir = await makeTempDir('amalgam-methods-cache-') })
afterAll(async () => { if (dir) await rm(dir, { recursive: true, force: true }) })

async function merge(method: string, params: Record<string, unknown>, cache?: MergeCache, data: MergeData = withFingerprint(tinyData(N)), seed = 2) {
  const sink = new MemorySink()
  const res = await runMerge({ method, params, seed, pool: tinyPool(N), sink, data, cache })
  return { res, sink, cache: res.diagnostics.cache as { hits: number; misses: number } | undefined }
}

function expectBitIdentical(a: MemorySink, b: MemorySink): void {
  expect([...b.tensors.keys()]).toEqual([...a.tensors.keys()])
  for (const [name, t] of a.tensors) {
    const u = b.tensors.get(name)!.data
    expect(new Uint8Array(u.buffer, u.byteOffset, u.byteLength), name).toEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
  }
}

describe('merge methods with a cache', () => {
  it('RegMean twice on a disk cache: misses, then hits; tensors bit-identical to an uncached run', async () => {
    const plain = await merge('regmean', REGMEAN)
    expect(plain.cache).toBeUndefined()
    const cc = new ContentCache(dir)
    const first = await merge('regmean', REGMEAN, diskMergeCache(cc, keys))
    expect(first.cache).toMatchObject({ hits: 0, misses: N })
    expect(await cc.sizeBytes()).toBeGreaterThan(0)
    const data = Object.assign(tinyData(N), { fingerprint: 'tiny-random:v1' })
    const second = await merge('regmean', REGMEAN, diskMergeCache(new ContentCache(dir), keys), data)
    expect(second.cache).toEqual({ hits: N, misses: 0, byNamespace: { 'activation-stats': { hits: N, misses: 0 } } })
    expect(data.calls.filter((c) => c.kind === 'exemplars')).toEqual([]) // no exemplar was even drawn
    expectBitIdentical(plain.sink, first.sink)
    expectBitIdentical(plain.sink, second.sink)
    await cc.clear()
  })

  it('RegMean after LOT (same exemplar count and seed, other batch size) reuses LOT’s Grams', async () => {
    const cache = memoryMergeCache(keys)
    const lot = await merge('lot_merging', { num_exemplars: 12, batch_size: 6 }, cache)
    expect(lot.cache).toMatchObject({ hits: 0, misses: N })
    const reg = await merge('regmean', REGMEAN, cache)
    expect(reg.cache).toMatchObject({ hits: N, misses: 0 })
    // Grams summed over batches of 6 instead of 4: equal up to float64 rounding
    const plain = await merge('regmean', REGMEAN)
    for (const [name, t] of plain.sink.tensors) {
      const u = reg.sink.tensors.get(name)!.data
      let m = 0, s = 0
      for (let i = 0; i < u.length; i++) { m = Math.max(m, Math.abs(u[i] - t.data[i])); s = Math.max(s, Math.abs(t.data[i])) }
      expect(m, name).toBeLessThanOrEqual(4 * 2 ** -24 * s)
    }
    // CAT wants Grams and LayerNorm energies: LOT's entries hold both
    const cat = await merge('cat_merging', { num_exemplars: 12 }, cache)
    expect(cat.cache).toMatchObject({ hits: N, misses: 0 })
  })

  it('a grams-only entry is completed with the energies a later method needs', async () => {
    const cache = memoryMergeCache(keys)
    await merge('regmean', REGMEAN, cache)
    // batches of 4 as RegMean's, so the cached Grams are the very sums LOT would compute
    const plainLot = await merge('lot_merging', { num_exemplars: 12, batch_size: 4 })
    const lot = await merge('lot_merging', { num_exemplars: 12, batch_size: 4 }, cache)
    expect(lot.cache).toMatchObject({ hits: 0, misses: N })
    expectBitIdentical(plainLot.sink, lot.sink)
    const again = await merge('lot_merging', { num_exemplars: 12, batch_size: 4 }, cache)
    expectBitIdentical(plainLot.sink, again.sink)
    expect(again.cache).toMatchObject({ hits: N, misses: 0 })
  })

  it('CAT on in-memory scaled experts does not cache; no data fingerprint, no cache', async () => {
    const cache = memoryMergeCache(keys)
    const cat = await merge('cat_merging', { num_exemplars: 4, feature_model: 'scaled_expert' }, cache)
    expect(cat.cache).toBeUndefined()
    const reg = await merge('regmean', REGMEAN, cache, tinyData(N))
    expect(reg.cache).toBeUndefined()
  })

  it('the key follows model content, exemplar count, seed and data', async () => {
    const store = new MemoryByteStore()
    const cache = diskMergeCache(store, keys)
    await merge('regmean', REGMEAN, cache)
    // model 3's files changed (another sha256): only its statistics are recomputed
    const changed = diskMergeCache(store, { ...keys, models: [keys.models[0]!, keys.models[1]!, cacheKey('re-saved expert')] })
    expect((await merge('regmean', REGMEAN, changed)).cache).toMatchObject({ hits: N - 1, misses: 1 })
    expect((await merge('regmean', { ...REGMEAN, num_regmean_examples: 16 }, cache)).cache).toMatchObject({ hits: 0, misses: N })
    expect((await merge('regmean', REGMEAN, cache, undefined, 3)).cache).toMatchObject({ hits: 0, misses: N })
    expect((await merge('regmean', REGMEAN, cache, withFingerprint(tinyData(N), 'other data'))).cache).toMatchObject({ hits: 0, misses: N })
  })
})
