// Activation statistics in the merge cache (merge/stats-cache.ts): bit-exact round trip with the
// q/k/v sharing kept, requests for a subset reuse a larger entry, a kind the entry lacks is a
// miss, and the key follows the model content, the data, n, the seed and the sampling mode.
import { describe, it, expect, beforeAll } from 'vitest'
import { getModelTf } from '../../../main/engine/model/tf'
import { ClipVision } from '../../../main/engine/model/clip-vision'
import { captureActivations, type ActivationStats } from '../../../main/engine/model/capture'
import { MemorySource } from '../../../main/engine/tensors/source'
import { CountingMergeCache, cacheKey, memoryMergeCache } from '../../../main/engine/merge/cache'
import { STATS_NS, readStats, statsKey, writeStats, type StatsKeyInput } from '../../../main/engine/merge/stats-cache'
import { Rng } from '../../../main/engine/benchmark/rng'
import { randomState, tinyCfg } from '../merge-data/_fixture'

const L0 = 'vision_model.encoder.layers.0.self_attn'
const keys = { base: cacheKey('b'), models: [cacheKey('m')] }
const bits = (a: Float64Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
let stats: ActivationStats

function expectSame(a: ActivationStats, b: ActivationStats, norms: boolean): void {
  expect(b.images).toBe(a.images)
  expect([...b.grams.keys()]).toEqual([...a.grams.keys()])
  for (const [u, g] of a.grams) {
    const h = b.grams.get(u)!
    expect([h.dim, h.rows]).toEqual([g.dim, g.rows])
    expect(bits(h.gram)).toEqual(bits(g.gram))
  }
  expect(b.norms.size).toBe(norms ? a.norms.size : 0)
  if (norms) for (const [u, n] of a.norms) { const m = b.norms.get(u)!; expect([m.dim, m.rows]).toEqual([n.dim, n.rows]); expect(bits(m.sq)).toEqual(bits(n.sq)) }
}

describe('activation statistics in the merge cache', () => {
  beforeAll(async () => {
    await getModelTf()
    const m = await ClipVision.load(tinyCfg, new MemorySource(randomState(tinyCfg, 4)))
    const rng = new Rng(5)
    stats = await captureActivations(m, { count: 6, side: 8, channels: 1, pixels: Float32Array.from({ length: 6 * 64 }, () => rng.normal()) }, { grams: true, norms: true, batchSize: 4 })
    m.dispose()
  })

  it('round-trips bit-exact; q/k/v come back as one shared Gram, stored once', async () => {
    const c = new CountingMergeCache(memoryMergeCache(keys))
    await writeStats(c, cacheKey('e1'), stats, { grams: true, norms: true })
    const r = (await readStats(c, cacheKey('e1'), { grams: true, norms: true }))!
    expect(r.has).toEqual({ grams: true, norms: true })
    expectSame(stats, r.stats, true)
    expect(r.stats.grams.get(`${L0}.q_proj`)).toBe(r.stats.grams.get(`${L0}.v_proj`))
    expect(r.index.groups.length).toBe(tinyCfg.numLayers * 4) // (q, k, v), out_proj, fc1, fc2 per block
    expect(c.report()).toMatchObject({ hits: 1, misses: 0 })
  })

  it('a subset request reuses a larger entry; a kind the entry lacks is a miss', async () => {
    const c = new CountingMergeCache(memoryMergeCache(keys))
    await writeStats(c, cacheKey('full'), stats, { grams: true, norms: true })
    const g = (await readStats(c, cacheKey('full'), { grams: true, norms: false }))!
    expectSame(stats, g.stats, false)
    await writeStats(c, cacheKey('grams-only'), stats, { grams: true, norms: false })
    const partial = (await readStats(c, cacheKey('grams-only'), { grams: true, norms: true }))!
    expect(partial.has).toEqual({ grams: true, norms: false })
    expect(partial.stats.norms.size).toBe(0)
    expect(c.report().byNamespace[STATS_NS]).toEqual({ hits: 1, misses: 1 })
    // completing the entry keeps its Grams and adds the energies
    const normsOnly: ActivationStats = { images: stats.images, grams: new Map(), norms: stats.norms }
    await writeStats(c, cacheKey('grams-only'), normsOnly, { grams: false, norms: true }, partial.index)
    expectSame(stats, (await readStats(c, cacheKey('grams-only'), { grams: true, norms: true }))!.stats, true)
  })

  it('a missing or damaged array makes the whole entry a miss', async () => {
    const inner = memoryMergeCache(keys)
    await writeStats(inner, cacheKey('e'), stats, { grams: true, norms: true })
    await inner.putF64(STATS_NS, cacheKey('e'), new Float64Array(3), 'g1') // wrong size for the group
    const c = new CountingMergeCache(inner)
    expect(await readStats(c, cacheKey('e'), { grams: true, norms: false })).toBeNull()
    expect(await readStats(c, cacheKey('absent'), { grams: true, norms: false })).toBeNull()
    expect(c.report()).toMatchObject({ hits: 0, misses: 2 })
  })

  it('the key follows the model content, data, task, n, seed, sampling and backend — not the batch size', () => {
    const k: StatsKeyInput = { model: cacheKey('m'), data: 'mini8:x', config: tinyCfg, task: 0, n: 64, seed: 3, shuffle: true, backend: 'wasm' }
    const base = statsKey(k)
    expect(statsKey({ ...k })).toBe(base)
    for (const change of [{ model: cacheKey('m2') }, { data: 'mini8:y' }, { task: 1 }, { n: 65 }, { seed: 4 }, { shuffle: false }, { backend: 'tensorflow' }, { config: { ...tinyCfg, layerNormEps: 1e-6 } }]) {
      expect(statsKey({ ...k, ...change }), JSON.stringify(change)).not.toBe(base)
    }
  })
})
