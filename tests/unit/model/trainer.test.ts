// Training is deterministic for a seed and actually lowers the loss (frozen cosine head and the
// pretraining linear head), on a tiny tower so the test takes well under a second.
import { describe, it, expect, beforeAll } from 'vitest'
import { getModelTf } from '../../../main/engine/model/tf'
import type { ClipVisionConfig } from '../../../main/engine/model/config'
import { initClipParams } from '../../../main/engine/train/init'
import { Trainer, type Batch } from '../../../main/engine/train/trainer'
import { Rng } from '../../../main/engine/benchmark/rng'
import { calibrateLogitScale, classMeanHead } from '../../../main/engine/benchmark/heads'

const cfg: ClipVisionConfig = { imageSize: 8, patchSize: 4, numChannels: 1, hiddenSize: 12, intermediateSize: 20, numHeads: 2, numLayers: 2, layerNormEps: 1e-5, hiddenAct: 'quick_gelu' }

function batch(seed: number, head: number): Batch {
  const rng = new Rng(seed), n = 16
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 2)
  // class 0: bright top half, class 1: bright bottom half, plus noise
  const pixels = Uint8Array.from({ length: n * 64 }, (_, j) => {
    const i = Math.floor(j / 64), row = Math.floor((j % 64) / 8)
    return Math.min(255, ((row < 4) === (labels[i] === 0) ? 200 : 30) + rng.int(40))
  })
  return { pixels, labels, n, head }
}

describe('Trainer', () => {
  beforeAll(async () => { await getModelTf() })

  it('gives identical weights for identical seeds and lowers a frozen-head loss', () => {
    const head = { weight: Float32Array.from({ length: 24 }, (_, i) => (i === 0 || i === 13 ? 1 : 0)), classes: 2, dim: 12, logitScale: 10 }
    const run = () => {
      const tr = new Trainer({ cfg, init: initClipParams(cfg, 3), lr: 3e-3, heads: [head] })
      const losses = Array.from({ length: 12 }, (_, s) => tr.step([batch(s % 3, 0)], 8))
      const w = tr.snapshot()
      tr.dispose()
      return { losses, w }
    }
    const a = run(), b = run()
    expect(a.losses).toEqual(b.losses)
    for (const [name, t] of a.w) expect(Buffer.from(t.data.buffer).equals(Buffer.from(b.w.get(name)!.data.buffer))).toBe(true)
    expect(a.losses.at(-1)!).toBeLessThan(a.losses[0] * 0.8)
  })

  it('trains the pretraining linear head', () => {
    const tr = new Trainer({ cfg, init: initClipParams(cfg, 4), lr: 1e-2, linearHeadClasses: 2, seed: 1 })
    const losses = Array.from({ length: 20 }, (_, s) => tr.step([batch(s % 3, -1)], 8))
    tr.dispose()
    expect(losses.at(-1)!).toBeLessThan(losses[0] * 0.8)
  })

  it('builds unit class-mean heads and calibrates their logit scale', () => {
    // 2-D features: class 0 around (1, 0.2), class 1 around (0.2, 1)
    const feats = Float32Array.from([1, 0.2, 2, 0.4, 0.2, 1, 0.1, 0.5])
    const labels = Uint8Array.from([0, 0, 1, 1])
    const h = classMeanHead(feats, labels, 2, 2)
    const r = Math.hypot(1, 0.2)
    expect(Array.from(h.weight).map((x) => Number(x.toFixed(5)))).toEqual([1 / r, 0.2 / r, 0.2 / r, 1 / r].map((x) => Number(x.toFixed(5))))
    // separable data: the cross-entropy falls with the scale until it rounds to zero (scale ≈ 55 here)
    expect(calibrateLogitScale(feats, labels, h, 5, 100)).toBeGreaterThan(40)
    // one mislabelled point makes a finite optimum
    expect(calibrateLogitScale(feats, Uint8Array.from([0, 1, 1, 1]), h, 0.1, 100)).toBeLessThan(100)
  })
})
