// The shipped mini-8 data and heads: splits disjoint (by image hash), sizes and labels as the
// manifest says, heads loadable and matching the tasks, pretraining disjoint from every test set,
// and the committed files identical to a fresh build from the sources (when they are installed).
import { describe, it, expect } from 'vitest'
import { existsSync } from 'node:fs'
import { loadMini8 } from '../../../main/engine/benchmark/mini8'
import { hashPixels, prepareMini8, SPLITS, SPLIT_SIZES } from '../../../main/engine/benchmark/prepare'
import { FASHION_DIR, UCI_DIGITS, readFashionIdx } from '../../../main/engine/benchmark/sources'
import { TASKS, TASK_NAMES } from '../../../main/engine/benchmark/tasks'
import { rotate90, rotate180, invert, resizeWindow, pad } from '../../../main/engine/benchmark/transforms'

const PX = 784
const hashes = (s: { count: number; pixels: Uint8Array }) => Array.from({ length: s.count }, (_, i) => hashPixels(s.pixels.subarray(i * PX, (i + 1) * PX)))

describe('mini-8 data', () => {
  it('has eight tasks with the manifest sizes and in-range labels', async () => {
    const b = await loadMini8()
    expect(b.tasks).toEqual(TASK_NAMES)
    for (const t of b.tasks) for (const s of SPLITS) {
      const d = b.data(t, s)
      expect(d.count).toBe(SPLIT_SIZES[s])
      const k = b.manifest.tasks.find((x) => x.name === t)!.classes.length
      expect(Math.max(...d.labels)).toBeLessThan(k)
      expect(new Set(d.labels).size).toBe(k) // every class occurs
    }
  })

  it('never shares an image between a test split and any train/val split', async () => {
    const b = await loadMini8()
    const fit = new Set<string>()
    for (const t of b.tasks) for (const s of ['train', 'val'] as const) for (const h of hashes(b.data(t, s))) fit.add(h)
    for (const t of b.tasks) {
      const test = hashes(b.data(t, 'test'))
      expect(test.filter((h) => fit.has(h))).toEqual([])
    }
    // and train vs val of the same task
    for (const t of b.tasks) {
      const tr = new Set(hashes(b.data(t, 'train')))
      expect(hashes(b.data(t, 'val')).filter((h) => tr.has(h)).length).toBe(0)
    }
  })

  it('loads every head with one row per class', async () => {
    const b = await loadMini8()
    for (const t of b.tasks) {
      const h = await b.head(t)
      expect(h.classes).toBe(b.manifest.tasks.find((x) => x.name === t)!.classes.length)
      expect(h.dim).toBe(b.config.hiddenSize)
      for (let c = 0; c < h.classes; c++) {
        let s = 0
        for (let d = 0; d < h.dim; d++) s += h.weight[c * h.dim + d] ** 2
        expect(s).toBeCloseTo(1, 5)
      }
    }
  })

  const haveSources = existsSync(FASHION_DIR) && existsSync(UCI_DIGITS)
  it.skipIf(!haveSources)('rebuilds byte-identical splits from the sources, with pretraining disjoint from every test set', async () => {
    const b = await loadMini8()
    const p = prepareMini8(b.manifest.seed)
    const test = new Set<string>()
    for (const [i, t] of p.tasks.entries()) {
      for (const s of SPLITS) {
        const d = b.data(t.def.name, s)
        expect(Buffer.from(t.splits[s].pixels).equals(Buffer.from(d.pixels))).toBe(true)
        expect(Buffer.from(t.splits[s].labels).equals(Buffer.from(d.labels))).toBe(true)
      }
      expect(TASKS[i].name).toBe(t.def.name)
      // source indices of different splits never overlap (same source file)
      const tr = new Set([...t.sourceIndex.train, ...t.sourceIndex.val])
      if (t.def.source !== 'fashion') expect(t.sourceIndex.test.filter((x) => tr.has(x))).toEqual([])
      // untransformed source pixels of the test images
      const src = t.def.source === 'fashion' ? readFashionIdx('t10k') : null
      if (src) for (const x of t.sourceIndex.test) test.add(hashPixels(src.pixels.subarray(x * PX, (x + 1) * PX)))
    }
    for (const t of p.tasks) if (t.def.source === 'mnist') {
      // MNIST tasks share one pool: pretraining MNIST images are the pool's leftovers
      for (const h of hashes(t.splits.test)) test.add(h)
    }
    const pre = hashes(p.pretrain)
    expect(pre.filter((h) => test.has(h))).toEqual([])
    const mnistTestIdx = new Set(p.tasks.filter((t) => t.def.source === 'mnist').flatMap((t) => t.sourceIndex.test))
    expect(mnistTestIdx.size).toBe(4 * SPLIT_SIZES.test)
  })
})

describe('pixel transformations', () => {
  const img = Uint8Array.from({ length: 9 }, (_, i) => i) // 3×3: 0 1 2 / 3 4 5 / 6 7 8
  it('rotates, inverts, resizes and pads as documented', () => {
    expect(Array.from(rotate90(img, 3))).toEqual([2, 5, 8, 1, 4, 7, 0, 3, 6])
    expect(Array.from(rotate180(img, 3))).toEqual([8, 7, 6, 5, 4, 3, 2, 1, 0])
    expect(Array.from(invert(Uint8Array.from([0, 255, 10])))).toEqual([255, 0, 245])
    expect(Array.from(resizeWindow(img, 3, 0, 0, 3, 3))).toEqual(Array.from(img))
    expect(Array.from(resizeWindow(Uint8Array.from([0, 100, 200, 100]), 2, 0, 0, 2, 1))).toEqual([100])
    expect(Array.from(pad(Uint8Array.from([9]), 1, 3, 1, 2))).toEqual([0, 0, 0, 0, 0, 9, 0, 0, 0])
  })
})

describe('mini-8 reference rows', () => {
  it('stores pretrained, Individual and multitask rows consistent with the per-expert rows', async () => {
    const { referenceRows } = await import('../../../main/engine/benchmark/reference')
    const b = await loadMini8()
    const rows = await referenceRows(b)
    expect(rows.map((r) => r.kind)).toEqual(['pretrained', 'expert', 'multitask'])
    const ind = rows[1]
    const experts = b.reference()!.experts
    expect(experts.length).toBe(8)
    // Individual = the diagonal of the expert × task table
    b.tasks.forEach((t, i) => expect(experts[i].accuracy[t]).toBe(ind.accuracy[t]))
    for (const r of rows) expect(r.average).toBeCloseTo(b.tasks.reduce((s, t) => s + r.accuracy[t], 0) / 8, 12)
    expect(ind.normalized).toBe(1)
  })

  it('re-evaluating the pretrained model reproduces its stored accuracy', async () => {
    const { evaluate } = await import('../../../main/engine/benchmark/evaluate')
    const { openModel } = await import('../../../main/engine/checkpoints/open')
    const b = await loadMini8()
    const m = await openModel(b.pretrainedDir)
    try {
      const r = await evaluate(m, { bench: b, tasks: [b.tasks[0], b.tasks[5]] })
      const stored = (await import('../../../main/engine/benchmark/reference')).referenceRows
      const pre = (await stored(b))[0]
      expect(r.perTask[b.tasks[0]].accuracy).toBe(pre.accuracy[b.tasks[0]])
      expect(r.perTask[b.tasks[5]].accuracy).toBe(pre.accuracy[b.tasks[5]])
    } finally { await m.close() }
  })
})
