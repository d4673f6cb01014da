// The evaluator on a hand-made benchmark where every prediction is known in advance: the model's
// post_layernorm has weight 0, so every image's feature is exactly post_layernorm.bias; the head
// rows are unit vectors, so the logits, the predicted class and the loss follow by hand.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtemp, rm, mkdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getModelTf } from '../../../main/engine/model/tf'
import { clipParamShapes, configToHf, type ClipVisionConfig } from '../../../main/engine/model/config'
import { MemorySource, numel, type MemTensor } from '../../../main/engine/tensors/source'
import { writeData } from '../../../main/engine/benchmark/store'
import { writeHead } from '../../../main/engine/benchmark/heads'
import { loadMini8, type Mini8 } from '../../../main/engine/benchmark/mini8'
import { evaluate, normalizedAccuracy } from '../../../main/engine/benchmark/evaluate'
import type { PreparedData } from '../../../main/engine/benchmark/prepare'
import type { TaskDef } from '../../../main/engine/benchmark/tasks'

const cfg: ClipVisionConfig = { imageSize: 28, patchSize: 14, numChannels: 1, hiddenSize: 4, intermediateSize: 6, numHeads: 2, numLayers: 1, layerNormEps: 1e-5, hiddenAct: 'quick_gelu' }

/** A model whose pooled feature is `feature` for every image. */
function constantModel(feature: number[], label: string): MemorySource {
  const m = new Map<string, MemTensor>()
  for (const [name, shape] of clipParamShapes(cfg)) {
    const data = new Float32Array(numel(shape))
    if (name === 'vision_model.post_layernorm.bias') data.set(feature)
    else if (name === 'vision_model.post_layernorm.weight') data.fill(0)
    else if (/layer_norm[12]\.weight$|layrnorm\.weight$/.test(name)) data.fill(1)
    else for (let i = 0; i < data.length; i++) data[i] = Math.sin(i + name.length) // anything: ignored by post-LN weight 0
    m.set(name, { shape, data })
  }
  return new MemorySource(m, label)
}

const set = (labels: number[]) => ({ count: labels.length, pixels: Uint8Array.from({ length: labels.length * 784 }, (_, i) => (i * 37) % 256), labels: Uint8Array.from(labels) })
const def = (name: string, classes: number): TaskDef => ({ name, title: name, source: 'mnist', classes: Array.from({ length: classes }, (_, i) => `c${i}`), transform: 'none', why: 'test', label: (l) => l, pixels: (x) => x })

let dir = ''
let bench: Mini8
// task a: 3 classes, labels [0,1,1,2,1]; task b: 2 classes, labels [0,0,0,1]
const labelsA = [0, 1, 1, 2, 1], labelsB = [0, 0, 0, 1]

beforeAll(async () => {
  await getModelTf()
  dir = await mkdtemp(join(tmpdir(), 'mini8-eval-'))
  const data: PreparedData = {
    tasks: [
      { def: def('a', 3), splits: { train: set([0, 1, 2]), val: set([1, 1]), test: set(labelsA) }, sourceIndex: { train: [], val: [], test: [] } },
      { def: def('b', 2), splits: { train: set([0, 1]), val: set([1]), test: set(labelsB) }, sourceIndex: { train: [], val: [], test: [] } },
    ],
    pretrain: { ...set([]), classes: [] }, pretrainNote: 'none',
  }
  await writeData(join(dir, 'data'), data, 1)
  await mkdir(join(dir, 'heads'))
  // unit rows e0, e1, e2 (task a) and e0, e3 (task b); logit scale 10
  const eye = (rows: number[]) => Float32Array.from(rows.flatMap((r) => [0, 1, 2, 3].map((d) => (d === r ? 1 : 0))))
  await writeHead(join(dir, 'heads', 'a.safetensors'), 'a', ['c0', 'c1', 'c2'], { weight: eye([0, 1, 2]), classes: 3, dim: 4, logitScale: 10 })
  await writeHead(join(dir, 'heads', 'b.safetensors'), 'b', ['c0', 'c1'], { weight: eye([0, 3]), classes: 2, dim: 4, logitScale: 10 })
  await mkdir(join(dir, 'models', 'pretrained'), { recursive: true })
  await writeFile(join(dir, 'models', 'pretrained', 'config.json'), JSON.stringify(configToHf(cfg)))
  bench = await loadMini8(dir)
})
afterAll(async () => { if (dir) await rm(dir, { recursive: true, force: true }) })

const ce = (z: number[], y: number) => { const m = Math.max(...z); return m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)) - z[y] }

describe('mini-8 evaluator', () => {
  it('scores a model whose predictions are known by hand', async () => {
    // feature (0, 0.6, 0, 0.8): cosines with task a's rows = (0, 0.6, 0) → predicts class 1
    // task b rows e0, e3 → cosines (0, 0.8) → predicts class 1
    const events: number[] = []
    const r = await evaluate(constantModel([0, 0.6, 0, 0.8], 'const'), { bench, individual: { a: 0.8, b: 0.5 } }, { progress: (_s, f) => events.push(f) })
    expect(r.tasks).toEqual(['a', 'b'])
    expect(r.perTask.a.accuracy).toBeCloseTo(3 / 5, 12)
    expect(r.perTask.b.accuracy).toBeCloseTo(1 / 4, 12)
    const za = [0, 6, 0], zb = [0, 8]
    expect(r.perTask.a.loss).toBeCloseTo(labelsA.reduce((s, y) => s + ce(za, y), 0) / 5, 5)
    expect(r.perTask.b.loss).toBeCloseTo(labelsB.reduce((s, y) => s + ce(zb, y), 0) / 4, 5)
    expect(r.average).toBeCloseTo((0.6 + 0.25) / 2, 12)
    expect(r.normalized).toBeCloseTo((0.6 / 0.8 + 0.25 / 0.5) / 2, 12)
    expect(events.at(-1)).toBe(1)
    expect(events.every((f, i) => i === 0 || f >= events[i - 1])).toBe(true)
  })

  it('evaluates one model per task with the function form', async () => {
    // task a gets a model pointing at class 0 (labels: one 0 of five), task b one pointing at class 0 (three of four)
    const r = await evaluate((t) => constantModel(t === 'a' ? [1, 0, 0, 0] : [0.9, 0, 0, -0.1], `per-task ${t}`), { bench, individual: null })
    expect(r.perTask.a.accuracy).toBeCloseTo(1 / 5, 12)
    expect(r.perTask.b.accuracy).toBeCloseTo(3 / 4, 12)
    expect(r.normalized).toBeUndefined()
  })

  it('limits to chosen tasks and splits, and rejects unknown tasks', async () => {
    const r = await evaluate(constantModel([0, 1, 0, 0], 'c'), { bench, tasks: ['a'], split: 'val', individual: null })
    expect(r.tasks).toEqual(['a'])
    expect(r.perTask.a).toEqual({ accuracy: 1, loss: expect.any(Number), n: 2 })
    await expect(evaluate(constantModel([0, 1, 0, 0], 'c'), { bench, tasks: ['zzz'] })).rejects.toThrow(/unknown mini-8 task zzz/)
  })

  it('stops when cancelled', async () => {
    const ac = new AbortController(); ac.abort()
    await expect(evaluate(constantModel([0, 1, 0, 0], 'c'), { bench }, { signal: ac.signal })).rejects.toThrow(/cancelled/)
  })

  it('normalised accuracy needs every denominator', () => {
    expect(normalizedAccuracy({ a: 0.5, b: 1 }, { a: 1, b: 1 })).toBeCloseTo(0.75)
    expect(normalizedAccuracy({ a: 0.5 }, { b: 1 })).toBeNull()
    expect(normalizedAccuracy({ a: 0.5 }, null)).toBeNull()
  })

  it('draws seeded exemplars from the train split', () => {
    const e1 = bench.exemplars('a', 2, 5), e2 = bench.exemplars('a', 2, 5)
    expect(e1.indices).toEqual(e2.indices)
    expect(new Set(e1.indices).size).toBe(2)
    expect(() => bench.exemplars('a', 9, 1)).toThrow(/n must be an integer in 1\.\.3/)
  })
})
