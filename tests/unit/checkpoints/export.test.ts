import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFile, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { parse as parseYaml } from 'yaml'
import type { TensorSource } from '../../../main/engine/tensors/source'
import { MemorySource } from '../../../main/engine/tensors/source'
import { openModel } from '../../../main/engine/checkpoints/open'
import { exportModel, HfFolderWriter, provenanceMetadata } from '../../../main/engine/checkpoints/export'
import { renderModelCard } from '../../../main/engine/checkpoints/model-card'
import { bf16BitsToF32, f32ToBf16Bits } from '../../../main/engine/safetensors/dtype'
import { makeTempDir, writeTinyClipFolder, tinyClipTensors } from '../../fixtures/make-tiny-checkpoints'

let root: string
let base: string
beforeAll(async () => {
  root = await makeTempDir('amalgam-export-')
  base = join(root, 'base')
  await writeTinyClipFolder(base, { positionIds: true })
  await writeFile(join(base, 'tokenizer.json'), '{"version":"1.0"}\n')
})
afterAll(async () => { await rm(root, { recursive: true, force: true }) })

async function expectSame(a: TensorSource, b: TensorSource, transform?: (x: Float32Array) => Float32Array): Promise<void> {
  expect(b.names()).toEqual(a.names())
  for (const n of a.names()) {
    const m = a.meta(n)
    expect(b.meta(n).shape).toEqual(m.shape)
    if (m.dtype === 'I64') { expect(Buffer.from(await b.readRaw(n)).equals(Buffer.from(await a.readRaw(n)))).toBe(true); continue }
    const want = await a.readF32(n)
    expect(await b.readF32(n)).toEqual(transform ? transform(want) : want)
  }
}

const noTemps = async (): Promise<string[]> => (await readdir(root)).filter((n) => n.includes('.tmp-'))

describe('HF export', () => {
  it('exports f32 and re-reads identical tensors, with config, processor files, card and recipe', async () => {
    const out = join(root, 'out-f32')
    const src = await openModel(base)
    const recipe = 'method: task_arithmetic\nparams:\n  lambda: 0.3\n'
    const res = await exportModel(src, {
      outDir: out, baseDir: base, recipeYaml: recipe, metadata: { amalgam_inputs: '{"base":"x"}' },
      card: {
        method: 'task_arithmetic', methodTitle: 'Task Arithmetic', params: { lambda: 0.3 }, seed: 42,
        base: { path: base, hubId: 'openai/clip-vit-base-patch32' }, models: [{ path: join(root, 'ft1'), hubId: 'tanganke/clip-vit-base-patch32_sun397' }, { path: '/local/ft2' }],
        eval: { benchmark: 'mini-8', accuracy: { sun397: 0.6512, cars: 0.5 }, average: 0.5756, datasets: { sun397: { name: 'SUN397', type: 'tanganke/sun397' } } },
      },
    })
    expect(res.dtype).toBe('f32')
    expect(res.shards).toBe(1)
    expect((await readdir(out)).sort()).toEqual(['README.md', 'amalgam_recipe.yaml', 'config.json', 'model.safetensors', 'preprocessor_config.json', 'tokenizer.json'])
    const back = await openModel(out)
    await expectSame(src, back)
    expect(back.metadata.format).toBe('pt')
    expect(back.metadata.amalgam_inputs).toBe('{"base":"x"}')
    expect(back.metadata.amalgam_recipe_sha256).toMatch(/^[0-9a-f]{64}$/)
    const cfg = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'))
    expect(cfg).toMatchObject({ architectures: ['CLIPVisionModel'], model_type: 'clip_vision_model', dtype: 'float32', hidden_size: 8 })
    expect(await readFile(join(out, 'amalgam_recipe.yaml'), 'utf8')).toBe(recipe)
    const card = await readFile(join(out, 'README.md'), 'utf8')
    const fm = parseYaml(card.split('---\n')[1]) as Record<string, unknown>
    expect(fm.base_model).toEqual(['openai/clip-vit-base-patch32', 'tanganke/clip-vit-base-patch32_sun397'])
    expect(fm.base_model_relation).toBe('merge')
    expect(fm.library_name).toBe('transformers')
    expect(fm.tags).toEqual(['merge', 'amalgam', 'task_arithmetic'])
    expect(fm['model-index']).toEqual([{ name: 'out-f32', results: [
      { task: { type: 'image-classification' }, dataset: { name: 'SUN397', type: 'tanganke/sun397' }, metrics: [{ type: 'accuracy', value: 0.6512 }] },
      { task: { type: 'image-classification' }, dataset: { name: 'cars', type: 'cars' }, metrics: [{ type: 'accuracy', value: 0.5 }] },
    ] }])
    expect(card).toContain('| lambda | 0.3 |')
    expect(card).toContain('| fine-tuned | /local/ft2 | – |')
    expect(card).toContain('| sun397 | 65.12 |')
    await back.close()
    await src.close()
    expect(await noTemps()).toEqual([])
  })

  it('exports bf16: re-read values equal the RNE-rounded originals; integers copied byte for byte', async () => {
    const out = join(root, 'out-bf16')
    const src = await openModel(base)
    await exportModel(src, { outDir: out, baseDir: base, dtype: 'bf16' })
    const back = await openModel(out)
    expect(back.meta('vision_model.post_layernorm.weight').dtype).toBe('BF16')
    expect(back.meta('vision_model.embeddings.position_ids').dtype).toBe('I64')
    await expectSame(src, back, (x) => x.map((v) => bf16BitsToF32(f32ToBf16Bits(v))))
    expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).dtype).toBe('bfloat16')
    // re-export the bf16 model with its own default dtype: identical bytes, no rounding drift
    const again = join(root, 'out-bf16-again')
    const res = await exportModel(back, { outDir: again, baseDir: out })
    expect(res.dtype).toBe('bf16')
    expect((await readFile(join(again, 'model.safetensors'))).equals(await readFile(join(out, 'model.safetensors')))).toBe(true)
    await back.close()
    await src.close()
  })

  it('shards with a small shardBytes: names, index format, sharded re-read', async () => {
    const out = join(root, 'out-sharded')
    const src = await openModel(base)
    const res = await exportModel(src, { outDir: out, baseDir: base, shardBytes: 2048 })
    expect(res.shards).toBeGreaterThan(2)
    const files = (await readdir(out)).filter((f) => f.endsWith('.safetensors')).sort()
    expect(files).toHaveLength(res.shards)
    files.forEach((f, i) => expect(f).toBe(`model-${String(i + 1).padStart(5, '0')}-of-${String(res.shards).padStart(5, '0')}.safetensors`))
    const text = await readFile(join(out, 'model.safetensors.index.json'), 'utf8')
    expect(text.endsWith('}\n')).toBe(true)
    const index = JSON.parse(text) as { metadata: { total_size: number; total_parameters: number }; weight_map: Record<string, string> }
    expect(Object.keys(index)).toEqual(['metadata', 'weight_map'])
    expect(Object.keys(index.metadata)).toEqual(['total_parameters', 'total_size'])
    expect(Object.keys(index.weight_map)).toEqual(src.names())
    expect(text).toContain('{\n  "metadata": {\n    "total_parameters": ')
    const info = (await Promise.all(files.map((f) => stat(join(out, f))))).reduce((s, x) => s + x.size, 0)
    expect(index.metadata.total_size).toBeLessThan(info)
    expect(index.metadata.total_size).toBe(res.totalSize)
    const back = await openModel(out)
    expect(back.format).toBe('sharded-hf-folder')
    await expectSame(src, back)
    await back.close()
    await src.close()
  })

  it('a failure in the middle of writing leaves no folder and no temp', async () => {
    const out = join(root, 'out-fail')
    const src = await openModel(base)
    let reads = 0
    const failing: TensorSource = {
      label: 'failing', names: () => src.names(), meta: (n) => src.meta(n), has: (n) => src.has(n),
      readF32: (n) => src.readF32(n),
      readRaw: async (n) => { if (++reads === 10) throw new Error('disk on fire'); return src.readRaw(n) },
    }
    await expect(exportModel(failing, { outDir: out, baseDir: base, shardBytes: 1024 })).rejects.toThrow('disk on fire')
    await expect(stat(out)).rejects.toThrow()
    expect(await noTemps()).toEqual([])
    await src.close()
  })

  it('cancellation between tensors leaves no folder', async () => {
    const out = join(root, 'out-cancel')
    const src = await openModel(base)
    const ac = new AbortController()
    let n = 0
    await expect(exportModel(src, { outDir: out, baseDir: base, ctx: { signal: ac.signal, progress: () => { if (++n === 5) ac.abort() } } })).rejects.toMatchObject({ code: 'CANCELLED' })
    await expect(stat(out)).rejects.toThrow()
    expect(await noTemps()).toEqual([])
    await src.close()
  })

  it('refuses NaN/Inf and F16 overflow naming the tensor, and removes the temp folder', async () => {
    const tensors = tinyClipTensors({ seed: 3 })
    const plan = tensors.map((t) => ({ name: t.name, shape: t.shape, dtype: 'F32' as const }))
    const w = await HfFolderWriter.create({ outDir: join(root, 'out-nan'), plan })
    const tmp = w.tempDir!
    expect((await stat(tmp)).isDirectory()).toBe(true)
    await w.write(tensors[0].name, tensors[0].shape, tensors[0].data)
    const bad = tensors[1].data.slice(); bad[3] = NaN
    await expect(w.write(tensors[1].name, tensors[1].shape, bad)).rejects.toThrow(`tensor "${tensors[1].name}" has a non-finite value (NaN) at index 3`)
    await expect(stat(tmp)).rejects.toThrow()
    await expect(stat(join(root, 'out-nan'))).rejects.toThrow()

    const w16 = new HfFolderWriter({ outDir: join(root, 'out-f16'), plan, dtype: 'f16' })
    const big = tensors[0].data.slice(); big[1] = 70000
    await expect(w16.write(tensors[0].name, tensors[0].shape, big)).rejects.toThrow(`tensor "${tensors[0].name}" value 70000 at index 1 is outside the F16 range ±65504`)
    await expect(stat(join(root, 'out-f16'))).rejects.toThrow()
    expect(await noTemps()).toEqual([])
  })

  it('refuses to overwrite a non-empty folder unless asked, and checks shapes against the plan', async () => {
    const out = join(root, 'occupied')
    await mkdir(out)
    await writeFile(join(out, 'keep.txt'), 'x')
    const mem = new MemorySource({ 'a.weight': { shape: [3, 2], data: new Float32Array([1, 2, 3, 4, 5, 6]) } })
    await expect(exportModel(mem, { outDir: out })).rejects.toThrow(/folder exists and is not empty/)
    const res = await exportModel(mem, { outDir: out, overwrite: true })
    expect(res.files).toEqual(['model.safetensors'])
    expect(await readdir(out)).toEqual(['model.safetensors'])
    const w = new HfFolderWriter({ outDir: join(root, 'shape'), plan: [{ name: 'a.weight', shape: [3, 2], dtype: 'F32' }] })
    await expect(w.write('a.weight', [2, 3], new Float32Array(6))).rejects.toThrow(/"a\.weight" has shape \[2,3\] but the plan says \[3,2\]/)
    expect(await noTemps()).toEqual([])
  })

  it('provenance metadata holds the SHA-256 of every input file as a JSON string', async () => {
    const f = join(base, 'model.safetensors')
    const md = await provenanceMetadata([f])
    const want = createHash('sha256').update(await readFile(f)).digest('hex')
    expect(JSON.parse(md.amalgam_inputs)).toEqual({ [f]: want })
  })

  it('writes a card without base_model when no input is a Hub id', () => {
    const md = renderModelCard({ method: 'ties', base: { path: '/models/base' }, models: [{ path: '/models/a' }] }, 'x')
    const fm = parseYaml(md.split('---\n')[1]) as Record<string, unknown>
    expect(fm.base_model).toBeUndefined()
    expect(fm.tags).toEqual(['merge', 'amalgam', 'ties'])
    expect(fm['model-index']).toBeUndefined()
  })
})
