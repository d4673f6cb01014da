// A tiny random CLIP pool with a MergeData provider over random images, for the data-dependent
// method tests: out ≠ in everywhere (intermediate ≠ hidden), a few tokens per image.
import { clipParamShapes, type ClipVisionConfig } from '../../../main/engine/model/config'
import { MemorySource, numel, type MemTensor } from '../../../main/engine/tensors/source'
import { Rng } from '../../../main/engine/benchmark/rng'
import type { ImageBatch, MergeData, TaskHead } from '../../../main/engine/merge/data'
import type { ModelPool } from '../../../main/engine/merge/types'

export const tinyCfg: ClipVisionConfig = { imageSize: 8, patchSize: 4, numChannels: 1, hiddenSize: 12, intermediateSize: 20, numHeads: 2, numLayers: 2, layerNormEps: 1e-5, hiddenAct: 'quick_gelu' }

export function randomState(cfg: ClipVisionConfig, seed: number, scale = 0.3): Map<string, MemTensor> {
  const rng = new Rng(seed)
  const m = new Map<string, MemTensor>()
  for (const [name, shape] of clipParamShapes(cfg)) {
    const data = new Float32Array(numel(shape))
    const ln = /norm[12]?\.weight$|layrnorm\.weight$/.test(name)
    for (let i = 0; i < data.length; i++) data[i] = ln ? 1 + 0.2 * rng.normal() : scale * rng.normal()
    m.set(name, { shape, data })
  }
  return m
}

/** base + scale·noise for every tensor */
export function perturbed(base: Map<string, MemTensor>, seed: number, scale = 0.05): Map<string, MemTensor> {
  const rng = new Rng(seed)
  const m = new Map<string, MemTensor>()
  for (const [name, t] of base) m.set(name, { shape: [...t.shape], data: t.data.map((v) => v + scale * rng.normal()) })
  return m
}

export function tinyPool(n: number, cfg = tinyCfg, seed = 1, spread = 0.05): ModelPool {
  const base = randomState(cfg, seed)
  return {
    base: new MemorySource(base, 'base'),
    models: Array.from({ length: n }, (_, k) => new MemorySource(perturbed(base, seed * 100 + k + 1, spread), `expert${k + 1}`)),
    names: Array.from({ length: n }, (_, k) => `task${k + 1}`),
  }
}

function images(cfg: ClipVisionConfig, count: number, seed: number): Float32Array {
  const rng = new Rng(seed)
  const px = new Float32Array(count * cfg.imageSize * cfg.imageSize * cfg.numChannels)
  for (let i = 0; i < px.length; i++) px[i] = rng.normal()
  return px
}

export interface TinyData extends MergeData { calls: Array<{ kind: string; task: number; n?: number; seed?: number; shuffle?: boolean }> }

/** Random train (per task 200 images) and test (per task 40) sets; random unit heads with 3 classes. */
export function tinyData(n: number, cfg = tinyCfg, opts: { classes?: number; trainCount?: number; testCount?: number; logitScale?: number } = {}): TinyData {
  const C = opts.classes ?? 3, trainCount = opts.trainCount ?? 200, testCount = opts.testCount ?? 40
  const px = cfg.imageSize * cfg.imageSize * cfg.numChannels
  const train = Array.from({ length: n }, (_, k) => images(cfg, trainCount, 1000 + k))
  const trainLabels = Array.from({ length: n }, (_, k) => Int32Array.from({ length: trainCount }, (_, i) => (i * 7 + k) % C))
  const test = Array.from({ length: n }, (_, k) => images(cfg, testCount, 2000 + k))
  const heads: TaskHead[] = Array.from({ length: n }, (_, k) => {
    const rng = new Rng(3000 + k)
    const w = new Float32Array(C * cfg.hiddenSize)
    for (let c = 0; c < C; c++) {
      let s = 0
      for (let d = 0; d < cfg.hiddenSize; d++) { const v = rng.normal(); w[c * cfg.hiddenSize + d] = v; s += v * v }
      for (let d = 0; d < cfg.hiddenSize; d++) w[c * cfg.hiddenSize + d] /= Math.sqrt(s)
    }
    return { weight: w, classes: C, dim: cfg.hiddenSize, logitScale: opts.logitScale ?? 100 }
  })
  const calls: TinyData['calls'] = []
  return {
    name: 'tiny-random', config: cfg, tasks: n, taskNames: Array.from({ length: n }, (_, k) => `task${k + 1}`), calls,
    async exemplars(task, count, seed, o = {}) {
      calls.push({ kind: 'exemplars', task, n: count, seed, shuffle: o.shuffle ?? true })
      const idx = o.shuffle === false ? Array.from({ length: count }, (_, i) => i) : Array.from(new Rng(seed).permutation(trainCount).subarray(0, count))
      const out = new Float32Array(count * px)
      idx.forEach((i, j) => out.set(train[task].subarray(i * px, (i + 1) * px), j * px))
      const b: ImageBatch = { count, side: cfg.imageSize, channels: cfg.numChannels, pixels: out }
      if (o.labels) b.labels = Int32Array.from(idx, (i) => trainLabels[task][i])
      return b
    },
    async unlabeled(task) {
      calls.push({ kind: 'unlabeled', task })
      return { count: testCount, side: cfg.imageSize, channels: cfg.numChannels, pixels: test[task] }
    },
    async head(task) { return heads[task] },
  }
}
