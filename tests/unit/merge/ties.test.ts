import { describe, expect, it } from 'vitest'
import { close, merge1, randn, src, vecPool } from './_pool'

const spec = { base: [0, 0, 0, 0], t: [[3, -1, 0.2, 2], [-2, -3, 0.1, 1], [-2, 4, 0.3, -0.5]] }

describe('TIES-Merging (methods.md §3, §29)', () => {
  it('§3 self-check, exact top-2 of 4 (variant mergekit): disjoint mean [−2, 4, 0, 2], sum [−4, 4, 0, 2]', async () => {
    const pool = vecPool(spec.base, spec.t)
    const mean = await merge1('ties_merging', pool, { variant: 'mergekit', threshold: 0.5, merge_func: 'mean', scaling_factor: 1 })
    expect(mean.sink.get('w')).toEqual([-2, 4, 0, 2])
    const sum = await merge1('ties_merging', pool, { variant: 'mergekit', threshold: 0.5, merge_func: 'sum', scaling_factor: 1 })
    expect(sum.sink.get('w')).toEqual([-4, 4, 0, 2])
  })

  it('§3 self-check with FusionBench trim: K = 25 % of 4 keeps int(4·0.25)+1 = 2 per task, same trimmed vectors', async () => {
    const pool = vecPool(spec.base, spec.t)
    const sum = await merge1('ties_merging', pool, { threshold: 25, scaling_factor: 1 })
    expect(sum.sink.get('w')).toEqual([-4, 4, 0, 2])
    expect(sum.result.diagnostics.keptFraction).toEqual([0.5, 0.5, 0.5])
    expect(sum.result.diagnostics.thresholds).toEqual([2, 2, 2])
    const mean = await merge1('ties_merging', pool, { threshold: 0.25, merge_func: 'mean', scaling_factor: 1 })
    expect(mean.sink.get('w')).toEqual([-2, 4, 0, 2])
    const max = await merge1('ties_merging', pool, { threshold: 0.25, merge_func: 'max', scaling_factor: 1 })
    expect(max.sink.get('w')).toEqual([-2, 4, 0, 2])
  })

  it('§3: kth-value trim on n = 5, K = 0.4 keeps 3 entries, not 2', async () => {
    const { result } = await merge1('ties_merging', vecPool([0, 0, 0, 0, 0], [[5, -4, 3, 2, 1]]), { threshold: 0.4 })
    expect(result.diagnostics.keptFraction).toEqual([3 / 5])
  })

  it('ties at the threshold are all kept', async () => {
    const { sink, result } = await merge1('ties_merging', vecPool([0, 0, 0, 0], [[1, -1, 1, 0.5]]), { threshold: 0.25, scaling_factor: 1 })
    expect(result.diagnostics.keptFraction).toEqual([0.75])
    expect(sink.get('w')).toEqual([1, -1, 1, 0])
  })

  it('zero-sum coordinates take the global majority sign (positive majority)', async () => {
    // keep fraction 0.99 of d = 3 → k = 3 − int(2.97) = 1 → keep all; column 0 sums to 0
    const { sink, result } = await merge1('ties_merging', vecPool([0, 0, 0], [[1, 2, 3], [-1, 1, 1]]), { threshold: 0.99, scaling_factor: 1 })
    expect(result.diagnostics.majoritySign).toBe(1)
    expect(result.diagnostics.patchedTensors).toBe(1) // patched after the pass, once the majority is known
    expect(sink.get('w')).toEqual([1, 3, 4])
  })

  it('zero-sum coordinates take the global majority sign (negative majority)', async () => {
    const { sink, result } = await merge1('ties_merging', vecPool([0, 0, 0], [[1, -2, -3], [-1, -1, -1]]), { threshold: 0.99, scaling_factor: 1 })
    expect(result.diagnostics.majoritySign).toBe(-1)
    expect(sink.get('w')).toEqual([-1, -3, -4])
    // mergekit counts a zero mass as "+" instead
    // (exact top-int(0.75·4) = 3 per task; τ2's tie at |1| broken by index order)
    const mk = await merge1('ties_merging', vecPool([0, 0, 0, 0], [[1, -2, -3, 0], [-1, -1, -1, 0]]), { threshold: 0.75, scaling_factor: 1, variant: 'mergekit' })
    expect(mk.sink.get('w')).toEqual([1, -3, -4, 0])
  })

  it('the threshold is global per task across tensors, not per tensor; remove_keys keep θ0', async () => {
    // task 1: big tensor "a" dominates, so tensor "b" is wiped out entirely at K = 50 %
    const base = src({ a: { shape: [2, 3], data: [0, 0, 0, 0, 0, 0] }, b: { shape: [2], data: [5, 5] } })
    const m1 = src({ a: { shape: [2, 3], data: [10, 20, 30, 40, 50, 60] }, b: { shape: [2], data: [6, 4] } })
    const { sink } = await merge1('ties_merging', { base, models: [m1] }, { threshold: 50, scaling_factor: 1 })
    // d = 8, k = 8 − 4 = 4 → 4th smallest |τ| = 20 → keep 20..60; b's |τ| = 1 dropped
    expect(sink.get('a')).toEqual([0, 20, 30, 40, 50, 60])
    expect(sink.get('b')).toEqual([5, 5])
    const removed = await merge1('ties_merging', { base, models: [m1] }, { threshold: 50, scaling_factor: 1, remove_keys: 'a' })
    expect(removed.sink.get('a')).toEqual([0, 0, 0, 0, 0, 0])
    expect(removed.sink.get('b')).toEqual([6, 4]) // d = 2 → k = 1 → threshold 1 → both kept
  })

  it('matches a direct dense FusionBench-style computation on random non-square tensors', async () => {
    const shapes: Record<string, number[]> = { 'l.weight': [4, 7], 'l.bias': [4], 'm.weight': [3, 5] }
    const mk = (seed: number, scale: number) => src(Object.fromEntries(Object.entries(shapes).map(([n, s], i) => [n, { shape: s, data: randn(s[0] * (s[1] ?? 1), seed * 10 + i, scale) }])))
    const base = mk(1, 1)
    const models = [2, 3, 4].map((s) => mk(s, 1))
    const pool = { base, models }
    const { sink } = await merge1('ties_merging', pool, { threshold: 30, scaling_factor: 0.4, merge_func: 'mean' })
    // dense reference: flatten in sorted key order
    const names = base.names()
    const flat = async (m: typeof base) => Float32Array.from((await Promise.all(names.map((n) => m.readF32(n)))).flatMap((a) => [...a]))
    const b = await flat(base)
    const taus = await Promise.all(models.map(async (m) => { const f = await flat(m); return f.map((x, i) => Math.fround(x - b[i])) }))
    const d = b.length, k = d - Math.trunc(d * 0.3)
    const trimmed = taus.map((t) => { const q = [...t].map(Math.abs).sort((x, y) => x - y)[k - 1]; return t.map((x) => (Math.abs(x) >= q ? x : 0)) })
    const mass = b.map((_, i) => trimmed.reduce((a, t) => Math.fround(a + t[i]), 0))
    const maj = Math.sign(mass.reduce((a, x) => a + Math.sign(x), 0))
    const ref = b.map((bv, i) => {
      const s = mass[i] > 0 ? 1 : mass[i] < 0 ? -1 : maj
      const agree = trimmed.map((t) => t[i]).filter((v) => (s > 0 && v > 0) || (s <= 0 && v < 0))
      const mean = agree.reduce((a, v) => a + v, 0) / Math.max(agree.length, 1)
      return bv + 0.4 * mean
    })
    const out = names.flatMap((n) => sink.get(n))
    expect(close(out, ref, 1e-5)).toBe(true)
  })
})
