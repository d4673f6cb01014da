import { describe, expect, it } from 'vitest'
import { TorchGenerator } from '../../../main/engine/kernels/torch-generator'
import { close, merge1, src, vecPool } from './_pool'

/** keep decisions FusionBench makes for the first n draws of a seed: u > float32(p) */
function keeps(seed: number, n: number, p: number): boolean[] {
  const u = new TorchGenerator(seed).randFloat32(n)
  return [...u].map((x) => x > Math.fround(p))
}

describe('DARE (methods.md §4, §29)', () => {
  it('p = 0 is the identity on the task vectors', async () => {
    const { sink } = await merge1('dare_task_arithmetic', vecPool([1, 1, 1], [[2, 3, 4]]), { sparsity_ratio: 0, scaling_factor: 1 })
    expect(sink.get('w')).toEqual([2, 3, 4])
  })

  it('§4 self-check: mask [1, 0, 1, 0], τ = [1, 2, 3, 4], p = 0.5 → [2, 0, 6, 0] (seed found from the stream)', async () => {
    let seed = 0
    while (keeps(seed, 4, 0.5).join() !== 'true,false,true,false') seed++
    const { sink } = await merge1('dare_task_arithmetic', vecPool([0, 0, 0, 0], [[1, 2, 3, 4]]), { sparsity_ratio: 0.5, scaling_factor: 1 }, seed)
    expect(sink.get('w')).toEqual([2, 0, 6, 0])
  })

  it('draws model-major then tensor-major in key order from one torch.manual_seed stream', async () => {
    const base = src({ b: { shape: [2, 3], data: [0, 0, 0, 0, 0, 0] }, a: { shape: [3], data: [0, 0, 0] } })
    const mk = (v: number) => src({ b: { shape: [2, 3], data: [v, v, v, v, v, v] }, a: { shape: [3], data: [v, v, v] } })
    const seed = 42, p = 0.3
    const { sink } = await merge1('dare_task_arithmetic', { base, models: [mk(1), mk(10)] }, { sparsity_ratio: p, scaling_factor: 1 }, seed)
    const k = keeps(seed, 18, p) // model 1: a(3), b(6); model 2: a(3), b(6)
    const scale = (v: number) => Math.fround(v / Math.fround(1 - p))
    const expA = [0, 1, 2].map((i) => Math.fround((k[i] ? scale(1) : 0) + (k[9 + i] ? scale(10) : 0)))
    const expB = [0, 1, 2, 3, 4, 5].map((i) => Math.fround((k[3 + i] ? scale(1) : 0) + (k[12 + i] ? scale(10) : 0)))
    expect(sink.get('a')).toEqual(expA)
    expect(sink.get('b')).toEqual(expB)
  })

  it('only_on_linear_weights drops only 2-D .weight tensors and draws only for them', async () => {
    const base = src({ 'fc.weight': { shape: [2, 3], data: new Array(6).fill(0) }, 'fc.bias': { shape: [2], data: [0, 0] } })
    const m = src({ 'fc.weight': { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }, 'fc.bias': { shape: [2], data: [7, 8] } })
    const { sink } = await merge1('dare_task_arithmetic', { base, models: [m] }, { sparsity_ratio: 0.5, scaling_factor: 1, only_on_linear_weights: true }, 3)
    expect(sink.get('fc.bias')).toEqual([7, 8])
    const k = keeps(3, 6, 0.5)
    expect(sink.get('fc.weight')).toEqual([1, 2, 3, 4, 5, 6].map((v, i) => (k[i] ? v * 2 : 0)))
  })

  it('zero fraction → p and mean of τ̃ → τ over many draws', async () => {
    const n = 40000
    const { sink, result } = await merge1('dare_task_arithmetic', vecPool(new Array(n).fill(0), [new Array(n).fill(1)]), { sparsity_ratio: 0.3, scaling_factor: 1 }, 11)
    const out = sink.get('w')
    const zeros = out.filter((x) => x === 0).length / n
    const mean = out.reduce((a, b) => a + b, 0) / n
    expect(Math.abs(zeros - 0.3)).toBeLessThan(0.01)
    expect(Math.abs(mean - 1)).toBeLessThan(0.02)
    expect(Math.abs((result.diagnostics.keptFraction as number[])[0] - 0.7)).toBeLessThan(0.01)
  })

  it('rescale=false keeps survivors unscaled; variant mergekit matches the tensor L1 norm', async () => {
    const pool = vecPool([0, 0, 0, 0, 0, 0], [[1, 2, 3, 4, 5, 6]])
    const plain = (await merge1('dare_task_arithmetic', pool, { sparsity_ratio: 0.5, scaling_factor: 1, rescale: false }, 5)).sink.get('w')
    plain.forEach((v, i) => expect(v === 0 || v === i + 1).toBe(true))
    const mk = (await merge1('dare_task_arithmetic', pool, { sparsity_ratio: 0.5, scaling_factor: 1, variant: 'mergekit' }, 5)).sink.get('w')
    expect(Math.abs(mk.reduce((a, b) => a + Math.abs(b), 0) - 21)).toBeLessThan(1e-4)
  })

  it('dare_simple_average averages θ0 + τ̃_t; dare_ties_merging trims τ̃ with TIES', async () => {
    const pool = vecPool([1, 1, 1, 1], [[2, 3, 4, 5], [0, 1, 2, 3]])
    const seed = 9, p = 0.5
    const k = keeps(seed, 8, p)
    const avg = (await merge1('dare_simple_average', pool, { sparsity_ratio: p }, seed)).sink.get('w')
    const t1 = [1, 2, 3, 4].map((v, i) => (k[i] ? 2 * v : 0))
    const t2 = [-1, 0, 1, 2].map((v, i) => (k[4 + i] ? 2 * v : 0))
    expect(close(avg, t1.map((v, i) => (1 + v + 1 + t2[i]) / 2))).toBe(true)
    // p = 0: DARE-TIES equals TIES
    const dt = (await merge1('dare_ties_merging', pool, { sparsity_ratio: 0, scaling_factor: 1 }, seed)).sink.get('w')
    const ti = (await merge1('ties_merging', pool, { scaling_factor: 1 })).sink.get('w')
    expect(dt).toEqual(ti)
  })
})
