// Batched image → embedding and embedding → head logits, shared by the evaluator, head building
// and training diagnostics.
import type { ClipVision } from '../model/clip-vision'
import { tf } from '../model/tf'
import { imagesToTensor, type CosineHead } from '../train/trainer'
import type { ImageSet } from './prepare'

/** Embeddings [n, D] of every image in the set, `batch` images at a time. */
export async function embedSet(model: ClipVision, set: ImageSet, side: number, batch = 250, onBatch?: (done: number) => Promise<void> | void): Promise<Float32Array> {
  const px = side * side * model.cfg.numChannels
  let out: Float32Array | null = null
  for (let o = 0; o < set.count; o += batch) {
    const n = Math.min(batch, set.count - o)
    const f = tf.tidy(() => model.embed(imagesToTensor(set.pixels.subarray(o * px, (o + n) * px), n, side, model.cfg.numChannels)))
    const data = (await f.data()) as Float32Array
    const D = f.shape[1]
    f.dispose()
    if (!out) out = new Float32Array(set.count * D)
    out.set(data, o * D)
    if (onBatch) await onBatch(o + n)
  }
  return out ?? new Float32Array(0)
}

export interface HeadScores { correct: number; lossSum: number; predictions: Int32Array }

/** Top-1 hits and summed cross-entropy of a cosine head over embeddings (float64 on the host). */
export function scoreWithHead(feats: Float32Array, labels: Uint8Array, head: CosineHead): HeadScores {
  const n = labels.length, D = head.dim, K = head.classes
  if (feats.length !== n * D) throw new Error(`scoreWithHead: ${feats.length} feature values for ${n} images of dim ${D}`)
  let correct = 0, lossSum = 0
  const predictions = new Int32Array(n)
  const z = new Float64Array(K)
  for (let i = 0; i < n; i++) {
    let s = 0
    for (let d = 0; d < D; d++) s += feats[i * D + d] ** 2
    const inv = 1 / Math.sqrt(s + 1e-12)
    let best = 0, max = -Infinity
    for (let k = 0; k < K; k++) {
      let dot = 0
      for (let d = 0; d < D; d++) dot += feats[i * D + d] * head.weight[k * D + d]
      z[k] = head.logitScale * dot * inv
      if (z[k] > max) { max = z[k]; best = k }
    }
    let se = 0
    for (let k = 0; k < K; k++) se += Math.exp(z[k] - max)
    lossSum += max + Math.log(se) - z[labels[i]]
    predictions[i] = best
    if (best === labels[i]) correct++
  }
  return { correct, lossSum, predictions }
}
