// TIES's sampled plan (methods/_ties-sample.ts, kernels/sampled-select.ts): the trim bands come
// from a sample of the pool and are settled exactly in the merge pass. Whatever the sample, the
// result must be bit-identical to the full-selection plans; a band that misses must be recovered
// from; NaN anywhere, sampled or not, must be refused naming the task.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemorySink, MemorySource, type MemTensor } from '../../../main/engine/tensors/source'
import { runMerge } from '../../../main/engine/merge/run'
import { setTiesSampling } from '../../../main/engine/merge/methods/_ties-sample'
import { blockPlaces } from '../../../main/engine/tensors/block-sample'
import { availableKernelImplementations, useKernelImplementation } from '../../../main/engine/kernels/native-kernels'
import { SafetensorsStreamWriter } from '../../../main/engine/safetensors/writer'
import { openModel } from '../../../main/engine/checkpoints/open'
import { HfFolderWriter } from '../../../main/engine/checkpoints/export'
import type { ModelPool } from '../../../main/engine/merge/types'
import { randn } from './_pool'

// blocks of 32 values, 4 runs of 2 read from each: a.weight 60 blocks, a.bias 1 block + 16 tail, b.weight 30 blocks + 30 tail (out ≠ in), c.bias tail only
const SHAPES: Record<string, number[]> = { 'a.weight': [48, 40], 'a.bias': [48], 'b.weight': [30, 33], 'c.bias': [7] }
const SMALL = { block: 32, runs: 4, run: 2, minLength: 0, maxDeferred: 1 }
const N = 4

function makePool(nanAt?: { model: number; name: string; index: number }): ModelPool {
  const names = Object.keys(SHAPES).sort()
  const numel = (s: number[]) => s.reduce((a, b) => a * b, 1)
  const base = new Map<string, MemTensor>(names.map((n, i) => [n, { shape: SHAPES[n], data: randn(numel(SHAPES[n]), 100 + i, 1) }]))
  const models = Array.from({ length: N }, (_, t) => new MemorySource(new Map(names.map((n, i) => {
    const b = base.get(n)!.data
    const data = Float32Array.from(b, (x, k) => x + randn(b.length, 10 * t + i, 0.01 * (1 + (k % 7)))[k])
    // exact cancellations (zero mass) and unchanged entries (τ = 0)
    if (n === 'a.weight') for (let k = 0; k < 40; k += 4) { data[k] = t === 0 ? b[k] + 0.5 : t === 1 ? b[k] - 0.5 : b[k] }
    if (nanAt && nanAt.model === t && nanAt.name === n) data[nanAt.index] = NaN
    return [n, { shape: SHAPES[n], data }]
  })), `model${t + 1}`))
  return { base: new MemorySource(base, 'base'), models }
}

async function merge(pool: ModelPool, params: Record<string, unknown>, sampling: Record<string, unknown>) {
  const restore = setTiesSampling(sampling)
  try {
    const sink = new MemorySink()
    const r = await runMerge({ method: 'ties_merging', pool, sink, params })
    return { out: Object.fromEntries([...sink.tensors].map(([n, t]) => [n, [...t.data]])), diag: r.diagnostics as Record<string, unknown> }
  } finally { restore() }
}

afterEach(() => useKernelImplementation('auto'))

describe('TIES sampled plan', () => {
  for (const [threshold, merge_func] of [[20, 'sum'], [80, 'mean'], [50, 'sum']] as const) {
    it(`threshold ${threshold}, ${merge_func}: bit-identical to the full-selection plan, native and JS kernels`, async () => {
      const pool = makePool()
      const params = { threshold, merge_func, scaling_factor: 0.6 }
      const ref = await merge(pool, params, { minLength: Infinity })
      expect(ref.diag.plan).toBe('bucket')
      for (const impl of availableKernelImplementations()) {
        useKernelImplementation(impl)
        const s = await merge(pool, params, SMALL)
        expect(s.diag.plan, impl).toBe('sampled')
        expect(s.diag.passes).toBe(1)
        expect(s.diag.bandMisses).toBe(0)
        expect(s.out, impl).toEqual(ref.out)
        expect(s.diag.thresholds).toEqual(ref.diag.thresholds)
        expect(s.diag.keptFraction).toEqual(ref.diag.keptFraction)
        expect(s.diag.majoritySign).toBe(ref.diag.majoritySign)
      }
    })
  }

  it('a band that misses (above for one task, below for another) is recovered from: same result, reported', async () => {
    const pool = makePool()
    const params = { threshold: 30, scaling_factor: 1 }
    const ref = await merge(pool, params, { minLength: Infinity })
    const miss = await merge(pool, params, {
      ...SMALL,
      bandOverride: (t: number, b: { lo: number; hi: number; inBandFraction: number }) =>
        t === 1 ? { lo: 1e3, hi: 2e3, inBandFraction: 0 } : t === 2 ? { lo: 0, hi: 1e-30, inBandFraction: 0 } : b,
    })
    expect(miss.diag.bandMisses).toBe(1)
    expect(miss.diag.passes).toBe(4)
    expect(miss.out).toEqual(ref.out)
  })

  it('falls back to the full-selection plan when the bands would defer too much', async () => {
    const s = await merge(makePool(), { threshold: 20 }, { ...SMALL, maxDeferred: 0 })
    expect(s.diag.plan).toBe('bucket')
  })

  it('NaN is refused naming the task, whether the sample reads it (tail) or not', async () => {
    // a.weight (the pass's tensor 1, after a.bias): part 0 of block 3 holds elements 96…103, of
    // which the run of 2 at blockPlaces(…, 3).at[0] is read
    const read = blockPlaces({ block: 32, runs: 4, run: 2, seed: 1 }, 3).at[0]
    const unsampled = 3 * 32 + (read + 2) % 8
    await expect(merge(makePool({ model: 2, name: 'a.weight', index: unsampled }), { threshold: 20 }, SMALL))
      .rejects.toThrow(/task vector 3 \(model3\): 1 NaN values among its entries/)
    // b.weight's last 30 values are its tail, always read in full
    await expect(merge(makePool({ model: 1, name: 'b.weight', index: 989 }), { threshold: 20 }, SMALL))
      .rejects.toThrow(/task vector 2 \(model2\): NaN values in tensor b\.weight/)
  })
})

describe('TIES sampled plan on safetensors files into an HF folder (mapped samples and patches)', () => {
  let dir = ''
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'amalgam-ties-sampled-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('equals the in-memory merge, native (mapped) and JS (whole-tensor reads, read-back stretches) paths', async () => {
    const mem = makePool()
    const write = async (source: MemorySource, file: string) => {
      const names = source.names()
      const w = await SafetensorsStreamWriter.create(file, names.map((name) => ({ name, shape: SHAPES[name], dtype: 'F32' as const })))
      for (const n of names) { const d = await source.readF32(n); await w.write(n, new Uint8Array(d.buffer, d.byteOffset, d.byteLength)) }
      await w.commit()
      return openModel(file)
    }
    const base = await write(mem.base as MemorySource, join(dir, 'base.safetensors'))
    const models = await Promise.all(mem.models.map((m, t) => write(m as MemorySource, join(dir, `m${t}.safetensors`))))
    const params = { threshold: 20, scaling_factor: 0.5 }
    const ref = await merge(mem, params, { minLength: Infinity })
    for (const impl of availableKernelImplementations()) {
      useKernelImplementation(impl)
      const restore = setTiesSampling(SMALL)
      const out = join(dir, `out-${impl}`)
      try {
        const sink = new HfFolderWriter({ outDir: out, plan: Object.entries(SHAPES).map(([name, shape]) => ({ name, shape, dtype: 'F32' as const })) })
        const r = await runMerge({ method: 'ties_merging', pool: { base, models }, sink, params })
        await sink.commit()
        expect((r.diagnostics as Record<string, unknown>).plan).toBe('sampled')
        expect((r.diagnostics as Record<string, unknown>).patchedTensors).toBeGreaterThan(0)
      } finally { restore() }
      const m = await openModel(out)
      for (const n of Object.keys(SHAPES)) expect([...(await m.readF32(n))], `${impl} ${n}`).toEqual(ref.out[n])
      await m.close()
    }
    for (const s of [base, ...models]) await s.close()
  })
})
