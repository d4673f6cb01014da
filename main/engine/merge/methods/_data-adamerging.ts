// AdaMerging's engine (methods.md §24): merged parameters θ_l = θ0_l + Σ_i λ_{i,l} τ_{i,l} built
// as TF.js ops so the entropy of the merged model's predictions on unlabeled test batches can be
// differentiated with respect to the coefficients. By the chain rule the gradient is
// ∂L/∂λ_{i,l} = ⟨∂L/∂θ_l, τ_{i,l}⟩; autodiff computes exactly that through one [1, N]·[N, numel]
// matmul per tensor (ops.matmul: transpose-free gradient, fast on wasm).
import type * as tfjs from '@tensorflow/tfjs'
import { AmalgamError } from '#common/errors'
import { Rng } from '../../benchmark/rng'
import { clipForward, prepareClip, type ClipParams } from '../../model/clip-vision'
import { clipParamShapes, type ClipVisionConfig } from '../../model/config'
import { matmul } from '../../model/ops'
import { getModelTf, tf } from '../../model/tf'
import type { ImageBatch, MergeData } from '../data'
import { headLogits, headTensor } from './_data-model'

export type EntropyMode = 'fusion_bench' | 'exact'

/** θ0 and the (possibly pre-processed) task vectors of every tower parameter, resident as tensors. */
export class AdaProblem {
  /** tower parameter names in model order (the columns of the layer-wise Λ) */
  readonly names: string[]
  readonly shapes: number[][]
  private readonly base: tfjs.Tensor[]
  /** per tensor: [N, numel] stacked task vectors */
  private readonly taus: tfjs.Tensor2D[]
  private readonly heads: Array<{ w: tfjs.Tensor2D; scale: number }> = []

  constructor(readonly cfg: ClipVisionConfig, readonly N: number, base: Map<string, Float32Array>, taus: Map<string, Float32Array[]>) {
    const shapes = clipParamShapes(cfg)
    this.names = [...shapes.keys()]
    this.shapes = this.names.map((n) => shapes.get(n)!)
    this.base = this.names.map((n, i) => {
      const b = base.get(n)
      if (!b) throw new AmalgamError('POOL_MISMATCH', `AdaMerging: the base has no tensor ${n}`)
      return tf.tensor(b, this.shapes[i], 'float32')
    })
    this.taus = this.names.map((n) => {
      const v = taus.get(n)!
      const numel = v[0].length
      const stacked = new Float32Array(N * numel)
      v.forEach((t, i) => stacked.set(t, i * numel))
      return tf.tensor2d(stacked, [N, numel])
    })
  }

  get L(): number { return this.names.length }

  static async load(data: MergeData, base: Map<string, Float32Array>, taus: Map<string, Float32Array[]>, N: number): Promise<AdaProblem> {
    await getModelTf()
    const p = new AdaProblem(data.config, N, base, taus)
    for (let t = 0; t < N; t++) {
      const h = await data.head(t)
      p.heads.push({ w: headTensor(h), scale: h.logitScale })
    }
    return p
  }

  /** Merged parameters for coefficients lam [N, C] (C = 1: task-wise; C = L: layer-wise). */
  params(lam: tfjs.Tensor2D, clamp: boolean): ClipParams {
    const C = lam.shape[1]
    const l = clamp ? (tf.clipByValue(lam, 0, 1) as tfjs.Tensor2D) : lam
    const lt = tf.transpose(l) as tfjs.Tensor2D // [C, N]
    const out: ClipParams = {}
    this.names.forEach((n, i) => {
      const row = tf.slice(lt, [C === 1 ? 0 : i, 0], [1, this.N]) as tfjs.Tensor2D
      out[n] = tf.add(this.base[i], tf.reshape(matmul(row, this.taus[i]), this.shapes[i]))
    })
    return out
  }

  /** Mean entropy of the merged model's predictions for task t on a batch. */
  entropy(params: ClipParams, task: number, images: tfjs.Tensor4D, mode: EntropyMode): tfjs.Scalar {
    const w = prepareClip(this.cfg, params)
    const { embeds } = clipForward(this.cfg, w, images)
    const h = this.heads[task]
    return batchEntropy(headLogits(embeds, h.w, h.scale), mode)
  }

  /**
   * Σ over the given batches of the batch-mean entropy, and its gradient with respect to lam
   * (row-major [N, C], float32). One backward pass per batch, gradients accumulated (FusionBench).
   */
  lossAndGrad(lam: Float32Array, C: number, batches: Array<{ task: number; images: ImageBatch }>, clamp: boolean, mode: EntropyMode): { loss: number; grad: Float32Array } {
    // One merge and one forward over all batches stacked: the sum of per-batch mean entropies and
    // its gradient equal FusionBench's per-task backward passes with accumulated gradients.
    return tf.tidy(() => {
      const lamT = tf.tensor2d(lam, [this.N, C])
      const x = stackBatches(batches.map((b) => b.images))
      const r = tf.valueAndGrad((l: tfjs.Tensor) => this.entropySum(this.params(l as tfjs.Tensor2D, clamp), batches, x, mode))(lamT)
      return { loss: r.value.dataSync()[0], grad: Float32Array.from(r.grad.dataSync() as Float32Array) }
    })
  }

  /** Σ over batches of the batch-mean entropy, the merged model run once over the stacked images. */
  private entropySum(params: ClipParams, batches: Array<{ task: number; images: ImageBatch }>, x: tfjs.Tensor4D, mode: EntropyMode): tfjs.Scalar {
    const { embeds } = clipForward(this.cfg, prepareClip(this.cfg, params), x)
    let o = 0
    const parts: tfjs.Scalar[] = []
    for (const b of batches) {
      const e = tf.slice(embeds, [o, 0], [b.images.count, embeds.shape[1]]) as tfjs.Tensor2D
      o += b.images.count
      const h = this.heads[b.task]
      parts.push(batchEntropy(headLogits(e, h.w, h.scale), mode))
    }
    return tf.addN(parts) as tfjs.Scalar
  }

  /** The loss alone (finite-difference checks, monitoring). */
  loss(lam: Float32Array, C: number, batches: Array<{ task: number; images: ImageBatch }>, clamp: boolean, mode: EntropyMode): number {
    return tf.tidy(() => this.entropySum(this.params(tf.tensor2d(lam, [this.N, C]), clamp), batches, stackBatches(batches.map((b) => b.images)), mode).dataSync()[0])
  }

  /** ∂L/∂θ_l at fixed merged weights, for checking the chain-rule form (tests). */
  paramGrads(lam: Float32Array, C: number, batch: { task: number; images: ImageBatch }, clamp: boolean, mode: EntropyMode): Map<string, Float32Array> {
    const names = this.names
    const gs = tf.tidy(() => {
      const p = this.params(tf.tensor2d(lam, [this.N, C]), clamp)
      const x = tf.tensor4d(batch.images.pixels, [batch.images.count, batch.images.side, batch.images.side, batch.images.channels])
      return tf.grads((...ts: tfjs.Tensor[]) => {
        const q: ClipParams = {}
        names.forEach((n, i) => { q[n] = ts[i] })
        return this.entropy(q, batch.task, x, mode)
      })(names.map((n) => p[n]))
    })
    const out = new Map(names.map((n, i) => [n, gs[i].dataSync() as Float32Array]))
    for (const g of gs) g.dispose()
    return out
  }

  dispose(): void {
    for (const t of [...this.base, ...this.taus, ...this.heads.map((h) => h.w)]) t.dispose()
  }
}

function stackBatches(bs: ImageBatch[]): tfjs.Tensor4D {
  const n = bs.reduce((s, b) => s + b.count, 0)
  const px = new Float32Array(bs.reduce((s, b) => s + b.pixels.length, 0))
  let o = 0
  for (const b of bs) { px.set(b.pixels, o); o += b.pixels.length }
  return tf.tensor4d(px, [n, bs[0].side, bs[0].side, bs[0].channels])
}

/**
 * mean over the batch of H(softmax(z)) = −Σ p log p. FusionBench computes log(p + 1e-8); the
 * original code uses log_softmax (exact).
 */
export function batchEntropy(logits: tfjs.Tensor2D, mode: EntropyMode): tfjs.Scalar {
  const p = tf.softmax(logits)
  const logp = mode === 'exact' ? tf.logSoftmax(logits) : tf.log(tf.add(p, 1e-8))
  return tf.mean(tf.neg(tf.sum(tf.mul(p, logp), 1))) as tfjs.Scalar
}

/** A shuffled, endless loader over one task's unlabeled images (a fresh seeded permutation per epoch). */
export class EndlessLoader {
  private order: Int32Array
  private at = 0
  private epoch = 0
  constructor(private readonly set: ImageBatch, private readonly batch: number, private readonly seed: number) {
    this.order = new Rng(seed).permutation(set.count)
  }
  next(): ImageBatch {
    const px = this.set.side * this.set.side * this.set.channels
    const n = Math.min(this.batch, this.set.count)
    const out = new Float32Array(n * px)
    for (let k = 0; k < n; k++) {
      if (this.at >= this.order.length) { this.epoch++; this.order = new Rng(this.seed + 7919 * this.epoch).permutation(this.set.count); this.at = 0 }
      const i = this.order[this.at++]
      out.set(this.set.pixels.subarray(i * px, (i + 1) * px), k * px)
    }
    return { count: n, side: this.set.side, channels: this.set.channels, pixels: out }
  }
}
