// Activation statistics for the data-dependent merge methods (methods.md §0.4): per linear unit
// the input Gram XᵀX, per LayerNorm the per-feature energy Σ x̂² of its normalised input. Images
// go through the model in batches; each batch's activations are folded into float64 accumulators
// on the host and dropped, so no more than one batch of tokens is ever held.
//
// q, k and v read the same tensor (the output of layer_norm1): the forward hands that tensor to
// the hook three times and the Gram is computed once and shared by the three units.
import type * as tfjs from '@tensorflow/tfjs'
import { AmalgamError } from '#common/errors'
import { matmul } from '../linalg/index'
import { throwIfCancelled, tick, type TaskCtx } from '../util/task'
import type { ClipVision } from './clip-vision'
import { tf } from './tf'

/** Σ over captured rows of xᵀx (in × in, row-major, float64), plus the number of rows. */
export interface GramStat { dim: number; rows: number; gram: Float64Array }
/** Σ over captured rows of x̂[d]² for a LayerNorm's normalised input x̂ = (x − μ)/√(σ² + ε). */
export interface NormStat { dim: number; rows: number; sq: Float64Array }

export interface ActivationStats {
  images: number
  /** linear unit path (e.g. vision_model.encoder.layers.0.self_attn.q_proj) → Gram of its input */
  grams: Map<string, GramStat>
  /** LayerNorm path (…layer_norm1, pre_layrnorm, post_layernorm) → normalised-input energies */
  norms: Map<string, NormStat>
}

/** A batch of model-ready NHWC images. */
export interface ImagesNHWC { count: number; side: number; channels: number; pixels: Float32Array }

export interface CaptureOptions {
  grams?: boolean
  norms?: boolean
  /** which linear units to capture (default: all) */
  units?: (unit: string) => boolean
  batchSize?: number
  ctx?: TaskCtx
  what?: string
}

/** Adds the Gram of rows X [n, d] (float32 from the forward) into `into` in float64. */
export function addGram(into: Float64Array, x: Float32Array, n: number, d: number): void {
  const x64 = new Float64Array(x.length)
  for (let i = 0; i < x.length; i++) x64[i] = x[i]
  const g = matmul({ rows: n, cols: d, data: x64 }, { rows: n, cols: d, data: x64 }, { transA: true }).data
  for (let i = 0; i < into.length; i++) into[i] += g[i]
}

/** Adds Σ_rows x̂[d]² of rows X [n, d] into `into`, normalising each row in float64 with `eps`. */
export function addNormEnergy(into: Float64Array, x: Float32Array, n: number, d: number, eps: number): void {
  for (let r = 0; r < n; r++) {
    const o = r * d
    let mu = 0
    for (let j = 0; j < d; j++) mu += x[o + j]
    mu /= d
    let v = 0
    for (let j = 0; j < d; j++) v += (x[o + j] - mu) ** 2
    const inv2 = 1 / (v / d + eps)
    for (let j = 0; j < d; j++) into[j] += (x[o + j] - mu) ** 2 * inv2
  }
}

/**
 * A linear-input hook for one forward pass that adds each unit's input Gram into `grams` (float64).
 * Units handed the very same tensor in a row (q, k, v) share one Gram object, computed once.
 * Make a new collector per forward pass.
 */
export function gramCollector(grams: Map<string, GramStat>, pick: (unit: string) => boolean = () => true): (unit: string, t: tfjs.Tensor2D) => void {
  let lastX: tfjs.Tensor | null = null
  let lastStat: GramStat | null = null
  return (unit, t) => {
    if (!pick(unit)) return
    const [rows, d] = t.shape
    if (t === lastX && lastStat && lastStat.dim === d) {
      const shared = grams.get(unit)
      if (!shared) grams.set(unit, lastStat)
      else if (shared !== lastStat) throw new AmalgamError('INTERNAL', `activation capture: ${unit} changed its Gram group between batches`)
      return
    }
    let s = grams.get(unit)
    if (!s) { s = { dim: d, rows: 0, gram: new Float64Array(d * d) }; grams.set(unit, s) }
    addGram(s.gram, t.dataSync() as Float32Array, rows, d)
    s.rows += rows
    lastX = t; lastStat = s
  }
}

/** Runs `model` over `images` and returns the requested statistics (sums over every token). */
export async function captureActivations(model: ClipVision, images: ImagesNHWC, opts: CaptureOptions = {}): Promise<ActivationStats> {
  const cfg = model.cfg
  if (images.side !== cfg.imageSize || images.channels !== cfg.numChannels) {
    throw new AmalgamError('BAD_REQUEST', `activation capture: images are ${images.side}×${images.side}×${images.channels} but the model expects ${cfg.imageSize}×${cfg.imageSize}×${cfg.numChannels}`)
  }
  const wantG = opts.grams ?? true, wantN = opts.norms ?? false
  const pick = opts.units ?? (() => true)
  const B = opts.batchSize ?? 16
  const px = images.side * images.side * images.channels
  const stats: ActivationStats = { images: images.count, grams: new Map(), norms: new Map() }
  const what = opts.what ?? 'activation capture'
  for (let o = 0; o < images.count; o += B) {
    throwIfCancelled(opts.ctx, what)
    const n = Math.min(B, images.count - o)
    const gramHook = wantG ? gramCollector(stats.grams, pick) : undefined
    tf.tidy(() => {
      const x = tf.tensor4d(images.pixels.subarray(o * px, (o + n) * px), [n, images.side, images.side, images.channels])
      model.forward(x, {
        onLinearInput: gramHook,
        onNormInput: wantN ? (unit, t) => {
          const [rows, d] = t.shape
          let s = stats.norms.get(unit)
          if (!s) { s = { dim: d, rows: 0, sq: new Float64Array(d) }; stats.norms.set(unit, s) }
          addNormEnergy(s.sq, t.dataSync() as Float32Array, rows, d, cfg.layerNormEps)
          s.rows += rows
        } : undefined,
      })
    })
    opts.ctx?.progress?.(what, Math.min(1, (o + n) / images.count))
    await tick()
  }
  return stats
}

/** Re-exported for tests that build Grams by hand. */
export const gramOf = (x: Float32Array, n: number, d: number): Float64Array => {
  const g = new Float64Array(d * d)
  addGram(g, x, n, d)
  return g
}
