import { describe, expect, it } from 'vitest'
import { findMatrices } from '../../renderer/src/lib/diagnostics'

describe('findMatrices', () => {
  it('turns layer-wise AdaMerging λ[task][tensor] into a tensor × task matrix', () => {
    const m = findMatrices({ transductive: 'x', lambda: { tasks: ['a', 'b'], tensors: ['l0.w', 'l1.w', 'l2.w'], values: [[1, 2, 3], [4, 5, 6]] } })
    expect(m).toEqual([{ title: 'lambda', rows: ['l0.w', 'l1.w', 'l2.w'], cols: ['a', 'b'], values: [[1, 4], [2, 5], [3, 6]] }])
  })
  it('shows task-wise λ as one row', () => {
    expect(findMatrices({ lambda: { tasks: ['a', 'b'], values: [0.3, 0.4] } })).toEqual([{ title: 'lambda', rows: ['all layers'], cols: ['a', 'b'], values: [[0.3, 0.4]] }])
  })
  it('collects DogeTA per-tensor λ', () => {
    const m = findMatrices({ keptFraction: [0.2], perTensor: { 'l0.w': { lambda: [0.1, 0.2], deltaNorm: 1 }, 'l0.b': { deltaNorm: 2 }, 'l1.w': { lambda: [0.3, 0.4] } } })
    expect(m).toEqual([{ title: 'λ per tensor', rows: ['l0.w', 'l1.w'], cols: ['task 1', 'task 2'], values: [[0.1, 0.2], [0.3, 0.4]] }])
  })
  it('finds nothing in diagnostics without coefficient matrices', () => {
    expect(findMatrices({ keptFraction: [0.2, 0.3], thresholds: [1, 2], rank: 4 })).toEqual([])
    expect(findMatrices(undefined)).toEqual([])
  })
})
