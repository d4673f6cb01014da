// KnOTS (methods.md §14): the self-check (N = 1 without trimming returns θ0 + α·ΔW_1), identical
// tasks merge to themselves, the shared basis reconstructs every task, the global per-task trim
// keeps K %, and only the target matrices change (out ≠ in throughout).
import { describe, expect, it } from 'vitest'
import { knotsDecompose, knotsKeep, knotsTarget } from '../../../main/engine/merge/methods/knots'
import { merge1, randn, src, type T } from './_pool'

const Q = 'enc.layers.0.self_attn.q_proj.weight', O = 'enc.layers.0.self_attn.out_proj.weight', FC = 'enc.layers.0.mlp.fc1.weight', B = 'enc.layers.0.self_attn.q_proj.bias'
const shapes: Record<string, number[]> = { [Q]: [5, 9], [O]: [9, 5], [FC]: [7, 5], [B]: [5] }
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1)
const model = (seed: number, scale = 1): T => Object.fromEntries(Object.entries(shapes).map(([n, s], i) => [n, { shape: s, data: randn(numel(s), seed * 17 + i, scale) }]))
const plus = (a: T, d: T, k = 1): T => Object.fromEntries(Object.entries(a).map(([n, v]) => [n, { shape: v.shape, data: Float32Array.from(v.data, (x, i) => x + k * d[n].data[i]) }]))
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m }

describe('knots', () => {
  const base = model(1)
  const d1 = model(2, 0.1), d2 = model(3, 0.1), d3 = model(4, 0.1)
  const pool = (ds: T[]) => ({ base: src(base, 'base'), models: ds.map((d, i) => src(plus(base, d), `m${i + 1}`)) })

  it('self-check: N = 1 without trimming gives θ0 + α·ΔW_1 on the targets and θ0 elsewhere', async () => {
    const { sink, result } = await merge1('knots', pool([d1]), { topK: 100, scaling_coeffs: 0.6 })
    for (const n of [Q, O]) {
      const want = Float32Array.from(base[n].data, (x, i) => x + 0.6 * (Math.fround(x + d1[n].data[i]) - x))
      expect(maxDiff(sink.get(n), want), n).toBeLessThan(1e-6)
    }
    expect(sink.get(FC)).toEqual([...Float32Array.from(base[FC].data)])
    expect(sink.get(B)).toEqual([...Float32Array.from(base[B].data)])
    expect(result.diagnostics.targets).toBe(2)
  })

  it('identical tasks (disjoint mean) merge to the task itself', async () => {
    const { sink } = await merge1('knots', pool([d1, d1, d1]), { topK: 100, scaling_coeffs: 1 })
    for (const n of [Q, O]) {
      const want = Float32Array.from(base[n].data, (x, i) => Math.fround(x + d1[n].data[i]))
      expect(maxDiff(sink.get(n), want), n).toBeLessThan(1e-6)
    }
  })

  it('the shared basis reconstructs every task: U·R_t = ΔW_t (out ≠ in)', () => {
    const [out, inp] = [5, 9]
    const deltas = [d1, d2, d3].map((d) => Float64Array.from(d[Q].data))
    const dec = knotsDecompose(Q, deltas, out, inp, 1e-5)
    expect(dec.U.cols).toBe(5) // rank ≤ out
    dec.R.forEach((R, t) => {
      for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) {
        let s = 0
        for (let j = 0; j < dec.U.cols; j++) s += dec.U.data[o * dec.U.cols + j] * R[j * inp + i]
        expect(Math.abs(s - deltas[t][o * inp + i])).toBeLessThan(1e-6)
      }
    })
  })

  it('TIES over the coordinates keeps K % per task globally and moves only the targets', async () => {
    const { sink, result } = await merge1('knots', pool([d1, d2, d3]), {})
    const kept = result.diagnostics.keptFraction as number[]
    const total = 5 * 9 + 9 * 5 // rank × in of each target: q (rank 5 × in 9), out_proj (C is 9 × 15: rank 9 × in 5)
    // the kth-value trim keeps |v| ≥ the (d − int(d·K))-th smallest: int(d·K) + 1 entries (no ties here)
    for (const k of kept) expect(k).toBeCloseTo((Math.trunc(0.2 * total) + 1) / total, 10)
    expect(maxDiff(sink.get(Q), base[Q].data)).toBeGreaterThan(0)
    expect(sink.get(FC)).toEqual([...Float32Array.from(base[FC].data)])
  })

  it('rejects bad parameters and pools without targets, naming them', async () => {
    expect(() => knotsKeep(0)).toThrow(/topK/)
    expect(knotsKeep(100)).toBe(1)
    expect(knotsTarget(['q_proj'])(Q, [5, 9])).toBe(true)
    expect(knotsTarget(['q_proj'])(B, [5])).toBe(false)
    await expect(merge1('knots', pool([d1]), { target_modules: 'nothing_here' })).rejects.toThrow(/no 2-D weight .* target_modules nothing_here/)
  })
})
