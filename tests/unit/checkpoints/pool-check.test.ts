import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { DType } from '#common/types'
import { checkPool, estimatePeakBytes, peakProfile } from '../../../main/engine/checkpoints/pool-check'
import { writeSafetensors, type TensorToWrite } from '../../../main/engine/safetensors/writer'
import { makeTinyPool, tinyClipTensors, type TinyPool } from '../../fixtures/make-tiny-checkpoints'

let pool: TinyPool
beforeAll(async () => { pool = await makeTinyPool(2) })
afterAll(async () => { await pool.cleanup() })

/** A single-file model from the tiny CLIP tensors with edits applied. */
async function variant(name: string, edit: (m: Map<string, TensorToWrite>) => void, dtype: DType = 'F32'): Promise<string> {
  const m = new Map<string, TensorToWrite>(tinyClipTensors({ seed: 9 }).map((t) => [t.name, { dtype, shape: t.shape, data: t.data }]))
  edit(m)
  const p = join(pool.root, `${name}.safetensors`)
  await writeSafetensors(p, m, { format: 'pt' })
  return p
}

describe('checkPool', () => {
  it('passes a consistent pool and estimates peak memory', async () => {
    const r = await checkPool(pool.base, pool.models, { scanNonFinite: true })
    expect(r.ok).toBe(true)
    expect(r.issues).toEqual([])
    expect(r.tensorCount).toBe(39)
    expect(Object.keys(r.dtypeMix)).toEqual([pool.base, ...pool.models])
    expect(r.dtypeMix[pool.base]).toEqual({ F32: 39 })
    // largest tensor: patch_embedding 8×3×4×4 = 384 values; 3 inputs → (3 + 2) × 384 × 4 bytes
    expect(r.estimatedPeakBytes).toBe(5 * 384 * 4)
    const resident = await checkPool(pool.base, pool.models, { method: 'adamerging_layer_wise' })
    expect(resident.estimatedPeakBytes).toBe(4 * r.parameterCount * 4 + 5 * 384 * 4)
  })

  it('lists a missing key, an extra key, a shape mismatch, a float/int clash and NaN, by name', async () => {
    const missing = await variant('missing', (m) => m.delete('vision_model.post_layernorm.bias'))
    const extra = await variant('extra', (m) => m.set('vision_model.extra.bias', { dtype: 'F32', shape: [2], data: new Float32Array(2) }))
    const shape = await variant('shape', (m) => m.set('vision_model.encoder.layers.0.mlp.fc1.weight', { dtype: 'F32', shape: [8, 32], data: new Float32Array(256) }))
    const intish = await variant('intish', (m) => m.set('vision_model.pre_layrnorm.bias', { dtype: 'I32', shape: [8], data: new Uint8Array(32) }))
    const nan = await variant('nan', (m) => { const d = new Float32Array(8); d[2] = NaN; d[5] = Infinity; m.set('vision_model.pre_layrnorm.weight', { dtype: 'F32', shape: [8], data: d }) }, 'F32')
    const bf = await variant('bf16', () => undefined, 'BF16')
    const r = await checkPool(pool.base, [missing, extra, shape, intish, nan, bf], { scanNonFinite: true })
    expect(r.ok).toBe(false)
    const brief = r.issues.map((i) => [i.kind, i.model, i.tensor])
    expect(brief).toContainEqual(['missing', missing, 'vision_model.post_layernorm.bias'])
    expect(brief).toContainEqual(['extra', extra, 'vision_model.extra.bias'])
    expect(brief).toContainEqual(['shape', shape, 'vision_model.encoder.layers.0.mlp.fc1.weight'])
    expect(brief).toContainEqual(['dtype', intish, 'vision_model.pre_layrnorm.bias'])
    expect(brief).toContainEqual(['nonfinite', nan, 'vision_model.pre_layrnorm.weight'])
    expect(r.issues.find((i) => i.kind === 'shape')!.detail).toBe('shape [8,32] but the base has [32,8]')
    expect(r.issues.find((i) => i.kind === 'nonfinite')!.detail).toBe('1 NaN and 1 ±Inf values (first at index 2)')
    expect(r.issues.filter((i) => i.model === bf)).toEqual([]) // BF16 next to F32 is a mix, not a mismatch
    expect(r.dtypeMix[bf]).toEqual({ BF16: 39 })
    expect(r.issues).toHaveLength(5)
  })

  it('reports an unreadable model instead of throwing', async () => {
    const r = await checkPool(pool.base, [join(pool.root, 'does-not-exist')])
    expect(r.ok).toBe(false)
    expect(r.issues).toEqual([{ kind: 'unreadable', model: join(pool.root, 'does-not-exist'), detail: expect.stringContaining('no such file or folder') }])
  })

  it('documents the memory formula', () => {
    expect(peakProfile('task_arithmetic').kind).toBe('streaming')
    expect(peakProfile('ties').kind).toBe('resident')
    expect(estimatePeakBytes(9, 768 * 3072, 87_456_000)).toBe(11 * 768 * 3072 * 4)
  })
})
