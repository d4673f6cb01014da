// Frozen per-task classifier heads, the mini-8 analogue of CLIP's zero-shot text heads: for each
// class, the mean of the L2-normalised pretrained image features of that class's training images,
// L2-normalised again (as CLIP averages normalised template embeddings and renormalises).
// logits = logitScale · normalise(feature) · weightᵀ. No bias.
import { openSafetensors } from '../safetensors/reader'
import { writeSafetensors } from '../safetensors/writer'
import { AmalgamError } from '#common/errors'
import type { CosineHead } from '../train/trainer'

/** CLIP's exp(logit_scale); the ceiling of the calibrated scales */
export const HEAD_LOGIT_SCALE = 100

export function classMeanHead(feats: Float32Array, labels: Uint8Array, dim: number, classes: number, logitScale = HEAD_LOGIT_SCALE): CosineHead {
  const n = labels.length
  const w = new Float64Array(classes * dim)
  for (let i = 0; i < n; i++) {
    let s = 0
    for (let d = 0; d < dim; d++) s += feats[i * dim + d] ** 2
    const inv = 1 / Math.sqrt(s + 1e-12), o = labels[i] * dim
    for (let d = 0; d < dim; d++) w[o + d] += feats[i * dim + d] * inv
  }
  const weight = new Float32Array(classes * dim)
  for (let c = 0; c < classes; c++) {
    let s = 0
    for (let d = 0; d < dim; d++) s += w[c * dim + d] ** 2
    if (s === 0) throw new AmalgamError('BAD_REQUEST', `class-mean head: class ${c} has no training images`)
    const inv = 1 / Math.sqrt(s)
    for (let d = 0; d < dim; d++) weight[c * dim + d] = w[c * dim + d] * inv
  }
  return { weight, classes, dim, logitScale }
}

/**
 * The logit scale that minimises the mean cross-entropy of the head on the given (pretrained)
 * features, searched on a log grid in [minScale, maxScale]. CLIP's 100 suits text/image cosines
 * around 0.2–0.3; class-mean heads see cosines near 1 with small gaps between classes, where a
 * fixed 100 makes the pretrained head over-confident and fine-tuning start from huge losses.
 */
export function calibrateLogitScale(feats: Float32Array, labels: Uint8Array, head: CosineHead, minScale = 5, maxScale = HEAD_LOGIT_SCALE): number {
  const n = labels.length, D = head.dim, K = head.classes
  const cos = new Float64Array(n * K)
  for (let i = 0; i < n; i++) {
    let s = 0
    for (let d = 0; d < D; d++) s += feats[i * D + d] ** 2
    const inv = 1 / Math.sqrt(s + 1e-12)
    for (let k = 0; k < K; k++) {
      let dot = 0
      for (let d = 0; d < D; d++) dot += feats[i * D + d] * head.weight[k * D + d]
      cos[i * K + k] = dot * inv
    }
  }
  let best = minScale, bestLoss = Infinity
  const steps = 64
  for (let j = 0; j <= steps; j++) {
    const sc = minScale * (maxScale / minScale) ** (j / steps)
    let loss = 0
    for (let i = 0; i < n; i++) {
      let mx = -Infinity
      for (let k = 0; k < K; k++) mx = Math.max(mx, sc * cos[i * K + k])
      let se = 0
      for (let k = 0; k < K; k++) se += Math.exp(sc * cos[i * K + k] - mx)
      loss += mx + Math.log(se) - sc * cos[i * K + labels[i]]
    }
    if (loss < bestLoss) { bestLoss = loss; best = sc }
  }
  return Number(best.toPrecision(4))
}

export interface StoredHead extends CosineHead { task: string; classNames: string[] }

export async function writeHead(path: string, task: string, classNames: string[], h: CosineHead): Promise<void> {
  await writeSafetensors(path, new Map([['weight', { dtype: 'F32' as const, shape: [h.classes, h.dim], data: h.weight }]]), {
    task, classes: JSON.stringify(classNames), logit_scale: String(h.logitScale),
    kind: 'class-mean of normalised pretrained features (zero-shot head analogue), logit scale calibrated on the train split',
  })
}

export async function readHead(path: string): Promise<StoredHead> {
  const f = await openSafetensors(path)
  try {
    const e = f.tensors.get('weight')
    if (!e || e.shape.length !== 2) throw new AmalgamError('BAD_FILE', `${path}: head needs a 2-D tensor named weight`)
    const scale = Number(f.metadata.logit_scale)
    if (!Number.isFinite(scale) || scale <= 0) throw new AmalgamError('BAD_FILE', `${path}: metadata logit_scale must be a positive number`)
    let classNames: string[]
    try { classNames = JSON.parse(f.metadata.classes ?? 'null') as string[] } catch { classNames = [] }
    if (!Array.isArray(classNames) || classNames.length !== e.shape[0]) throw new AmalgamError('BAD_FILE', `${path}: metadata classes must list ${e.shape[0]} names`)
    return { weight: await f.readF32('weight'), classes: e.shape[0], dim: e.shape[1], logitScale: scale, task: f.metadata.task ?? '', classNames }
  } finally { await f.close() }
}
