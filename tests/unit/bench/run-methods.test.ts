// The benchmark method loop: rows per method, per-task methods evaluated per task, and methods
// whose pool constraints are not met reported as skipped instead of failing the whole run.
import { describe, expect, it } from 'vitest'
import type { EvalResult } from '#common/types'
import { MemorySource, type TensorSource } from '../../../main/engine/tensors/source'
import { runMethods } from '../../../main/engine/bench/run-methods'

const model = (v: number) => new MemorySource({ 'w.weight': { shape: [2, 3], data: new Float32Array(6).fill(v) } }, `m${v}`)

// a fake evaluator: "accuracy" on task t is the merged weight's first value, so rows are checkable
async function evaluate(m: TensorSource | ((t: string) => TensorSource)): Promise<EvalResult> {
  const tasks = ['a', 'b', 'c']
  const perTask: EvalResult['perTask'] = {}
  for (const t of tasks) {
    const src = typeof m === 'function' ? m(t) : m
    perTask[t] = { accuracy: (await src.readF32('w.weight'))[0], loss: 0, n: 1 }
  }
  return { benchmark: 'fake', tasks, perTask, average: tasks.reduce((s, t) => s + perTask[t].accuracy, 0) / 3, seconds: 0 }
}

describe('runMethods', () => {
  it('merges, evaluates and skips methods the pool cannot take when asked to', async () => {
    const skipped: string[] = []
    const rows = await runMethods({
      runs: [{ method: 'simple_average' }, { method: 'slerp' }, { method: 'task_arithmetic', params: { scaling_factor: 0.5 } }],
      pool: { base: model(0), models: [model(0.3), model(0.6), model(0.9)], names: ['a', 'b', 'c'] },
      tasks: ['a', 'b', 'c'], evaluate, onSkip: (m, why) => skipped.push(`${m}: ${why}`),
    })
    expect(rows.map((r) => r.name)).toEqual(['simple_average', 'task_arithmetic'])
    expect(rows[0].average).toBeCloseTo(0.6, 6)
    expect(rows[1].average).toBeCloseTo(0.9, 6)
    expect(rows[1].params?.scaling_factor).toBe(0.5)
    expect(skipped).toHaveLength(1)
    expect(skipped[0]).toMatch(/^slerp: .*2 models/)
  })

  it('without onSkip a method that cannot take the pool is an error', async () => {
    const errors: string[] = []
    const rows = await runMethods({
      runs: [{ method: 'slerp' }], pool: { base: model(0), models: [model(1), model(2), model(3)] }, tasks: ['a', 'b', 'c'], evaluate,
      onError: (m, e) => errors.push(`${m}: ${(e as Error).message}`),
    })
    expect(rows).toHaveLength(0)
    expect(errors[0]).toMatch(/slerp/)
  })
})
