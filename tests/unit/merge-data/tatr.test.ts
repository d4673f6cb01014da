// TATR (methods.md §21): the zero-shot self-check, and data mode end to end (per-task gradients
// keyed by task, so Ω is not collapsed to 0 as in FusionBench's data mode).
import { describe, it, expect, beforeAll } from 'vitest'
import { tatrMerge } from '../../../main/engine/merge/methods/tatr'
import { runMerge } from '../../../main/engine/merge/run'
import { MemorySink } from '../../../main/engine/tensors/source'
import { getModelTf } from '../../../main/engine/model/tf'
import { vecPool } from '../merge/_pool'
import { tinyData, tinyCfg, tinyPool } from './_fixture'

describe('TATR', () => {
  beforeAll(async () => { await getModelTf() })
  it('zero-shot self-check: v1 = [1, 0, 2], v2 = [0, 3, 1] → Ω = [0, 0, 4], merged [1, 3, 0]', async () => {
    const v = [[1, 0, 2], [0, 3, 1]]
    const r = tatrMerge(v, v.map((x) => x.map(Math.abs)), 0.99)
    expect(r.threshold).toBe(4)
    expect(Array.from(r.merged)).toEqual([1, 3, 0])
    const sink = new MemorySink()
    await runMerge({ method: 'tatr', params: { zero_shot: true, scaling_factor: 1 }, pool: vecPool([0, 0, 0], v), sink, data: tinyData(2) })
    expect(Array.from(sink.tensors.get('w')!.data)).toEqual([1, 3, 0])
  })
  it('data mode: labelled train samples, ~1 % dropped, λ·Σ τ on the kept coordinates', async () => {
    const pool = tinyPool(2)
    const data = tinyData(2, tinyCfg, { logitScale: 4 })
    const sink = new MemorySink()
    const res = await runMerge({ method: 'tatr', params: { max_samples: 4 }, pool, sink, data })
    const kept = res.diagnostics.keptFraction as number
    expect(kept).toBeGreaterThan(0.985); expect(kept).toBeLessThan(0.995)
    expect(res.diagnostics.threshold as number).toBeGreaterThan(0)
    expect(data.calls.filter((c) => c.kind === 'exemplars').map((c) => c.n)).toEqual([4, 4])
  })
})
