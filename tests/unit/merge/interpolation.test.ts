import { describe, expect, it } from 'vitest'
import { AmalgamError } from '#common/errors'
import { stockRatio } from '../../../main/engine/merge/methods/model_stock'
import { nuslerpT } from '../../../main/engine/merge/methods/nuslerp'
import { close, merge1, randn, vecPool } from './_pool'

describe('Model Stock (methods.md §7, §29)', () => {
  it('ratio self-checks: K = 2, cos 0.5 → 2/3; K = 3 pair cosines [1, 0, 0] → FusionBench 0.75, mergekit 0.6', () => {
    expect(stockRatio([0.5], 2, 'fusion_bench')).toBeCloseTo(2 / 3, 7)
    expect(stockRatio([1, 0, 0], 3, 'fusion_bench')).toBeCloseTo(0.75, 7)
    expect(stockRatio([1, 0, 0], 3, 'mergekit')).toBeCloseTo(0.6, 12)
  })

  it('cos = 1 → the average of the fine-tunes; cos = 0 → θ0', async () => {
    const same = await merge1('model_stock', vecPool([1, 1, 1], [[2, 3, 4], [3, 5, 7]]))
    expect(close(same.sink.get('w'), [2.5, 4, 5.5], 1e-6)).toBe(true)
    const orth = await merge1('model_stock', vecPool([1, 1, 1], [[2, 1, 1], [1, 3, 1]]))
    expect(close(orth.sink.get('w'), [1, 1, 1], 1e-6)).toBe(true)
  })

  it('K = 2 at 60°: θ = (2/3)·mean + (1/3)·θ0; K = 3 tensors with cosines [1, 0, 0]', async () => {
    const r = await merge1('model_stock', vecPool([0, 0], [[1, 0], [0.5, Math.sqrt(3) / 2]]))
    expect(close(r.sink.get('w'), [(2 / 3) * 0.75, (2 / 3) * (Math.sqrt(3) / 4)], 1e-6)).toBe(true)
    const k3 = await merge1('model_stock', vecPool([0, 0], [[1, 0], [2, 0], [0, 3]]))
    // FusionBench's +1e-8 in the cosine denominator moves acos(≈1) by ≈1e-4 rad: t = 0.74998
    expect(Math.abs((k3.result.diagnostics.ratio as Record<string, number>).w - 0.75)).toBeLessThan(5e-5)
    const k3m = await merge1('model_stock', vecPool([0, 0], [[1, 0], [2, 0], [0, 3]]), { variant: 'mergekit' })
    expect(close(k3m.sink.get('w'), [0.6, 0.6], 1e-6)).toBe(true)
  })

  it('ignore_keys get the plain average; fewer than 2 models is refused', async () => {
    const r = await merge1('model_stock', vecPool([1, 1], [[2, 1], [1, 3]]), { ignore_keys: 'w' })
    expect(r.sink.get('w')).toEqual([1.5, 2])
    await expect(merge1('model_stock', vecPool([1], [[2]]))).rejects.toBeInstanceOf(AmalgamError)
  })
})

describe('SLERP and NuSLERP (methods.md §8)', () => {
  it('§8 self-check: [2, 0] → [0, 2] at t = 0.5 gives [√2, √2], not lerp’s [1, 1]', async () => {
    const { sink } = await merge1('slerp', vecPool([0, 0], [[2, 0], [0, 2]]))
    expect(close(sink.get('w'), [Math.SQRT2, Math.SQRT2], 1e-6)).toBe(true)
  })

  it('endpoints t = 0 and t = 1 return the two models (non-square)', async () => {
    const a = [...randn(6, 1)], b = [...randn(6, 2)]
    const pool = vecPool([0, 0, 0, 0, 0, 0], [a, b], [2, 3])
    expect(close((await merge1('slerp', pool, { t: 0 })).sink.get('w'), a, 1e-6)).toBe(true)
    expect(close((await merge1('slerp', pool, { t: 1 })).sink.get('w'), b, 1e-6)).toBe(true)
  })

  it('nearly colinear tensors are linearly interpolated; more than 2 models is refused', async () => {
    const { sink, result } = await merge1('slerp', vecPool([0, 0], [[1, 1], [2, 2.0001]]), { t: 0.25 })
    expect(result.diagnostics.lerpTensors).toBe(1)
    expect(close(sink.get('w'), [1.25, 1.250025], 1e-6)).toBe(true)
    await expect(merge1('slerp', vecPool([0], [[1], [2], [3]]))).rejects.toThrow(/exactly 2 models/)
  })

  it('NuSLERP: weights [1, 3] → t = 0.75; slerps task vectors around the base; rows vs columns', async () => {
    expect(nuslerpT([1, 3])).toBe(0.75)
    expect(nuslerpT([1, -1])).toBe(0.5)
    const pool = vecPool([1, 1], [[3, 1], [1, 3]])
    const { sink, result } = await merge1('nuslerp', pool)
    expect(result.diagnostics.t).toBe(0.5)
    expect(close(sink.get('w'), [1 + Math.SQRT2, 1 + Math.SQRT2], 1e-6)).toBe(true)
    // rows: W[0,:] = [2,0] → [0,2] orthogonal; W[1,:] colinear; columns differ
    const m = vecPool([0, 0, 0, 0], [[2, 0, 1, 1], [0, 2, 2, 2]], [2, 2])
    const rows = (await merge1('nuslerp', m, { nuslerp_flatten: false })).sink.get('w')
    expect(close(rows.slice(0, 2), [Math.SQRT2, Math.SQRT2], 1e-6)).toBe(true)
    expect(close(rows.slice(2), [1.5, 1.5], 1e-6)).toBe(true)
    const cols = (await merge1('nuslerp', m, { nuslerp_flatten: false, nuslerp_row_wise: true })).sink.get('w')
    expect(close(cols, rows, 1e-3)).toBe(false)
  })
})
