import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { validators } from '#common/validate'

const contractSrc = readFileSync(fileURLToPath(new URL('../../../common/contract.ts', import.meta.url)), 'utf8')
const methodBlock = contractSrc.slice(contractSrc.indexOf('export interface EngineMethods'), contractSrc.indexOf('export interface EngineEvents'))
const contractMethods = [...methodBlock.matchAll(/^\s*'([a-zA-Z.]+)':\s*\{\s*in:/gm)].map((m) => m[1])

const bad = (m: keyof typeof validators, p: unknown) => { try { validators[m](p); return null } catch (e) { return (e as { code: string; message: string }) } }

describe('validators', () => {
  it('exist for exactly the methods of the contract', () => {
    expect(contractMethods.length).toBeGreaterThan(20)
    expect(Object.keys(validators).sort()).toEqual([...contractMethods].sort())
  })

  it('accept empty params for methods without params and reject anything else', () => {
    expect(validators['engine.status'](undefined)).toBeUndefined()
    expect(validators['engine.status'](null)).toBeUndefined()
    expect(validators['engine.status']({})).toBeUndefined()
    expect(bad('engine.status', { x: 1 })?.message).toBe('engine.status: params must be empty (this method takes no parameters)')
  })

  it('checks strings, numbers, enums, arrays and optional fields, naming the field', () => {
    expect(validators['experiments.export']({ id: 'e1', out: '/tmp/o', dtype: 'bf16' })).toEqual({ id: 'e1', out: '/tmp/o', dtype: 'bf16' })
    expect(bad('experiments.export', { id: 'e1', out: '/tmp/o', dtype: 'f64' })?.message).toBe('experiments.export: dtype must be one of "f32", "bf16", "f16"')
    expect(bad('experiments.export', { id: 'e1', out: '', })?.message).toBe('experiments.export: out must be a non-empty string')
    expect(bad('experiments.export', { id: 'e1', out: '/o', shardBytes: 1.5 })?.message).toBe('experiments.export: shardBytes must be an integer')
    expect(bad('experiments.list', { limit: Number.NaN })?.message).toBe('experiments.list: limit must be a finite number, got number')
    expect(bad('experiments.list', { offset: -1 })?.message).toBe('experiments.list: offset must be ≥ 0')
    expect(bad('experiments.list', { status: 'weird' })?.code).toBe('BAD_REQUEST')
    expect(bad('checkpoints.check', { base: '/b', models: [] })?.message).toBe('checkpoints.check: models must have at least 1 item')
    expect(bad('experiments.compare', 'ids')?.message).toBe('experiments.compare: params must be an object, got string')
    expect(bad('jobs.cancel', [])?.message).toBe('jobs.cancel: params must be an object, got an array')
  })

  it('validates run requests including nested method params and sweep grids', () => {
    const ok = validators['runs.sweep']({ poolId: 'p', method: 'ties_merging', params: { k: 0.2 }, grid: { lambda: [0.1, 0.3] } })
    expect(ok.grid).toEqual({ lambda: [0.1, 0.3] })
    expect(bad('runs.start', { poolId: 'p', method: 'ta', params: { lambda: Infinity } })?.message).toBe('runs.start: params.lambda must be a finite number')
    expect(bad('runs.sweep', { poolId: 'p', method: 'ta', grid: { lambda: [] } })?.message).toBe('runs.sweep: grid.lambda must have at least 1 item')
    expect(bad('runs.start', { poolId: 'p', method: 'ta', seed: -1 })?.message).toBe('runs.start: seed must be ≥ 0')
    expect(bad('runs.start', { poolId: 'p', method: 'ta', tags: ['ok', ''] })?.message).toBe('runs.start: tags[1] must be a non-empty string')
  })

  it('drops undefined optional fields and keeps the rest', () => {
    expect(validators['workspace.open']({ dir: '/w', create: undefined })).toEqual({ dir: '/w' })
  })
})
