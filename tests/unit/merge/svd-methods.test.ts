import { describe, expect, it } from 'vitest'
import { svd, mat } from '../../../main/engine/linalg/index'
import { isoCtsSplit, roundHalfEven } from '../../../main/engine/merge/methods/iso_cts'
import { tsvRank } from '../../../main/engine/merge/methods/tsvm'
import { close, merge1, randn, src, vecPool } from './_pool'

const zeros = (n: number) => new Array(n).fill(0)

function lowRankPool(shape: number[], tasks: number, seed = 1) {
  const [m, n] = shape
  const mk = (s: number, scale: number) => src({ 'l.weight': { shape, data: randn(m * n, s, scale) }, 'l.bias': { shape: [m], data: randn(m, s + 50, scale) } })
  return { base: mk(seed, 1), models: Array.from({ length: tasks }, (_, t) => mk(seed + 1 + t, 1)) }
}

describe('TSV-M (methods.md §12, §29)', () => {
  it('rank per task is int(min·(1/N))', () => {
    expect(tsvRank(768, 3072, 8)).toBe(96)
    expect(tsvRank(50, 768, 8)).toBe(6)
    expect(tsvRank(2, 5, 3)).toBe(0)
  })

  it('N = 1 reconstructs τ exactly (non-square)', async () => {
    const base = randn(12, 3), m1 = randn(12, 4)
    const { sink } = await merge1('tsvm', vecPool([...base], [[...m1]], [3, 4]))
    expect(close(sink.get('w'), [...m1], 1e-5)).toBe(true)
  })

  it('§12 self-check: diag(3, 1) and [[0, 0], [0, 2]] → diag(3, 2) (TA would give diag(3, 3))', async () => {
    const { sink, result } = await merge1('tsvm', vecPool(zeros(4), [[3, 0, 0, 1], [0, 0, 0, 2]], [2, 2]))
    expect(close(sink.get('w'), [3, 0, 0, 2], 1e-6)).toBe(true)
    expect((result.diagnostics.svd as Record<string, { rank: number }>).w.rank).toBe(1)
  })

  it('r = 0 (k < N) zeroes the tensor; 1-D tensors take the mean τ; α scales both', async () => {
    const pool = lowRankPool([2, 5], 3)
    const { sink } = await merge1('tsvm', pool, { alpha: 0.5 })
    expect(sink.get('l.weight')).toEqual([...(await pool.base.readF32('l.weight'))])
    const b = await pool.base.readF32('l.bias')
    const ms = await Promise.all(pool.models.map((m) => m.readF32('l.bias')))
    const exp = [...b].map((v, i) => v + 0.5 * (ms.reduce((a, m) => a + m[i] - v, 0) / 3))
    expect(close(sink.get('l.bias'), exp, 1e-5)).toBe(true)
  })

  it('merged 2-D tensors of a random pool: singular values come from the placed task spectra', async () => {
    const pool = lowRankPool([6, 4], 2)
    const { sink, result } = await merge1('tsvm', pool, { alpha: 1 })
    const b = await pool.base.readF32('l.weight')
    const delta = sink.get('l.weight').map((v, i) => v - b[i])
    const s = svd(mat(6, 4, delta)).S
    const placed = (result.diagnostics.svd as Record<string, { sigma: number[] }>)['l.weight'].sigma
    expect(close([...s], placed, 1e-4)).toBe(true) // polar factors are orthonormal, so σ(merged) = placed σ
  })
})

describe('Iso-C and Iso-CTS (methods.md §13, §29)', () => {
  it('Iso-C(diag(3, 1)) = diag(2, 2)', async () => {
    const { sink } = await merge1('iso_c', vecPool(zeros(4), [[3, 0, 0, 1]], [2, 2]))
    expect(close(sink.get('w'), [2, 0, 0, 2], 1e-6)).toBe(true)
  })

  it('invariants: equal singular values, nuclear norm of the TA sum (non-square)', async () => {
    const pool = lowRankPool([5, 3], 3)
    const { sink } = await merge1('iso_c', pool)
    const b = await pool.base.readF32('l.weight')
    const ms = await Promise.all(pool.models.map((m) => m.readF32('l.weight')))
    const sum = [...b].map((v, i) => ms.reduce((a, m) => a + m[i] - v, 0))
    const out = svd(mat(5, 3, sink.get('l.weight').map((v, i) => v - b[i]))).S
    const ta = svd(mat(5, 3, sum)).S
    for (const x of out) expect(Math.abs(x - out[0])).toBeLessThan(1e-4)
    expect(Math.abs(out.reduce((a, x) => a + x, 0) - ta.reduce((a, x) => a + x, 0))).toBeLessThan(1e-4)
  })

  it('Iso-CTS split follows FusionBench rounding; f = 1.0 reduces to Iso-C', async () => {
    expect(roundHalfEven(2.5)).toBe(2)
    expect(roundHalfEven(3.5)).toBe(4)
    expect(isoCtsSplit(50, 8, 0.8)).toEqual({ common: 42, perTask: 1 })
    expect(isoCtsSplit(768, 8, 0.8)).toEqual({ common: 616, perTask: 19 })
    const pool = lowRankPool([6, 5], 2)
    const a = (await merge1('iso_cts', pool, { common_space_fraction: 1 })).sink.get('l.weight')
    const c = (await merge1('iso_c', pool)).sink.get('l.weight')
    expect(close(a, c, 1e-5)).toBe(true)
  })

  it('Iso-CTS output is isotropic with the mean of the placed spectrum (out ≠ in)', async () => {
    const pool = lowRankPool([8, 6], 2)
    const { sink, result } = await merge1('iso_cts', pool, { common_space_fraction: 0.5, scaling_factor: 1 })
    const d = (result.diagnostics.svd as Record<string, { common: number; perTask: number; meanSigma: number }>)['l.weight']
    expect(d.common + 2 * d.perTask).toBe(6)
    const b = await pool.base.readF32('l.weight')
    const s = svd(mat(8, 6, sink.get('l.weight').map((v, i) => v - b[i]))).S
    for (const x of s) expect(Math.abs(x - d.meanSigma) / d.meanSigma).toBeLessThan(1e-4)
  })
})
