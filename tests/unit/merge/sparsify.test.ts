import { describe, expect, it } from 'vitest'
import { breadcrumbRow, breadcrumbTensor } from '../../../main/engine/merge/methods/breadcrumbs'
import { dellaProbabilities } from '../../../main/engine/merge/methods/della'
import { close, merge1, vecPool } from './_pool'

describe('Model Breadcrumbs (methods.md §5)', () => {
  it('§5 self-check: γ = 0.1, β = 0.3 removes 10 and keeps −0.9, 0.7, 0.5', () => {
    const row = Float32Array.from([0.1, -0.9, 0.5, 0.05, -0.3, 0.7, 0.2, -0.15, 0.02, 10])
    breadcrumbRow(row, 0, row.length, 0.3, 0.1)
    expect([...row]).toEqual([0, -0.9, 0.5, 0, 0, 0.7, 0, 0, 0, 0].map(Math.fround))
  })

  it('official masks per row along the last axis (2 × 5 tensor), then θ0 + α Σ τ̂', async () => {
    const t = [5, 1, 4, 2, 3, -10, 20, -30, 40, -50]
    const { sink } = await merge1('breadcrumbs', vecPool(new Array(10).fill(1), [t.map((x) => x + 1)], [2, 5]), { density: 0.4, gamma: 0.2, scaling_factor: 1 })
    // row 1: drop 5, keep 4, 3; row 2: drop −50, keep 40, −30
    expect(sink.get('w')).toEqual([1, 1, 5, 1, 4, 1, 1, -29, 41, 1])
  })

  it('mergekit variant keeps ascending ranks [n_bot, n − n_top); γ·n < 1 does not zero the tensor', () => {
    const v = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    breadcrumbTensor(v, 0.3, 0.1)
    expect([...v]).toEqual([0, 0, 0, 0, 0, 0, 7, 8, 9, 0])
    const w = Float32Array.from([1, 2, 3, 4])
    breadcrumbTensor(w, 0.5, 0.01)
    expect([...w]).toEqual([0, 0, 3, 4])
  })
})

describe('DELLA (methods.md §6)', () => {
  it('§6 self-check: row [0.1, 0.4, 0.2, 0.3], d = 0.5, ε = 0.1 → p = [0.40, 0.60, 0.467, 0.533]', () => {
    const p = dellaProbabilities([0.1, 0.4, 0.2, 0.3], 0.5, 0.1)
    expect(close([...p], [0.4, 0.6, 0.5 - 0.1 + 0.2 / 3, 0.5 - 0.1 + 0.4 / 3], 1e-12)).toBe(true)
    expect(p.reduce((a, b) => a + b, 0) / 4).toBeCloseTo(0.5, 12)
  })

  it('kept fraction ≈ d, survivors rescaled by 1/p (mean preserved), seed-reproducible', async () => {
    const n = 20000
    const t = Array.from({ length: n }, (_, i) => 1 + (i % 7) * 0.01)
    const pool = vecPool(new Array(n).fill(0), [t], [20, 1000])
    const a = await merge1('della', pool, { density: 0.6, epsilon: 0.1, scaling_factor: 1, consensus: 'none' }, 3)
    expect(Math.abs((a.result.diagnostics.keptFraction as number) - 0.6)).toBeLessThan(0.01)
    const out = a.sink.get('w')
    const mean = out.reduce((x, y) => x + y, 0) / n, ref = t.reduce((x, y) => x + y, 0) / n
    expect(Math.abs(mean - ref) / ref).toBeLessThan(0.02)
    const b = await merge1('della', pool, { density: 0.6, epsilon: 0.1, scaling_factor: 1, consensus: 'none' }, 3)
    expect(b.sink.get('w')).toEqual(out)
    const c = await merge1('della', pool, { density: 0.6, epsilon: 0.1, scaling_factor: 1, consensus: 'none' }, 4)
    expect(c.sink.get('w')).not.toEqual(out)
  })

  it('rejects a window outside (0, 1]', async () => {
    await expect(merge1('della', vecPool([0], [[1]]), { density: 0.1, epsilon: 0.2 })).rejects.toThrow(/della: parameter "epsilon"/)
  })
})
