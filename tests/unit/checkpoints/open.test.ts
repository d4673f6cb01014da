import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFile, rm, unlink, writeFile, copyFile } from 'node:fs/promises'
import { join } from 'node:path'
import { openModel } from '../../../main/engine/checkpoints/open'
import { inspectCheckpoint } from '../../../main/engine/checkpoints/inspect'
import { makeTempDir, storedValues, writeTinyClipFolder } from '../../fixtures/make-tiny-checkpoints'

let root: string
beforeAll(async () => { root = await makeTempDir('amalgam-open-') })
afterAll(async () => { await rm(root, { recursive: true, force: true }) })

describe('openModel', () => {
  it('reads an HF folder (model.safetensors) with config, sorted names and exact values', async () => {
    const dir = join(root, 'single')
    const tensors = await writeTinyClipFolder(dir, { dtype: 'BF16', positionIds: true })
    const m = await openModel(dir)
    try {
      expect(m.format).toBe('hf-folder')
      expect(m.files).toEqual([join(dir, 'model.safetensors')])
      expect(m.config?.model_type).toBe('clip_vision_model')
      expect(m.names()).toEqual([...m.names()].sort())
      expect(m.names()).toHaveLength(tensors.length + 1)
      const fc1 = tensors.find((t) => t.name.endsWith('layers.0.mlp.fc1.weight'))!
      expect(m.meta(fc1.name)).toEqual({ name: fc1.name, shape: [32, 8], dtype: 'BF16' })
      expect(await m.readF32(fc1.name)).toEqual(storedValues(fc1, 'BF16'))
      await expect(m.readF32('vision_model.embeddings.position_ids')).rejects.toThrow(/tensor "vision_model\.embeddings\.position_ids" is I64; integer and bool tensors/)
      const ids = await m.readRaw('vision_model.embeddings.position_ids')
      expect([...new BigInt64Array(ids.slice().buffer)]).toEqual([0n, 1n, 2n, 3n, 4n])
    } finally { await m.close() }
  })

  it('reads a bare .safetensors file', async () => {
    const m = await openModel(join(root, 'single', 'model.safetensors'))
    expect(m.format).toBe('safetensors')
    expect(m.has('vision_model.post_layernorm.bias')).toBe(true)
    await m.close()
  })

  it('reads a sharded folder through model.safetensors.index.json', async () => {
    const dir = join(root, 'sharded')
    const tensors = await writeTinyClipFolder(dir, { dtype: 'F16', shardTensors: 10 })
    const m = await openModel(dir)
    try {
      expect(m.format).toBe('sharded-hf-folder')
      expect(m.files.length).toBe(Math.ceil(tensors.length / 10))
      expect(m.files[0]).toMatch(/model-00001-of-0000\d\.safetensors$/)
      expect(m.names()).toEqual(tensors.map((t) => t.name).sort())
      for (const t of tensors) expect(await m.readF32(t.name)).toEqual(storedValues(t, 'F16'))
    } finally { await m.close() }
  })

  it('rejects an index naming a missing shard, or a tensor its shard lacks (naming both)', async () => {
    const dir = join(root, 'broken-index')
    await writeTinyClipFolder(dir, { shardTensors: 10 })
    const indexPath = join(dir, 'model.safetensors.index.json')
    const index = JSON.parse(await readFile(indexPath, 'utf8')) as { weight_map: Record<string, string> }
    const good = JSON.stringify(index)
    const shards = [...new Set(Object.values(index.weight_map))].sort()
    expect(shards).toEqual(['model-00001-of-00004.safetensors', 'model-00002-of-00004.safetensors', 'model-00003-of-00004.safetensors', 'model-00004-of-00004.safetensors'])
    index.weight_map['vision_model.extra.weight'] = shards[0]
    await writeFile(indexPath, JSON.stringify(index))
    await expect(openModel(dir)).rejects.toThrow(/tensor "vision_model\.extra\.weight" is mapped to shard model-00001-of-00004\.safetensors, but model-00001-of-00004\.safetensors has no such tensor/)
    await writeFile(indexPath, good)
    await unlink(join(dir, shards[1]))
    await expect(openModel(dir)).rejects.toThrow(/shard model-00002-of-00004\.safetensors \(listed for tensor ".+"\) does not exist/)
    await writeFile(indexPath, JSON.stringify({ weight_map: { a: '../x.safetensors' } }))
    await expect(openModel(dir)).rejects.toThrow(/weight_map entry for tensor "a" is "\.\.\/x\.safetensors"/)
  })

  it('explains folders without safetensors weights', async () => {
    const dir = join(root, 'bin-only')
    await writeTinyClipFolder(dir)
    await copyFile(join(dir, 'model.safetensors'), join(dir, 'pytorch_model.bin'))
    await unlink(join(dir, 'model.safetensors'))
    await expect(openModel(dir)).rejects.toThrow(/no model\.safetensors or model\.safetensors\.index\.json found \(it has pytorch_model\*\.bin/)
    await expect(openModel(join(root, 'nowhere'))).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })
})

describe('inspectCheckpoint', () => {
  it('summarises config, tensors, parameters, dtypes and shards from headers only', async () => {
    const info = await inspectCheckpoint(join(root, 'single'), { tensors: true })
    expect(info.format).toBe('hf-folder')
    expect(info.shards).toBe(1)
    expect(info.config).toEqual({ architectures: ['CLIPVisionModel'], modelType: 'clip_vision_model', dtype: 'bfloat16', hiddenSize: 8, layers: 2 })
    expect(info.dtypes).toEqual({ BF16: info.tensorCount - 1, I64: 1 })
    expect(info.metadata).toEqual({ format: 'pt' })
    // D=8, L=2, p=4, n_tok=5: 8 + 8·3·16 + 5·8 + 2·8 + 2·(4·(64+8) + 4·8 + 32·8 + 32 + 8·32 + 8) + 2·8 + 5 (position_ids)
    const perLayer = 4 * (64 + 8) + 4 * 8 + 32 * 8 + 32 + 8 * 32 + 8
    expect(info.parameterCount).toBe(8 + 384 + 40 + 16 + 2 * perLayer + 16 + 5)
    expect(info.tensors?.find((t) => t.name.endsWith('fc2.weight'))).toMatchObject({ dtype: 'BF16', shape: [8, 32], bytes: 512 })
    const sharded = await inspectCheckpoint(join(root, 'sharded'))
    expect(sharded.format).toBe('sharded-hf-folder')
    expect(sharded.shards).toBe(sharded.files.length)
    expect(sharded.tensors).toBeUndefined()
  })
})
