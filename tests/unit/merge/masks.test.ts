import { describe, expect, it } from 'vitest'
import { runMerge } from '../../../main/engine/merge/run'
import { close, merge1, randn, RecordingSink, vecPool } from './_pool'

describe('Consensus TA and TALL masks (methods.md §9, §29)', () => {
  it('§9 self-check: τ_t = 1, τ_MTL = 3 → mask iff λ_t < 0.5', async () => {
    const pool = vecPool([0], [[1], [1], [1]])
    expect((await merge1('consensus_ta', pool, { tall_mask_lambda: 0.4, scaling_factor: 1 })).sink.get('w')).toEqual([3])
    expect((await merge1('consensus_ta', pool, { tall_mask_lambda: 0.6, scaling_factor: 1 })).sink.get('w')).toEqual([0])
  })

  it('§9 self-check: mask counts [1, 1, 0] kept at k = 2, [1, 0, 0] dropped; k = 0 is plain TA', async () => {
    const pool = vecPool([1, 1], [[6, 6], [6, 1], [1, 1]]) // τ = [5,5], [5,0], [0,0]
    const { sink, result } = await merge1('consensus_ta', pool, { scaling_factor: 0.5 })
    expect(sink.get('w')).toEqual([1 + 0.5 * 10, 1])
    expect(result.diagnostics.consensusKeptFraction).toBe(0.5)
    expect((await merge1('consensus_ta', pool, { scaling_factor: 0.5, prun_thre_k: 0 })).sink.get('w')).toEqual([6, 3.5])
  })

  it('tall_mask_task_arithmetic writes θ0 + m_t ⊙ τ_MTL for every task', async () => {
    const pool = vecPool([1, 1], [[6, 6], [6, 1], [1, 1]])
    const sinks = [new RecordingSink(), new RecordingSink(), new RecordingSink()]
    const r = await runMerge({ method: 'tall_mask_task_arithmetic', pool, sinks })
    expect(r.outputs).toBe(3)
    expect(sinks.map((s) => s.get('w'))).toEqual([[11, 6], [11, 1], [1, 1]])
    await expect(runMerge({ method: 'tall_mask_task_arithmetic', pool, sink: new RecordingSink() })).rejects.toThrow(/one model per task: give 3 sinks/)
  })
})

describe('EMR-Merging (methods.md §11)', () => {
  it('§11 self-check: λ = [0.6, 1.25], task-1 delta [1.2, −1.8, 0]', async () => {
    const base = [1, 2, 3]
    const pool = vecPool(base, [[3, 1, 3], [0, -1, 4]])
    const sinks = [new RecordingSink(), new RecordingSink()]
    const r = await runMerge({ method: 'emr_merging', pool, sinks })
    const lambdas = r.diagnostics.rescalers as number[]
    expect(lambdas[0]).toBeCloseTo(0.6, 12)
    expect(lambdas[1]).toBeCloseTo(1.25, 12)
    expect(close(sinks[0].get('w').map((v, i) => v - base[i]), [1.2, -1.8, 0], 1e-6)).toBe(true)
    expect(close(sinks[1].get('w').map((v, i) => v - base[i]), [0, -3.75, 1.25], 1e-6)).toBe(true)
  })

  it('the rescaler sums per-tensor means over tensors (small tensors weigh as much as big ones)', async () => {
    const { src } = await import('./_pool')
    const mk = (a: number[], b: number[]) => src({ big: { shape: [2, 2], data: a }, small: { shape: [1], data: b } })
    const pool = { base: mk([0, 0, 0, 0], [0]), models: [mk([1, 1, 1, 1], [4]), mk([1, 1, 1, 1], [-1])] }
    const sinks = [new RecordingSink(), new RecordingSink()]
    const r = await runMerge({ method: 'emr_merging', pool, sinks })
    // task 1: num = 1 + 4, den = 1 + 4 → 1; task 2: num = 1 + 1, den = 1 + 0 (masked out) → 2
    expect(r.diagnostics.rescalers).toEqual([1, 2])
  })
})

describe('PCB-Merging (methods.md §10, §29)', () => {
  it('identical tasks → λ·v̂ on the kept top-r set, 0 elsewhere; weights max 1 and ≈ r·d non-zeros', async () => {
    const d = 2000
    const v = [...randn(d, 7)]
    const pool = vecPool(new Array(d).fill(0), [v, v], [40, 50])
    const { sink, result } = await merge1('pcb', pool, { pcb_ratio: 0.1, scaling_factor: 1.2, clip_ratio: 0.01 })
    const out = sink.get('w')
    const nz = out.filter((x) => x !== 0).length
    expect(nz).toBeGreaterThanOrEqual(0.1 * d - 2)
    expect(nz).toBeLessThanOrEqual(0.1 * d)
    const { lo, hi } = result.diagnostics.clip as { lo: number[]; hi: number[] }
    out.forEach((x, k) => {
      if (x === 0) return
      const a = Math.min(Math.max(Math.abs(v[k]), lo[0]), hi[0])
      expect(Math.abs(x - 1.2 * Math.sign(v[k]) * a)).toBeLessThan(1e-5)
    })
    const density = result.diagnostics.weightDensity as number[]
    expect(Math.abs(density[0] - 0.1)).toBeLessThan(0.002)
  })

  it('clip quantiles are the index-based order statistics of |τ|', async () => {
    const v = Array.from({ length: 100 }, (_, i) => (i % 2 ? -1 : 1) * (i + 1))
    const { result } = await merge1('pcb', vecPool(new Array(100).fill(0), [v]), { clip_ratio: 0.05 })
    // sorted |τ| = 1..100: lo = sorted[⌊100·0.05⌋] = 6, hi = sorted[⌊100·0.95⌋ − 1] = 95
    expect(result.diagnostics.clip).toEqual({ lo: [6], hi: [95] })
  })
})
