import { describe, expect, it } from 'vitest'
import { AmalgamError } from '#common/errors'
import { getMethod, listMethods } from '../../../main/engine/merge/registry'
import { runMerge } from '../../../main/engine/merge/run'
import { coerceParam, parseSetArgs, validateParams } from '../../../main/engine/merge/schema'
import { MixedSource, RecordingSink, merge1, randn, vecPool } from './_pool'

const code = async (p: Promise<unknown>): Promise<string> => {
  try { await p } catch (e) { return e instanceof AmalgamError ? `${e.code}: ${e.message}` : `other: ${String(e)}` }
  return 'no error'
}

describe('parameter schema', () => {
  it('coerces CLI strings to the declared types', () => {
    const info = getMethod('ties_merging').info
    const p = validateParams(info, parseSetArgs(['scaling_factor=0.7', 'threshold=10', 'merge_func=mean']))
    expect(p).toMatchObject({ scaling_factor: 0.7, threshold: 10, merge_func: 'mean', remove_keys: '', variant: 'fusion_bench' })
    expect(coerceParam('x', { name: 'b', type: 'boolean', default: false, description: '' }, 'true')).toBe(true)
    expect(coerceParam('x', { name: 'w', type: 'number[]', default: [], description: '' }, '1,2.5')).toEqual([1, 2.5])
    expect(coerceParam('x', { name: 'w', type: 'number[]', default: [], description: '' }, '[3, 4]')).toEqual([3, 4])
  })

  it('fills defaults (FusionBench values)', () => {
    expect(validateParams(getMethod('task_arithmetic').info, {})).toEqual({ scaling_factor: 0.3 })
    expect(validateParams(getMethod('dare_ties_merging').info, {})).toMatchObject({ scaling_factor: 0.5, sparsity_ratio: 0.5, threshold: 20, merge_func: 'sum' })
  })

  it('rejects unknown, ill-typed and out-of-range parameters naming method and parameter', async () => {
    const pool = vecPool([0, 0], [[1, 0], [0, 2]])
    expect(await code(merge1('task_arithmetic', pool, { scale: 1 }))).toMatch(/^BAD_PARAM: task_arithmetic: parameter "scale" is not a parameter/)
    expect(await code(merge1('ties_merging', pool, { merge_func: 'median' }))).toMatch(/^BAD_PARAM: ties_merging: parameter "merge_func" must be one of sum, mean, max/)
    expect(await code(merge1('ties_merging', pool, { threshold: 100 }))).toMatch(/^BAD_PARAM: ties_merging: parameter "threshold"/)
    expect(await code(merge1('ties_merging', pool, { threshold: 150 }))).toMatch(/^BAD_PARAM: ties_merging: parameter "threshold" must be ≤ 100/)
    expect(await code(merge1('dare_task_arithmetic', pool, { sparsity_ratio: 1 }))).toMatch(/^BAD_PARAM: dare_task_arithmetic: parameter "sparsity_ratio"/)
    expect(await code(merge1('task_arithmetic', pool, { scaling_factor: 'abc' }))).toMatch(/^BAD_PARAM: task_arithmetic: parameter "scaling_factor" must be a number/)
    expect(await code(merge1('no_such_method', pool))).toMatch(/^UNKNOWN_METHOD/)
  })

  it('every method declares a complete schema: defaults valid and in range, descriptions, citations', () => {
    const methods = listMethods()
    expect(methods.length).toBeGreaterThanOrEqual(7)
    for (const m of methods) {
      expect(m.name).toMatch(/^[a-z0-9_]+$/)
      expect(m.title.length, m.name).toBeGreaterThan(0)
      expect(m.description.length, m.name).toBeGreaterThan(20)
      expect(m.citation.length, m.name).toBeGreaterThan(5)
      expect(['data-free', 'data-dependent']).toContain(m.family)
      for (const p of m.params) {
        const where = `${m.name}.${p.name}`
        expect(p.description.length, where).toBeGreaterThan(10)
        expect(p.citation?.length ?? 0, where).toBeGreaterThan(3)
        expect(() => coerceParam(m.name, p, p.default), where).not.toThrow()
        if (p.type === 'enum') expect(p.choices, where).toContain(p.default)
        if (typeof p.default === 'number') {
          if (p.min !== undefined) expect(p.default, where).toBeGreaterThanOrEqual(p.min)
          if (p.max !== undefined) expect(p.default, where).toBeLessThanOrEqual(p.max)
        }
      }
      // defaults pass the method's own cross-parameter check on a 2-model pool
      const method = getMethod(m.name)
      expect(() => method.check?.(validateParams(m, {}), vecPool([0, 0], [[1, 2], [3, 4]])), m.name).not.toThrow()
    }
  })
})

describe('runner', () => {
  const intBytes = new Uint8Array(new BigInt64Array([0n, 1n, 2n]).buffer)
  const mixed = (seed: number, label: string) => new MixedSource(
    { 'a.weight': { shape: [2, 3], data: randn(6, seed) }, 'b.bias': { shape: [3], data: randn(3, seed + 9) } },
    { 'a.position_ids': { dtype: 'I64', shape: [1, 3], bytes: seed === 0 ? intBytes : new Uint8Array(24).fill(7) } },
    label,
  )

  it('copies integer buffers from the base byte for byte, never merging them, and writes in name order (TIES: held tensors last)', async () => {
    const pool = { base: mixed(0, 'base'), models: [mixed(1, 'm1'), mixed(2, 'm2')] }
    for (const method of ['task_arithmetic', 'ties_merging', 'dare_task_arithmetic', 'simple_average']) {
      const sink = new RecordingSink()
      const r = await runMerge({ method, pool, sink })
      expect(sink.raw.get('a.position_ids')!.bytes).toEqual(intBytes)
      expect(sink.raw.get('a.position_ids')!.meta.dtype).toBe('I64')
      // TIES holds back tensors whose threshold-bucket coordinates it settles at the end (sinks accept any order)
      expect(method === 'ties_merging' ? [...sink.order].sort() : sink.order).toEqual(['a.position_ids', 'a.weight', 'b.bias'])
      expect(r.tensors).toEqual({ merged: 2, copied: 1 })
    }
  })

  it('reports progress and stops between tensors when cancelled', async () => {
    const pool = { base: mixed(0, 'base'), models: [mixed(1, 'm1'), mixed(2, 'm2')] }
    const ac = new AbortController()
    const seen: string[] = []
    const sink = new RecordingSink()
    const ctx = { signal: ac.signal, progress: (stage: string, f: number, msg?: string) => { seen.push(`${stage}:${f}:${msg ?? ''}`); if (msg === 'a.weight') ac.abort() } }
    const err = await code(runMerge({ method: 'task_arithmetic', pool, sink, ctx }))
    expect(err).toMatch(/^CANCELLED/)
    expect(sink.order).toEqual(['a.position_ids', 'a.weight']) // b.bias never written
    expect(seen[0]).toBe('merge:0:a.position_ids')
  })

  it('names the model and tensor on a shape mismatch', async () => {
    const base = new MixedSource({ w: { shape: [2, 3], data: randn(6, 1) } }, {}, 'base')
    const bad = new MixedSource({ w: { shape: [3, 2], data: randn(6, 2) } }, {}, 'odd')
    expect(await code(merge1('task_arithmetic', { base, models: [base, bad] }))).toMatch(/^POOL_MISMATCH: tensor w: model 2 \(odd\) has shape \[3,2\]/)
  })

  it('returns resolved parameters and diagnostics', async () => {
    const { result } = await merge1('ties_merging', vecPool([0, 0, 0, 0], [[1, 2, 3, 4], [4, 3, 2, 1]]))
    expect(result.params).toEqual({ scaling_factor: 0.3, threshold: 20, merge_func: 'sum', remove_keys: '', variant: 'fusion_bench' })
    expect(result.diagnostics.keptFraction).toHaveLength(2)
  })
})
