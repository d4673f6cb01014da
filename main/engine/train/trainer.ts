// Gradient training of a CLIP vision tower with Adam, used to build the mini-8 checkpoints.
// Losses: cross-entropy over a frozen cosine head (logit_scale · normalise(pooled) · headᵀ, the
// CLIP zero-shot form) or over a trainable linear head (pretraining). Deterministic: fixed
// initial weights, caller-chosen batch order, single-threaded wasm kernels.
import type * as tfjs from '@tensorflow/tfjs'
import type { MemTensor } from '../tensors/source'
import { tf } from '../model/tf'
import { type ClipVisionConfig } from '../model/config'
import { clipForward, prepareClip, type ClipParams } from '../model/clip-vision'
import { matmul } from '../model/ops'
import { MINI8_NORM } from '../benchmark/tasks'

/** A frozen classifier: rows are unit class directions [K, D]; logits = scale · cos. */
export interface CosineHead { weight: Float32Array; classes: number; dim: number; logitScale: number }

export interface Batch { pixels: Uint8Array; labels: Uint8Array; n: number; head: number }

/** uint8 greyscale 28×28 (or any side) → normalised NHWC float tensor */
export function imagesToTensor(pixels: Uint8Array, n: number, side: number, channels = 1): tfjs.Tensor4D {
  const f = new Float32Array(pixels.length)
  const a = 1 / (255 * MINI8_NORM.std), b = -MINI8_NORM.mean / MINI8_NORM.std
  for (let i = 0; i < f.length; i++) f[i] = pixels[i] * a + b
  return tf.tensor4d(f, [n, side, side, channels])
}

export interface TrainerOptions {
  cfg: ClipVisionConfig
  init: Map<string, MemTensor>
  lr: number
  /** frozen cosine heads, indexed by Batch.head */
  heads?: CosineHead[]
  /** a trainable linear head (with bias) on the pooled feature, for pretraining */
  linearHeadClasses?: number
  seed?: number
}

export class Trainer {
  readonly cfg: ClipVisionConfig
  private readonly vars: Record<string, tfjs.Variable> = {}
  private readonly heads: Array<{ t: tfjs.Tensor2D; scale: number; k: number }>
  private readonly lin?: { w: tfjs.Variable; b: tfjs.Variable; k: number }
  private readonly opt: tfjs.Optimizer

  constructor(o: TrainerOptions) {
    this.cfg = o.cfg
    for (const [name, t] of o.init) this.vars[name] = tf.variable(tf.tensor(t.data, t.shape), true, name)
    this.heads = (o.heads ?? []).map((h) => ({ t: tf.transpose(tf.tensor2d(h.weight, [h.classes, h.dim])) as tfjs.Tensor2D, scale: h.logitScale, k: h.classes }))
    if (o.linearHeadClasses) {
      const D = o.cfg.projectionDim ?? o.cfg.hiddenSize, k = o.linearHeadClasses
      const w = new Float32Array(D * k)
      // small deterministic init (a fixed pseudo-random pattern, no global RNG)
      let s = (o.seed ?? 1) >>> 0
      for (let i = 0; i < w.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; w[i] = ((s / 4294967296) - 0.5) * 0.02 }
      this.lin = { w: tf.variable(tf.tensor2d(w, [D, k]), true, 'linear_head.w'), b: tf.variable(tf.zeros([k]), true, 'linear_head.b'), k }
    }
    this.opt = tf.train.adam(o.lr)
  }

  setLearningRate(lr: number): void { (this.opt as unknown as { learningRate: number }).learningRate = lr }

  private batchLoss(p: ClipParams, b: Batch, side: number): tfjs.Scalar {
    const x = imagesToTensor(b.pixels, b.n, side, this.cfg.numChannels)
    const w = prepareClip(this.cfg, p)
    const f = clipForward(this.cfg, w, x).embeds
    let logits: tfjs.Tensor2D, k: number
    if (b.head < 0) {
      if (!this.lin) throw new Error('batch asks for the linear head but the trainer has none')
      logits = tf.add(matmul(f, this.lin.w as unknown as tfjs.Tensor2D), this.lin.b) as tfjs.Tensor2D
      k = this.lin.k
    } else {
      const h = this.heads[b.head]
      const nf = tf.div(f, tf.sqrt(tf.add(tf.sum(tf.square(f), -1, true), 1e-12)))
      logits = tf.mul(matmul(nf as tfjs.Tensor2D, h.t), h.scale) as tfjs.Tensor2D
      k = h.k
    }
    const y = tf.oneHot(tf.tensor1d(Array.from(b.labels), 'int32'), k)
    return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits)), -1))) as tfjs.Scalar
  }

  /** One Adam step on the mean of the batches' losses; returns that loss. */
  step(batches: Batch[], side: number): number {
    const varList = [...Object.values(this.vars), ...(this.lin ? [this.lin.w, this.lin.b] : [])]
    const cost = this.opt.minimize(() => {
      let total: tfjs.Scalar | null = null
      for (const b of batches) {
        const l = this.batchLoss(this.vars, b, side)
        total = total ? (tf.add(total, l) as tfjs.Scalar) : l
      }
      return tf.div(total!, batches.length) as tfjs.Scalar
    }, true, varList)
    const v = cost!.dataSync()[0]
    cost!.dispose()
    return v
  }

  /** Current encoder weights as host arrays (HF names). */
  snapshot(): Map<string, MemTensor> {
    const out = new Map<string, MemTensor>()
    for (const [name, v] of Object.entries(this.vars)) out.set(name, { shape: [...v.shape], data: v.dataSync() as Float32Array })
    return out
  }

  dispose(): void {
    for (const v of Object.values(this.vars)) v.dispose()
    for (const h of this.heads) h.t.dispose()
    if (this.lin) { this.lin.w.dispose(); this.lin.b.dispose() }
    this.opt.dispose()
  }
}
