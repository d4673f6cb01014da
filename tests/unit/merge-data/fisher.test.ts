// Fisher merging (methods.md §18): the scalar self-checks, equal Fishers = simple average, and the
// method end to end (Fisher from the model's own predictions, first n training images).
import { describe, it, expect, beforeAll } from 'vitest'
import { fisherMerge } from '../../../main/engine/merge/methods/fisher_merging'
import { runMerge } from '../../../main/engine/merge/run'
import { MemorySink } from '../../../main/engine/tensors/source'
import { getModelTf } from '../../../main/engine/model/tf'
import { tinyCfg, tinyData, tinyPool } from './_fixture'

describe('Fisher merging', () => {
  beforeAll(async () => { await getModelTf() })
  it('θ = [1, 3], F = [3, 1]: normalise off → 1.5, on → 2.0', () => {
    expect(fisherMerge([[1], [3]], [[3], [1]], false, 0)[0]).toBeCloseTo(1.5, 12)
    expect(fisherMerge([[1], [3]], [[3], [1]], true, 0)[0]).toBeCloseTo(2.0, 12)
  })
  it('equal Fishers → simple average', () => {
    const m = fisherMerge([[1, 2, 3], [5, 0, -1]], [[0.5, 2, 1], [0.5, 2, 1]], true, 1e-6)
    expect(Array.from(m).map((v) => +v.toFixed(9))).toEqual([3, 1, 1])
  })
  it('end to end: one task returns the expert; first n train images unshuffled; excluded → θ0', async () => {
    const pool = tinyPool(1)
    const data = tinyData(1, tinyCfg, { logitScale: 4 })
    const sink = new MemorySink()
    await runMerge({ method: 'fisher_merging', params: { num_fisher_examples: 10, batch_size: 4 }, pool, sink, data })
    for (const n of pool.models[0].names()) {
      const a = sink.tensors.get(n)!.data, b = await pool.models[0].readF32(n)
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-6)
    }
    expect(data.calls[0]).toMatchObject({ kind: 'exemplars', n: 10, shuffle: false })
    const pool2 = tinyPool(2)
    const s2 = new MemorySink()
    const res = await runMerge({ method: 'fisher_merging', params: { num_fisher_examples: 8, batch_size: 4, exclude_param_names_regex: 'post_layernorm' }, pool: pool2, sink: s2, data: tinyData(2, tinyCfg, { logitScale: 4 }) })
    expect(Array.from(s2.tensors.get('vision_model.post_layernorm.weight')!.data)).toEqual(Array.from(await pool2.base.readF32('vision_model.post_layernorm.weight')))
    const norms = res.diagnostics.fisherNorms as number[]
    expect(norms.length).toBe(2)
    expect(norms.every((x) => x > 0)).toBe(true)
    // a merged value lies between the two experts' values (a convex combination per element)
    const n = 'vision_model.encoder.layers.0.mlp.fc1.weight'
    const [a, b] = await Promise.all(pool2.models.map((m) => m.readF32(n)))
    s2.tensors.get(n)!.data.forEach((v, i) => { expect(v).toBeGreaterThanOrEqual(Math.min(a[i], b[i]) - 1e-6); expect(v).toBeLessThanOrEqual(Math.max(a[i], b[i]) + 1e-6) })
  })
})
