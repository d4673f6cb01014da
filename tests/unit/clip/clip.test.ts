import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { parquetWriteFile } from 'hyparquet-writer'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemorySource } from '../../../main/engine/tensors/source'
import { writeSafetensors } from '../../../main/engine/safetensors/writer'
import { ClipVision } from '../../../main/engine/model/clip-vision'
import { getModelTf, tf } from '../../../main/engine/model/tf'
import { openClipBase } from '../../../main/engine/clip/base'
import { ClipText } from '../../../main/engine/clip/text-model'
import { eosPositions } from '../../../main/engine/clip/text-config'
import { buildZeroShotHead } from '../../../main/engine/clip/heads'
import { evaluateClipTasks } from '../../../main/engine/clip/evaluate'
import { OverlaySource, openClipPool } from '../../../main/engine/clip/pool'
import { preprocessImage } from '../../../main/engine/datasets/preprocess'
import { f64, rng, writeTinyClipBase, writeTinyExpert, writeTinyImageFolder } from '../../fixtures/tiny-clip'
import { refText, refVision, type RefCfg } from './reference'

const root = mkdtempSync(join(tmpdir(), 'amalgam-clip-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const REF: RefCfg = { D: 12, I: 20, heads: 2, layers: 2, eps: 1e-5, act: 'quick_gelu' }
const norm = (v: ArrayLike<number>): number[] => { const s = Math.sqrt(Array.from(v).reduce((a, x) => a + x * x, 0)); return Array.from(v, (x) => x / s) }
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m }

let legacy: Map<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>
beforeAll(async () => {
  await getModelTf()
  legacy = await writeTinyClipBase(join(root, 'base'))
  await writeTinyClipBase(join(root, 'base-eos'), { eosTokenId: 49407, act: 'gelu', seed: 7 })
})

describe('CLIP text tower', () => {
  it('matches a float64 loop implementation (legacy argmax pooling, quick_gelu)', async () => {
    const base = await openClipBase(join(root, 'base'))
    const text = await ClipText.load(base.textConfig, base.source)
    const ids = base.tokenizer.encodeBatch(['a cat.', 'the photo', 'photo'])
    expect(base.tokenizer.contextLength).toBe(7)
    const out = text.encode(ids, 3, 7)
    const got = out.arraySync() as number[][]
    out.dispose()
    const pos = eosPositions(ids, 3, 7, 2)
    expect([...pos]).toEqual([4, 5, 2])
    for (let r = 0; r < 3; r++) {
      const want = refText([...ids.subarray(r * 7, r * 7 + 7)], pos[r], f64(legacy), REF, 6)
      expect(maxDiff(got[r], want)).toBeLessThan(1e-4)
    }
    text.dispose(); await base.close()
  })

  it('pools at the first eos for newer configs (gelu), independent of what follows', async () => {
    const base = await openClipBase(join(root, 'base-eos'))
    const tensors = new Map<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>()
    for (const n of base.source.names()) tensors.set(n, { dtype: 'F32', shape: base.source.meta(n).shape, data: await base.source.readF32(n) })
    const text = await ClipText.load(base.textConfig, base.source)
    // eos at position 3, then tokens larger than eos would win an argmax but must be ignored
    const ids = Int32Array.from([49406, 320, 517, 49407, 5, 9, 11, 49406, 512, 49407, 0, 0, 0, 0])
    const out = text.encode(ids, 2, 7)
    const got = out.arraySync() as number[][]
    out.dispose()
    const cfg = { ...REF, act: 'gelu' as const }
    expect(maxDiff(got[0], refText([49406, 320, 517, 49407, 5, 9, 11], 3, f64(tensors), cfg, 6))).toBeLessThan(1e-4)
    expect(maxDiff(got[1], refText([49406, 512, 49407, 0, 0, 0, 0], 2, f64(tensors), cfg, 6))).toBeLessThan(1e-4)
    expect(() => text.encode(Int32Array.from([1, 2, 3, 4, 5, 6, 7]), 1, 7)).toThrow(/no eos/)
    expect(() => text.encode(Int32Array.from([49406, 49500, 49407, 0, 0, 0, 0]), 1, 7)).toThrow(/outside the vocabulary/)
    text.dispose(); await base.close()
  })
})

describe('CLIP vision tower (model/clip-vision) with the base projection', () => {
  it('matches a float64 loop implementation', async () => {
    const base = await openClipBase(join(root, 'base'))
    const pool = await openClipPool(join(root, 'base'), [join(root, 'base')])
    const vm = await ClipVision.load(base.visionConfig, new OverlaySource(pool.base, base.source, ['visual_projection.weight']))
    const r = rng(3)
    const B = 2, S = 8
    const nhwc = Float32Array.from({ length: B * S * S * 3 }, () => 2 * r())
    const out = vm.embed(tf.tensor4d(nhwc, [B, S, S, 3]))
    const got = out.arraySync() as number[][]
    out.dispose()
    for (let b = 0; b < B; b++) {
      const chw = new Float64Array(3 * S * S)
      for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) for (let c = 0; c < 3; c++) chw[(c * S + y) * S + x] = nhwc[((b * S + y) * S + x) * 3 + c]
      expect(maxDiff(got[b], refVision(chw, 3, S, 4, f64(legacy), REF, 6))).toBeLessThan(1e-4)
    }
    vm.dispose(); await pool.close(); await base.close()
  })
})

describe('zero-shot heads', () => {
  it('encodes, projects, normalises, averages over templates and normalises again (2 classes × 2 templates)', async () => {
    const base = await openClipBase(join(root, 'base'))
    const text = await ClipText.load(base.textConfig, base.source)
    const classes = ['cat', 'photo'], templates = ['a {c}.', 'the {c}']
    const head = await buildZeroShotHead(text, base.tokenizer, classes, templates)
    expect(head.classes).toBe(2); expect(head.dim).toBe(6)
    for (let c = 0; c < 2; c++) {
      const per = templates.map((t) => {
        const ids = base.tokenizer.encode(t.replace('{c}', classes[c]))
        return norm(refText([...ids], eosPositions(ids, 1, 7, 2)[0], f64(legacy), REF, 6))
      })
      const want = norm(per[0].map((v, d) => (v + per[1][d]) / 2))
      expect(maxDiff(head.weights.subarray(c * 6, c * 6 + 6), want)).toBeLessThan(1e-4)
    }
    text.dispose(); await base.close()
  })
})

describe('evaluateClipTasks', () => {
  const classes = ['cat', 'photo'], templates = ['a {c}.', 'the {c}']
  let dataDir: string
  beforeAll(async () => {
    dataDir = join(root, 'toy')
    await writeTinyImageFolder(dataDir, { classes: ['cat', 'photo'], perClass: 5, seed: 11, width: 10, height: 8 })
  })

  // independent pipeline: float64 reference forward on the same preprocessed pixels
  async function reference(weights: Map<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>) {
    const base = await openClipBase(join(root, 'base'))
    const heads = classes.map((c) => {
      const per = templates.map((t) => { const ids = base.tokenizer.encode(t.replace('{c}', c)); return norm(refText([...ids], eosPositions(ids, 1, 7, 2)[0], f64(legacy), REF, 6)) })
      return norm(per[0].map((v, d) => (v + per[1][d]) / 2))
    })
    const w = f64(weights)
    const wv = (n: string) => (n === 'visual_projection.weight' ? f64(legacy)(n) : w(n))
    let correct = 0, loss = 0
    for (const [label, cls] of classes.entries()) {
      for (const f of readdirSync(join(dataDir, 'test', cls)).sort()) {
        const { readFileSync } = await import('node:fs')
        const px = await preprocessImage(readFileSync(join(dataDir, 'test', cls, f)), base.imageConfig)
        const chw = new Float64Array(3 * 64)
        for (let i = 0; i < 64; i++) for (let c = 0; c < 3; c++) chw[c * 64 + i] = px[i * 3 + c]
        const e = norm(refVision(chw, 3, 8, 4, wv, REF, 6))
        const logits = heads.map((h) => 100 * h.reduce((s, v, d) => s + v * e[d], 0))
        const mx = Math.max(...logits)
        loss += mx + Math.log(logits.reduce((s, z) => s + Math.exp(z - mx), 0)) - logits[label]
        if (logits.indexOf(mx) === label) correct++
      }
    }
    await base.close()
    return { accuracy: correct / 10, loss: loss / 10 }
  }

  it('scores a merged vision tower with the base text heads, caching heads by key', async () => {
    const expert = await writeTinyExpert(join(root, 'expert'), legacy, 5)
    const pool = await openClipPool(join(root, 'base'), [join(root, 'expert')])
    const cacheDir = join(root, 'cache')
    const logs: string[] = []
    const task = { name: 'toy', dataDir, classNames: classes, templates }
    const res = await evaluateClipTasks({ visionModel: pool.models[0], base: join(root, 'base'), tasks: [task], batchSize: 3, cacheDir, expertAccuracy: { toy: 0.8 }, benchmark: 'toy' }, { log: (l) => logs.push(l) })
    const want = await reference(expert)
    expect(res.perTask.toy.n).toBe(10)
    expect(res.perTask.toy.accuracy).toBeCloseTo(want.accuracy, 10)
    expect(res.perTask.toy.loss).toBeCloseTo(want.loss, 3)
    expect(res.average).toBe(res.perTask.toy.accuracy)
    expect(res.normalized).toBeCloseTo(res.perTask.toy.accuracy / 0.8, 10)
    expect(readdirSync(cacheDir).filter((f) => f.endsWith('.safetensors'))).toHaveLength(1)
    expect(logs.some((l) => l.includes('(built)'))).toBe(true)
    // second run: head from cache, per-task model function, same numbers
    const logs2: string[] = []
    const res2 = await evaluateClipTasks({ visionModel: () => pool.models[0], base: join(root, 'base'), tasks: [task], batchSize: 4, cacheDir }, { log: (l) => logs2.push(l) })
    expect(logs2.some((l) => l.includes('(cached)'))).toBe(true)
    expect(res2.perTask.toy.accuracy).toBe(res.perTask.toy.accuracy)
    expect(res2.normalized).toBeUndefined()
    // different templates → a different cache entry
    await evaluateClipTasks({ visionModel: pool.models[0], base: join(root, 'base'), tasks: [{ ...task, templates: ['{c}'], limit: 2 }], cacheDir })
    expect(readdirSync(cacheDir).filter((f) => f.endsWith('.safetensors'))).toHaveLength(2)
    await pool.close()
  })

  it('rejects label/class-name disagreement and missing text towers clearly', async () => {
    await expect(evaluateClipTasks({ visionModel: new MemorySource({}), base: join(root, 'expert'), tasks: [{ name: 'toy', dataDir }] })).rejects.toThrow(/text_config/)
    const pool = await openClipPool(join(root, 'base'), [join(root, 'expert')])
    await expect(evaluateClipTasks({ visionModel: pool.base, base: join(root, 'base'), tasks: [{ name: 'toy', dataDir, classNames: ['cat'], templates }] })).rejects.toThrow(/1 prompt class names but .*toy\/test has 2 classes/)
    // parquet without HF metadata: no class list to compare, so the label check catches it
    const pq = join(root, 'toy-pq'); mkdirSync(pq)
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer()
    parquetWriteFile({ filename: join(pq, 'test.parquet'), schema: [
      { name: 'root', num_children: 2 }, { name: 'image', repetition_type: 'OPTIONAL', num_children: 2 },
      { name: 'bytes', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' }, { name: 'path', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
      { name: 'label', type: 'INT64', repetition_type: 'OPTIONAL' }],
      columnData: [{ name: 'image', data: [{ bytes: new Uint8Array(png), path: null }, { bytes: new Uint8Array(png), path: null }] }, { name: 'label', data: [0n, 1n] }] })
    await expect(evaluateClipTasks({ visionModel: pool.base, base: join(root, 'base'), tasks: [{ name: 'toy', dataDir: pq, classNames: ['cat'], templates }] })).rejects.toThrow(/label 1 but the head has 1 classes/)
    await pool.close()
  })
})

describe('openClipPool', () => {
  it('exposes only vision_model.* tensors and checks experts against the base', async () => {
    await writeTinyExpert(join(root, 'expert2'), legacy, 9)
    await writeTinyExpert(join(root, 'broken'), legacy, 9, { drop: 'vision_model.encoder.layers.1.mlp.fc1.bias' })
    const pool = await openClipPool(join(root, 'base'), [join(root, 'expert'), join(root, 'expert2')])
    expect(pool.base.names().every((n) => n.startsWith('vision_model.'))).toBe(true)
    expect(pool.base.names()).toHaveLength(5 + 2 * 16 + 2)
    expect(pool.models.map((m) => m.names())).toEqual([pool.base.names(), pool.base.names()])
    expect(pool.base.has('text_projection.weight')).toBe(false)
    await pool.close()
    await expect(openClipPool(join(root, 'base'), [join(root, 'broken')])).rejects.toThrow(/broken.*missing tensor vision_model\.encoder\.layers\.1\.mlp\.fc1\.bias/)
    expect(existsSync(join(root, 'base', 'model.safetensors'))).toBe(true)
    // an expert carrying the integer position_ids buffer the base lacks is still a valid pool member
    const withIds = join(root, 'with-ids'); mkdirSync(withIds)
    const t = new Map<string, { dtype: 'F32' | 'I64'; shape: number[]; data: Float32Array | Uint8Array }>()
    for (const [n, v] of await writeTinyExpert(join(root, 'tmp-expert'), legacy, 3)) t.set(n, v)
    t.set('vision_model.embeddings.position_ids', { dtype: 'I64', shape: [1, 5], data: new Uint8Array(new BigInt64Array([0n, 1n, 2n, 3n, 4n]).buffer) })
    await writeSafetensors(join(withIds, 'model.safetensors'), t)
    const p2 = await openClipPool(join(root, 'base'), [withIds])
    expect(p2.models[0].has('vision_model.embeddings.position_ids')).toBe(true)
    await p2.close()
  })
})
