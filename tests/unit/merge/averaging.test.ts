import { describe, expect, it } from 'vitest'
import { close, merge1, randn, src, vecPool } from './_pool'

describe('weight averaging and task arithmetic (methods.md §1, §2)', () => {
  it('§1 self-check: [1, 2] and [3, 6] average to [2, 4]', async () => {
    const { sink } = await merge1('simple_average', vecPool([9, 9], [[1, 2], [3, 6]]))
    expect(sink.get('w')).toEqual([2, 4])
  })

  it('§1: simple average equals Task Arithmetic with λ = 1/N on a non-square tensor', async () => {
    const shape = [3, 5]
    const pool = { base: src({ w: { shape, data: randn(15, 1) } }), models: [2, 3, 4].map((s) => src({ w: { shape, data: randn(15, s) } })) }
    const a = (await merge1('simple_average', pool)).sink.get('w')
    const b = (await merge1('task_arithmetic', pool, { scaling_factor: 1 / 3 })).sink.get('w')
    expect(close(a, b, 1e-6)).toBe(true)
  })

  it('§2 self-check: θ0 = [0, 0], θ1 = [1, 0], θ2 = [0, 2], λ = 0.5 → [0.5, 1]', async () => {
    const { sink } = await merge1('task_arithmetic', vecPool([0, 0], [[1, 0], [0, 2]]), { scaling_factor: 0.5 })
    expect(sink.get('w')).toEqual([0.5, 1])
  })

  it('task arithmetic adds λ·Στ to a non-zero base (out ≠ in)', async () => {
    const { sink } = await merge1('task_arithmetic', vecPool([1, 2, 3, 4, 5, 6], [[2, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 8]], [2, 3]))
    expect(close(sink.get('w'), [1.3, 2, 3, 4, 5, 6.6])).toBe(true)
  })

  it('weighted average normalises by Σw, or not', async () => {
    const pool = vecPool([0, 0], [[1, 2], [3, 6]])
    expect((await merge1('weighted_average', pool, { weights: [1, 3] })).sink.get('w')).toEqual([2.5, 5])
    expect((await merge1('weighted_average', pool, { weights: '1,3', normalize: 'false' })).sink.get('w')).toEqual([10, 20])
    await expect(merge1('weighted_average', pool, { weights: [1, 2, 3] })).rejects.toThrow(/weights" has 3 entries for 2 models/)
  })
})
