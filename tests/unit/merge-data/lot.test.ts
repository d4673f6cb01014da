// LOT Merging (methods.md §23): the self-checks S1–S4 and the convention check S0 (out ≠ in).
import { describe, it, expect, beforeAll } from 'vitest'
import { lotLinear, lotNormScale } from '../../../main/engine/merge/methods/lot_merging'
import { matmul, mat64, qr, transpose, toF64, type Mat64 } from '../../../main/engine/linalg/index'
import { runMerge } from '../../../main/engine/merge/run'
import { MemorySink } from '../../../main/engine/tensors/source'
import { getModelTf } from '../../../main/engine/model/tf'
import { Rng } from '../../../main/engine/benchmark/rng'
import { tinyData, tinyPool } from './_fixture'

const rnd = (r: number, c: number, rng: Rng): Mat64 => mat64(r, c, Float64Array.from({ length: r * c }, () => rng.normal()))
const mm = (a: Mat64, b: Mat64, o: { transA?: boolean; transB?: boolean } = {}) => toF64(matmul(a, b, o)) as Mat64
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m }
const gram = (X: Mat64) => mm(X, X, { transA: true })

describe('LOT closed form (float64)', () => {
  it('S1: orthogonal input subspaces give T* = Σ τ_k V_k V_kᵀ and zero drift (out = 5 ≠ in = 12)', async () => {
    const rng = new Rng(11)
    const Q = qr(rnd(12, 12, rng)).Q
    const taus: Mat64[] = [], Xs: Mat64[] = [], Vs: Mat64[] = []
    for (let k = 0; k < 3; k++) {
      const Vk = mat64(12, 4)
      for (let i = 0; i < 12; i++) for (let c = 0; c < 4; c++) Vk.data[i * 4 + c] = Q.data[i * 12 + 4 * k + c]
      Vs.push(Vk)
      Xs.push(mm(rnd(30, 4, rng), Vk, { transB: true })) // X_k [30, 12], row space = span V_k
      taus.push(rnd(5, 12, rng))
    }
    const T = await lotLinear(taus, Xs.map(gram))
    expect(T.rows).toBe(5); expect(T.cols).toBe(12)
    const expected = mat64(5, 12)
    for (let k = 0; k < 3; k++) { const p = mm(mm(taus[k], Vs[k]), Vs[k], { transB: true }); for (let i = 0; i < 60; i++) expected.data[i] += p.data[i] }
    expect(maxAbsDiff(T.data, expected.data)).toBeLessThan(1e-10)
    for (let k = 0; k < 3; k++) expect(maxAbsDiff(mm(Xs[k], T, { transB: true }).data, mm(Xs[k], taus[k], { transB: true }).data)).toBeLessThan(1e-10)
  })

  it('S2: identical inputs give mean(τ)·X⁺X; one task with full-rank X gives τ_1', async () => {
    const rng = new Rng(12)
    const X = rnd(5, 12, rng) // rank 5 < 12: P_X projects onto the row space
    const taus = [rnd(7, 12, rng), rnd(7, 12, rng), rnd(7, 12, rng)]
    const T = await lotLinear(taus, taus.map(() => gram(X)))
    const mean = mat64(7, 12, taus[0].data.map((_, i) => (taus[0].data[i] + taus[1].data[i] + taus[2].data[i]) / 3))
    const q = qr(transpose(X) as Mat64).Q // orthonormal basis of the row space
    const P = mm(q, q, { transB: true })
    expect(maxAbsDiff(T.data, mm(mean, P).data)).toBeLessThan(1e-10)
    const Xf = rnd(40, 12, rng)
    const T1 = await lotLinear([taus[0]], [gram(Xf)])
    expect(maxAbsDiff(T1.data, taus[0].data)).toBeLessThan(1e-10)
  })

  it('S3: LayerNorm scale is the energy-weighted mean', () => {
    const taus = [[1, 2, 3], [5, -2, 7], [0.5, 4, -1]]
    const same = lotNormScale(taus, [[2, 1, 3], [2, 1, 3], [2, 1, 3]])
    for (let d = 0; d < 3; d++) expect(same[d]).toBeCloseTo((taus[0][d] + taus[1][d] + taus[2][d]) / 3, 12)
    const only2 = lotNormScale(taus, [[0, 1, 1], [4, 1, 1], [0, 1, 1]])
    expect(only2[0]).toBe(5)
    expect(lotNormScale(taus, [[0, 1, 1], [0, 1, 1], [0, 1, 1]])[0]).toBe(0) // 0 / 1e-10
  })

  it('uses the torch float32 pseudo-inverse cutoff: directions below in·eps_f32·λ_max are dropped', async () => {
    // S = diag(1, 1e-9): 1e-9 < 2·2⁻²³ ≈ 2.4e-7 → dropped, so T = A·diag(1, 0)
    const tau = mat64(1, 2, [3, 4])
    const T = await lotLinear([tau], [mat64(2, 2, [1, 0, 0, 1e-9])])
    expect(T.data[0]).toBeCloseTo(3, 12)
    expect(T.data[1]).toBe(0)
  })
})

describe('lot_merging on a tiny CLIP pool', () => {
  beforeAll(async () => { await getModelTf() })

  it('S4: one task, λ = 1 reproduces the expert (every Gram is full rank)', async () => {
    const pool = tinyPool(1)
    const sink = new MemorySink()
    const res = await runMerge({ method: 'lot_merging', params: { scaling_factor: 1, num_exemplars: 16 }, pool, sink, data: tinyData(1) })
    const expert = pool.models[0]
    for (const name of expert.names()) {
      const got = sink.tensors.get(name)!.data, want = await expert.readF32(name)
      expect(maxAbsDiff(got, want), name).toBeLessThan(2e-4)
    }
    const layers = res.diagnostics.layers as Array<{ unit: string; rank: number; dim: number }>
    expect(layers.every((l) => l.rank === l.dim)).toBe(true)
    expect(layers.find((l) => l.unit.endsWith('fc2'))!.dim).toBe(20) // fc2's input width is intermediate (S0)
  })

  it('three tasks: drift after ≤ drift before, biases get mean τ, exemplars from train with the seed, progress events', async () => {
    const pool = tinyPool(3)
    const data = tinyData(3)
    const sink = new MemorySink()
    const stages = new Set<string>()
    const res = await runMerge({ method: 'lot_merging', params: { num_exemplars: 4 }, seed: 5, pool, sink, data, ctx: { progress: (s) => stages.add(s) } })
    const drift = res.diagnostics.drift as { before: number; after: number }
    expect(drift.after).toBeLessThan(drift.before)
    expect(data.calls.filter((c) => c.kind === 'exemplars').map((c) => [c.task, c.n, c.seed])).toEqual([[0, 4, 5], [1, 4, 6], [2, 4, 7]])
    expect([...stages]).toEqual(expect.arrayContaining(['features', 'solve', 'write']))
    const name = 'vision_model.encoder.layers.1.mlp.fc1.bias'
    const b = await pool.base.readF32(name)
    const ms = await Promise.all(pool.models.map((m) => m.readF32(name)))
    const got = sink.tensors.get(name)!.data
    for (let i = 0; i < b.length; i++) expect(got[i]).toBeCloseTo(b[i] + 1.2 * ((ms[0][i] + ms[1][i] + ms[2][i] - 3 * b[i]) / 3), 5)
    // 4 exemplars × 5 tokens = 20 rows per task → fc2 (in = 20) Gram sum has rank ≤ 20
    const layers = res.diagnostics.layers as Array<{ unit: string; rank: number; dim: number }>
    expect(layers.find((l) => l.unit.endsWith('fc2'))!.rank).toBeLessThanOrEqual(20)
  })

  it('refuses to run without data, and stops when cancelled', async () => {
    const pool = tinyPool(2)
    await expect(runMerge({ method: 'lot_merging', pool, sink: new MemorySink() })).rejects.toThrow(/lot_merging is a data-dependent method.*data provider/)
    await expect(runMerge({ method: 'lot_merging', pool, sink: new MemorySink(), data: tinyData(3) })).rejects.toThrow(/3 tasks but the pool has 2/)
    const ac = new AbortController()
    const p = runMerge({ method: 'lot_merging', params: { num_exemplars: 8 }, pool, sink: new MemorySink(), data: tinyData(2), ctx: { signal: ac.signal, progress: (s) => { if (s === 'solve') ac.abort() } } })
    await expect(p).rejects.toThrow(/cancel/i)
  })
})
