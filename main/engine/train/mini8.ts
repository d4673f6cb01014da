// Builds the whole mini-8 benchmark: data splits, a pretrained CLIP-layout vision tower, the
// eight frozen heads, eight experts and a multi-task model, then the reference rows. One seed
// fixes everything; the same seed, sources and TF.js version give the same files.
import { join } from 'node:path'
import { rm, mkdir } from 'node:fs/promises'
import type { MemTensor } from '../tensors/source'
import { MemorySource } from '../tensors/source'
import { getModelTf, tf } from '../model/tf'
import { ClipVision } from '../model/clip-vision'
import type { ClipVisionConfig } from '../model/config'
import { Rng } from '../benchmark/rng'
import { prepareMini8, type ImageSet, type PreparedData } from '../benchmark/prepare'
import { writeData } from '../benchmark/store'
import { calibrateLogitScale, classMeanHead, writeHead } from '../benchmark/heads'
import { embedSet, scoreWithHead } from '../benchmark/features'
import { MINI8_SIDE } from '../benchmark/tasks'
import { loadMini8, REFERENCE_FILE } from '../benchmark/mini8'
import { writeFileAtomic } from '../util/atomic'
import { computeReferenceRows } from '../benchmark/reference'
import { evaluate, normalizedAccuracy } from '../benchmark/evaluate'
import { initClipParams } from './init'
import { Trainer, type Batch, type CosineHead } from './trainer'
import { writeClipFolder } from './checkpoint'

export const MINI8_CONFIG: ClipVisionConfig = {
  imageSize: 28, patchSize: 7, numChannels: 1, hiddenSize: 64, intermediateSize: 256,
  numHeads: 4, numLayers: 4, layerNormEps: 1e-5, hiddenAct: 'quick_gelu',
}

export const MINI8_RECIPE = {
  seed: 8,
  pretrain: { epochs: 5, batch: 64, lr: 1e-3, warmup: 30, shift: 0 },
  expert: { epochs: 10, batch: 64, lr: 5e-4, warmup: 10, shift: 0 },
  multitask: { epochs: 10, batchPerTask: 32, lr: 5e-4, warmup: 10, shift: 0 },
  taLambdas: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
}

type Log = (line: string) => void
const PX = MINI8_SIDE * MINI8_SIDE

/**
 * A training batch. With `aug`, each image is shifted by up to ±shift pixels in x and y, border
 * pixels replicated (so inverted images keep a white background): with 1,000 images per task the
 * experts otherwise memorise their training sets.
 */
function gather(set: ImageSet, idx: ArrayLike<number>, from: number, to: number, head: number, aug?: { rng: Rng; shift: number }): Batch {
  const n = to - from, S = MINI8_SIDE
  const pixels = new Uint8Array(n * PX), labels = new Uint8Array(n)
  for (let k = 0; k < n; k++) {
    const i = idx[from + k]
    const src = set.pixels.subarray(i * PX, (i + 1) * PX)
    labels[k] = set.labels[i]
    if (!aug || aug.shift === 0) { pixels.set(src, k * PX); continue }
    const dy = aug.rng.int(2 * aug.shift + 1) - aug.shift, dx = aug.rng.int(2 * aug.shift + 1) - aug.shift
    for (let y = 0; y < S; y++) {
      const sy = Math.min(S - 1, Math.max(0, y - dy))
      for (let x = 0; x < S; x++) pixels[k * PX + y * S + x] = src[sy * S + Math.min(S - 1, Math.max(0, x - dx))]
    }
  }
  return { pixels, labels, n, head }
}

/** warmup then cosine decay to zero */
const lrAt = (base: number, step: number, total: number, warmup: number): number =>
  step < warmup ? base * (step + 1) / warmup : base * 0.5 * (1 + Math.cos(Math.PI * (step - warmup) / Math.max(1, total - warmup)))

async function trainSingle(log: Log, label: string, tr: Trainer, set: ImageSet, head: number, r: { epochs: number; batch: number; lr: number; warmup: number; shift: number }, seed: number): Promise<void> {
  const rng = new Rng(seed)
  const perEpoch = Math.floor(set.count / r.batch), total = perEpoch * r.epochs
  let step = 0, t0 = performance.now()
  for (let e = 0; e < r.epochs; e++) {
    const order = rng.permutation(set.count)
    let sum = 0
    for (let b = 0; b < perEpoch; b++, step++) {
      tr.setLearningRate(lrAt(r.lr, step, total, r.warmup))
      sum += tr.step([gather(set, order, b * r.batch, (b + 1) * r.batch, head, { rng, shift: r.shift })], MINI8_SIDE)
    }
    log(`  ${label} epoch ${e + 1}/${r.epochs}: loss ${(sum / perEpoch).toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`)
  }
}

function toSource(sd: Map<string, MemTensor>, label: string): MemorySource { return new MemorySource(sd, label) }

async function accuracyWith(model: ClipVision, set: ImageSet, head: CosineHead): Promise<number> {
  const f = await embedSet(model, set, MINI8_SIDE)
  return scoreWithHead(f, set.labels, head).correct / set.count
}

/** base + λ·Σ(expert − base), in memory */
export function taskArithmetic(base: Map<string, MemTensor>, experts: Map<string, MemTensor>[], lambda: number): Map<string, MemTensor> {
  const out = new Map<string, MemTensor>()
  for (const [name, b] of base) {
    const d = new Float32Array(b.data)
    for (const e of experts) { const x = e.get(name)!.data; for (let i = 0; i < d.length; i++) d[i] += lambda * (x[i] - b.data[i]) }
    out.set(name, { shape: [...b.shape], data: d })
  }
  return out
}

export interface BuildOptions { root: string; log?: Log; seed?: number }

export async function buildMini8(o: BuildOptions): Promise<void> {
  const log = o.log ?? ((l: string) => console.log(l))
  const R = MINI8_RECIPE, seed = o.seed ?? R.seed, cfg = MINI8_CONFIG
  await getModelTf({ prefer: 'wasm' })
  log(`TF.js backend: ${tf.getBackend()}`)
  const T0 = performance.now()
  const secs = () => ((performance.now() - T0) / 1000).toFixed(0) + ' s'

  // 1. data
  const data: PreparedData = prepareMini8(seed)
  await rm(join(o.root, 'data'), { recursive: true, force: true })
  await writeData(join(o.root, 'data'), data, seed)
  log(`data written (${data.pretrainNote}) [${secs()}]`)

  // 2. pretraining: 20-way supervised over upright digits + garments with a linear head
  const pre = new Trainer({ cfg, init: initClipParams(cfg, seed), lr: R.pretrain.lr, linearHeadClasses: data.pretrain.classes.length, seed })
  await trainSingle(log, 'pretrain', pre, data.pretrain, -1, R.pretrain, seed + 11)
  const base = pre.snapshot()
  pre.dispose()
  await mkdir(join(o.root, 'models'), { recursive: true })
  await writeClipFolder(join(o.root, 'models', 'pretrained'), cfg, base, { mini8: 'pretrained', objective: '20-way supervised (10 digits + 10 garments), untransformed images no task uses' })
  log(`pretrained written [${secs()}]`)

  // 3. heads from the pretrained model: class means of normalised features on each train split
  const baseModel = await ClipVision.load(cfg, toSource(base, 'pretrained'))
  const heads: CosineHead[] = []
  await mkdir(join(o.root, 'heads'), { recursive: true })
  for (const t of data.tasks) {
    const f = await embedSet(baseModel, t.splits.train, MINI8_SIDE)
    const h0 = classMeanHead(f, t.splits.train.labels, f.length / t.splits.train.count, t.def.classes.length)
    const h = { ...h0, logitScale: calibrateLogitScale(f, t.splits.train.labels, h0) }
    heads.push(h)
    await writeHead(join(o.root, 'heads', `${t.def.name}.safetensors`), t.def.name, t.def.classes, h)
    log(`  head ${t.def.name}: logit scale ${h.logitScale}, pretrained val accuracy ${(100 * (await accuracyWith(baseModel, t.splits.val, h))).toFixed(1)} %`)
  }
  baseModel.dispose()

  // 4. experts: encoder fine-tuned from the base, the task's head frozen
  const experts: Map<string, MemTensor>[] = []
  for (const [i, t] of data.tasks.entries()) {
    const tr = new Trainer({ cfg, init: base, lr: R.expert.lr, heads: [heads[i]] })
    await trainSingle(log, `expert ${t.def.name}`, tr, t.splits.train, 0, R.expert, seed + 100 + i)
    const sd = tr.snapshot()
    tr.dispose()
    experts.push(sd)
    const m = await ClipVision.load(cfg, toSource(sd, t.def.name))
    log(`  expert ${t.def.name}: val accuracy ${(100 * (await accuracyWith(m, t.splits.val, heads[i]))).toFixed(1)} % [${secs()}]`)
    m.dispose()
    await writeClipFolder(join(o.root, 'models', t.def.name), cfg, sd, { mini8: `expert:${t.def.name}`, objective: `fine-tuned on ${t.def.name} with its head frozen` })
  }

  // 5. multi-task model: every step takes one batch from each task, each with its own head
  {
    const tr = new Trainer({ cfg, init: base, lr: R.multitask.lr, heads })
    const rng = new Rng(seed + 200)
    const r = R.multitask, perEpoch = Math.floor(1000 / r.batchPerTask), total = perEpoch * r.epochs
    let step = 0
    const t1 = performance.now()
    for (let e = 0; e < r.epochs; e++) {
      const orders = data.tasks.map((t) => rng.permutation(t.splits.train.count))
      let sum = 0
      for (let b = 0; b < perEpoch; b++, step++) {
        tr.setLearningRate(lrAt(r.lr, step, total, r.warmup))
        sum += tr.step(data.tasks.map((t, i) => gather(t.splits.train, orders[i], b * r.batchPerTask, (b + 1) * r.batchPerTask, i, { rng, shift: r.shift })), MINI8_SIDE)
      }
      log(`  multitask epoch ${e + 1}/${r.epochs}: loss ${(sum / perEpoch).toFixed(4)} (${((performance.now() - t1) / 1000).toFixed(0)} s)`)
    }
    const sd = tr.snapshot()
    tr.dispose()
    await writeClipFolder(join(o.root, 'models', 'multitask'), cfg, sd, { mini8: 'multitask', objective: 'all eight tasks jointly, each with its frozen head' })
  }
  log(`training done [${secs()}]`)

  // 6. reference rows and the Task Arithmetic check
  const bench = await loadMini8(o.root)
  const ind = await computeReferenceRows(bench, { log: () => undefined })
  const indAcc = ind.rows.find((r) => r.kind === 'expert')!.accuracy
  const ta: NonNullable<import('../benchmark/mini8').ReferenceFile['taskArithmetic']> = []
  for (const lambda of R.taLambdas) {
    const merged = toSource(taskArithmetic(base, experts, lambda), `task-arithmetic λ=${lambda}`)
    const r = await evaluate(merged, { bench, individual: indAcc })
    const accuracy = Object.fromEntries(bench.tasks.map((t) => [t, r.perTask[t].accuracy]))
    ta.push({ lambda, accuracy, average: r.average, normalized: normalizedAccuracy(accuracy, indAcc) ?? 0 })
    log(`  TA λ=${lambda}: average ${(100 * r.average).toFixed(2)} %`)
  }
  await writeFileAtomic(join(o.root, REFERENCE_FILE), JSON.stringify({ ...ind, taskArithmetic: ta }, null, 2) + '\n')
  for (const row of ind.rows) log(`${row.name}: average ${(100 * row.average).toFixed(2)} %`)
  log(`build:mini8 done [${secs()}]`)
}
