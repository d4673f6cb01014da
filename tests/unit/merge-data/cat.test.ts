// CAT Merging (methods.md §22): S11 projection, S12 objective value, S13 norm rescale, S14 no-op
// cases, the eigen-count flags, the shift rules, and the method end to end.
import { describe, it, expect, beforeAll } from 'vitest'
import { basisCount, conflictBasis, conflictMatrix, lnScore, maskOut, projectOut, topC, trimShift } from '../../../main/engine/merge/methods/_data-cat'
import { matmul, mat64, toF64, type Mat64 } from '../../../main/engine/linalg/index'
import { runMerge } from '../../../main/engine/merge/run'
import { MemorySink } from '../../../main/engine/tensors/source'
import { getModelTf } from '../../../main/engine/model/tf'
import { Rng } from '../../../main/engine/benchmark/rng'
import { tinyData, tinyPool } from './_fixture'

const rnd = (r: number, c: number, rng: Rng): Mat64 => mat64(r, c, Float64Array.from({ length: r * c }, () => rng.normal()))
const mm = (a: Mat64, b: Mat64, o: { transA?: boolean; transB?: boolean } = {}) => toF64(matmul(a, b, o)) as Mat64
const frob2 = (x: ArrayLike<number>) => { let s = 0; for (let i = 0; i < x.length; i++) s += x[i] * x[i]; return s }
const clone = (m: Mat64) => mat64(m.rows, m.cols, Float64Array.from(m.data))

function setup(seed: number, N = 3, out = 4, inn = 6, rows = 10) {
  const rng = new Rng(seed)
  const X = Array.from({ length: N }, () => rnd(rows, inn, rng))
  const taus = Array.from({ length: N }, () => rnd(out, inn, rng))
  return { X, taus, G: X.map((x) => mm(x, x, { transA: true })) }
}

describe('CAT operators (out = 4 ≠ in = 6)', () => {
  it('S11: after one projection B_kᵀ Φ_k(τ_i) = 0 (with and without rescale)', async () => {
    const { taus, G } = setup(1)
    const { B } = await conflictBasis(await conflictMatrix(taus, G, 0, 0.5), 2)
    expect(B.cols).toBe(2)
    for (const rescale of [false, true]) {
      const t = clone(taus[1])
      await projectOut(t, B, rescale)
      expect(Math.max(...Array.from(mm(B, t, { transA: true }).data, Math.abs))).toBeLessThan(1e-10)
    }
  })

  it('S12: the objective at B_k equals the sum of the top-c eigenvalues of C_k', async () => {
    const { X, taus, G } = setup(2)
    const lambda = 0.7, k = 1
    const C = await conflictMatrix(taus, G, k, lambda)
    const { B, values } = await conflictBasis(C, 2)
    let obj = 0
    for (let i = 0; i < 3; i++) {
      if (i === k) continue
      obj += frob2(mm(mm(X[k], taus[i], { transB: true }), B).data) - lambda * frob2(mm(mm(X[i], taus[i], { transB: true }), B).data)
    }
    expect(values.length).toBe(2)
    expect(obj).toBeCloseTo(values[0] + values[1], 8)
    expect(values[0]).toBeGreaterThanOrEqual(values[1])
  })

  it('S13: with the rescale on, ‖τ′_i‖_F = ‖τ_i‖_F after every step', async () => {
    const { taus, G } = setup(3)
    const bases = await Promise.all([0, 1, 2].map(async (k) => (await conflictBasis(await conflictMatrix(taus, G, k, 0.3), 2)).B))
    const t = clone(taus[0]), n0 = frob2(taus[0].data)
    for (const k of [1, 2]) { await projectOut(t, bases[k], true); expect(frob2(t.data)).toBeCloseTo(n0, 9) }
    const v = Float64Array.from([3, -1, 2, 0.5]), nv = frob2(v)
    maskOut(v, [0], true)
    expect(v[0]).toBe(0); expect(frob2(v)).toBeCloseTo(nv, 12)
  })

  it('S14: λ = 0 and every positive eigenvector (full-rank C_k) removes every other task component', async () => {
    const { taus, G } = setup(4, 3, 3, 5, 12)
    const bases = await Promise.all([0, 1, 2].map(async (k) => (await conflictBasis(await conflictMatrix(taus, G, k, 0), -1)).B))
    expect(bases.every((b) => b.cols === 3)).toBe(true)
    for (let i = 0; i < 3; i++) {
      const t = clone(taus[i])
      for (let k = 0; k < 3; k++) if (k !== i) await projectOut(t, bases[k], false)
      expect(Math.max(...Array.from(t.data, Math.abs))).toBeLessThan(1e-10)
    }
  })

  it('basis count flags: −1 all positive, energy share, fixed count, 0 none', () => {
    const d = Float64Array.from([4, 3, 1, -2])
    expect(basisCount(d, -1)).toBe(3)
    expect(basisCount(d, 0.6)).toBe(1) // 16 / 26 ≥ 0.6
    expect(basisCount(d, 0.9)).toBe(2) // 25 / 26
    expect(basisCount(d, 5)).toBe(3)
    expect(basisCount(d, 0)).toBe(0)
  })

  it('LN-scale scores and the two shift rules', () => {
    const taus = [[1, 0, 2], [0, 3, 1]]
    expect(Array.from(lnScore(taus, [[1, 1, 1], [2, 0, 1]], 0, 0.5))).toEqual([0, 9 * (1 - 0), 1 * (1 - 0.5)])
    expect(topC([0.5, 9, 0.5], 1)).toEqual([1])
    const v = [Float64Array.from([1, 0, 2]), Float64Array.from([0, 3, 1]), Float64Array.from([2, 2, 0])]
    // paper, c = 1: k=0 → argmax(τ1² + τ2²) = [4, 13, 1] → dim 1; k=1 → [5, 4, 4] → dim 0; k=2 → [1, 9, 5] → dim 1
    expect(trimShift(v, 1, 'paper').map((x) => Array.from(x))).toEqual([[0, 0, 2], [0, 0, 1], [0, 0, 0]])
    // port, c = 1: task 0's top dim 2 zeroed in 1, 2; task 1's dim 1 zeroed in 0, 2; task 2's dims 0 and 1 (tie) zeroed in 0, 1
    expect(trimShift(v, 1, 'port').map((x) => Array.from(x))).toEqual([[0, 0, 2], [0, 0, 0], [2, 0, 0]])
  })
})

describe('cat_merging on a tiny CLIP pool', () => {
  beforeAll(async () => { await getModelTf() })
  it('S14: c = 0 everywhere gives Task Arithmetic with λ = α', async () => {
    const pool = tinyPool(3)
    const cat = new MemorySink(), ta = new MemorySink()
    await runMerge({ method: 'cat_merging', params: { basis_size: 0, ln_basis_size: 0, shift_basis_size: 0 }, pool, sink: cat, data: tinyData(3) })
    await runMerge({ method: 'task_arithmetic', params: { scaling_factor: 0.4 }, pool, sink: ta })
    for (const [n, t] of ta.tensors) cat.tensors.get(n)!.data.forEach((v, i) => expect(Math.abs(v - t.data[i]), n).toBeLessThan(1e-6))
  })
  it('defaults and the port preset run; bases of size c per other task; 2 exemplars per task', async () => {
    const pool = tinyPool(3)
    const data = tinyData(3)
    const res = await runMerge({ method: 'cat_merging', pool, sink: new MemorySink(), data })
    const sizes = res.diagnostics.basisSizes as Record<string, number[]>
    expect(Object.values(sizes).every((s) => s.length === 3 && s.every((c) => c <= 2))).toBe(true)
    expect(data.calls.filter((c) => c.kind === 'exemplars').every((c) => c.n === 2)).toBe(true)
    await runMerge({ method: 'cat_merging', params: { basis_size: 4, feature_model: 'scaled_expert', shift_rule: 'port' }, pool, sink: new MemorySink(), data })
  })
})
