// The merge cache (merge/cache.ts): per-entry hit/miss counting, damaged items read as misses,
// content keys, the memory store's byte budget, write failures that never fail a run.
import { describe, it, expect, afterAll } from 'vitest'
import { readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ContentCache } from '../../../main/engine/workspace/cache'
import {
  CountingMergeCache, MemoryByteStore, cacheKey, decodeBlob, diskMergeCache, encodeBlob, memoryMergeCache, modelContentKey,
  type ByteStore, type PoolContentKeys,
} from '../../../main/engine/merge/cache'
import { makeTempDir } from '../../fixtures/make-tiny-checkpoints'

const sha = (s: string): string => cacheKey('test-file', s)
const keys: PoolContentKeys = { base: sha('base'), models: [sha('a'), sha('b')] }
const dirs: string[] = []
afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

describe('content keys', () => {
  it('model key: from file checksums only, order-free, changes with any file', () => {
    const a = modelContentKey([sha('x'), sha('y')])
    expect(modelContentKey([sha('y'), sha('x')])).toBe(a)
    expect(modelContentKey([sha('x'), sha('z')])).not.toBe(a)
    expect(() => modelContentKey([])).toThrow(/at least one file/)
    expect(() => modelContentKey(['/models/a/model.safetensors'])).toThrow(/not a sha256/)
  })
  it('pool key depends on every member and their order', () => {
    const c = memoryMergeCache(keys)
    expect(c.modelKey(1)).toBe(keys.models[1])
    expect(c.baseKey()).toBe(keys.base)
    expect(memoryMergeCache({ ...keys, models: [...keys.models].reverse() }).poolKey()).not.toBe(c.poolKey())
    expect(memoryMergeCache({ ...keys, base: sha('other') }).poolKey()).not.toBe(c.poolKey())
    expect(() => c.modelKey(2)).toThrow(/no model 2/)
    expect(() => memoryMergeCache({ base: 'models/base', models: [] })).toThrow(/not a hex sha256/)
  })
})

describe('counting', () => {
  it('counts entries per namespace; a missing part turns the entry into a miss', async () => {
    const c = new CountingMergeCache(memoryMergeCache(keys))
    const k = cacheKey('t-v1', 1)
    expect(await c.getJson('thr', k)).toBeNull()
    await c.putJson('thr', k, { t: 0.5 })
    expect(await c.getJson('thr', k)).toEqual({ t: 0.5 })
    await c.putF64('stats', k, Float64Array.of(1, 2), 'a')
    await c.putJson('stats', k, { parts: ['a', 'b'] })
    expect(await c.getJson('stats', k)).toEqual({ parts: ['a', 'b'] })
    expect(Array.from((await c.getF64('stats', k, 'a'))!)).toEqual([1, 2])
    expect(await c.getF64('stats', k, 'b')).toBeNull()
    expect(await c.getF64('stats', k, 'b')).toBeNull() // counted once
    expect(c.report()).toEqual({ hits: 1, misses: 2, byNamespace: { thr: { hits: 1, misses: 1 }, stats: { hits: 0, misses: 1 } } })
  })
  it('a failing store write is counted and reported, never thrown', async () => {
    const broken: ByteStore = { getBytes: async () => null, putBytes: async () => { throw new Error('disk full') } }
    const c = new CountingMergeCache(diskMergeCache(broken, keys))
    await c.putF32('x', cacheKey('k'), Float32Array.of(1))
    await c.putJson('x', cacheKey('k'), 1)
    const r = c.report()
    expect(r.writeFailures).toBe(2)
    expect(r.firstWriteError).toMatch(/disk full/)
  })
  it('rejects namespaces and keys that are not file-name safe', async () => {
    const c = memoryMergeCache(keys)
    await expect(c.getJson('Bad NS', cacheKey('k'))).rejects.toThrow(/namespace/)
    await expect(c.getJson('ok', '../escape')).rejects.toThrow(/key/)
    await expect(c.getF64('ok', cacheKey('k'), 'a/b')).rejects.toThrow(/part/)
  })
})

describe('stored items', () => {
  it('f64 and f32 round-trip bit-exact; the wrong dtype is a miss', () => {
    const a = Float64Array.of(Math.PI, -0, 1e-310, Number.MAX_VALUE)
    const back = decodeBlob(encodeBlob(a), 'f64')!
    expect(new Uint8Array(back.buffer)).toEqual(new Uint8Array(a.buffer))
    expect(decodeBlob(encodeBlob(a), 'f32')).toBeNull()
    const f = Float32Array.of(1.5, -2)
    expect(Array.from(decodeBlob(encodeBlob(f), 'f32')!)).toEqual([1.5, -2])
  })
  it('disk: truncated, bit-flipped and garbage items are misses, then overwritten and hit again', async () => {
    const dir = await makeTempDir('amalgam-merge-cache-')
    dirs.push(dir)
    const cc = new ContentCache(dir)
    const c = diskMergeCache(cc, keys)
    const k = cacheKey('blob', 1)
    const data = Float64Array.from({ length: 100 }, (_, i) => Math.sin(i))
    await c.putF64('grams', k, data, 'g0')
    await c.putJson('grams', k, { n: 100 })
    const files = await readdir(join(dir, 'grams'))
    expect(files.sort()).toEqual([`${k}.g0.f64`, `${k}.mjson`])
    const blobFile = join(dir, 'grams', `${k}.g0.f64`), jsonFile = join(dir, 'grams', `${k}.mjson`)
    const good = await readFile(blobFile)
    expect(Array.from((await c.getF64('grams', k, 'g0'))!)).toEqual(Array.from(data))

    await writeFile(blobFile, good.subarray(0, good.length - 8))
    expect(await c.getF64('grams', k, 'g0')).toBeNull()
    const flipped = Buffer.from(good); flipped[200] ^= 1
    await writeFile(blobFile, flipped)
    expect(await c.getF64('grams', k, 'g0')).toBeNull()
    await writeFile(blobFile, 'not a blob')
    expect(await c.getF64('grams', k, 'g0')).toBeNull()
    const json = await readFile(jsonFile, 'utf8')
    await writeFile(jsonFile, json.slice(0, -3))
    expect(await c.getJson('grams', k)).toBeNull()
    await writeFile(jsonFile, json.replace('100', '101'))
    expect(await c.getJson('grams', k)).toBeNull()

    await c.putF64('grams', k, data, 'g0')
    expect(Array.from((await c.getF64('grams', k, 'g0'))!)).toEqual(Array.from(data))
    expect(await cc.sizeBytes()).toBeGreaterThan(800)
    await cc.clear()
    expect(await c.getF64('grams', k, 'g0')).toBeNull()
  })
  it('memory: values are copies, least recently used items go beyond the byte budget', async () => {
    const store = new MemoryByteStore(3 * (64 + 80))
    const c = diskMergeCache(store, keys)
    const a = Float64Array.from({ length: 10 }, (_, i) => i)
    await c.putF64('m', cacheKey(1), a)
    a[0] = 99
    const got = (await c.getF64('m', cacheKey(1)))!
    expect(got[0]).toBe(0)
    got[1] = 99
    expect((await c.getF64('m', cacheKey(1)))![1]).toBe(1)
    await c.putF64('m', cacheKey(2), a)
    await c.putF64('m', cacheKey(3), a)
    await c.getF64('m', cacheKey(1)) // now most recently used
    await c.putF64('m', cacheKey(4), a)
    expect(await c.getF64('m', cacheKey(2))).toBeNull()
    expect(await c.getF64('m', cacheKey(1))).not.toBeNull()
    expect(store.sizeBytes()).toBeLessThanOrEqual(store.maxBytes)
    await c.putF64('m', cacheKey(5), new Float64Array(1000)) // larger than the budget: not kept
    expect(await c.getF64('m', cacheKey(5))).toBeNull()
  })
})
