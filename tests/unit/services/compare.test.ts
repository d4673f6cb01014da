import { describe, expect, it } from 'vitest'
import type { ExperimentRecord } from '#common/types'
import { buildCompareTable, paramDiff } from '../../../main/engine/services/compare'

const rec = (id: string, method: string, params: Record<string, unknown>, metrics: Record<string, number> | null, seed = 0): ExperimentRecord => ({
  id, name: id, method, params, seed, poolId: 'p', benchmark: 'mini8', status: metrics ? 'done' : 'failed', createdAt: '', engineVersion: '0', backend: 'x',
  metrics, average: metrics ? Object.values(metrics).reduce((a, b) => a + b, 0) / Object.values(metrics).length : null, normalized: null, tags: [], starred: false,
})

describe('compare table', () => {
  it('best per task, #best with ties counted for every tied row, rows without metrics', () => {
    const t = buildCompareTable([
      rec('a', 'task_arithmetic', { scaling_factor: 0.3 }, { mnist: 0.9, svhn: 0.5, dtd: 0.4 }),
      rec('b', 'task_arithmetic', { scaling_factor: 0.5 }, { mnist: 0.9, svhn: 0.6, dtd: 0.3 }),
      rec('c', 'ties_merging', { scaling_factor: 0.3, threshold: 20 }, null, 1),
    ], ['svhn'])
    expect(t.tasks).toEqual(['svhn', 'mnist', 'dtd'])
    expect(t.bestPerTask).toEqual({ svhn: 'b', mnist: 'a', dtd: 'a' })
    expect(t.rows.map((r) => [r.id, r.best])).toEqual([['a', 2], ['b', 2], ['c', 0]])
    expect(t.rows[2]!.accuracy).toEqual({})
    expect(t.paramDiff.map((d) => d.key)).toEqual(['method', 'seed', 'scaling_factor', 'threshold'])
    expect(t.paramDiff.find((d) => d.key === 'threshold')!.values).toEqual({ a: undefined, b: undefined, c: 20 })
    expect(t.reference).toBeUndefined()
  })

  it('differences only: equal arrays and equal values are not listed; one row has no diff', () => {
    const a = rec('a', 'weighted_average', { weights: [1, 2], normalize: true }, { m: 1 })
    const b = rec('b', 'weighted_average', { weights: [1, 2], normalize: false }, { m: 1 })
    expect(paramDiff([a, b]).map((d) => d.key)).toEqual(['normalize'])
    expect(paramDiff([a])).toEqual([])
  })
})
