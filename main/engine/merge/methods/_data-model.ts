// Shared pieces of the data-dependent methods: which units of a CLIP vision tower they treat as
// linear layers and LayerNorms, loading a pool model as a runnable tower, and the frozen task
// head's logits in TF.js.
import type * as tfjs from '@tensorflow/tfjs'
import { ClipVision } from '../../model/clip-vision'
import { VM, type ClipVisionConfig } from '../../model/config'
import { getModelTf, tf } from '../../model/tf'
import { matmul } from '../../model/ops'
import type { TensorSource } from '../../tensors/source'
import type { MergeData, TaskHead } from '../data'

export interface LinearUnit { unit: string; weight: string; bias: string; out: number; in: number }
export interface NormUnit { unit: string; weight: string; bias: string; dim: number }

/** The nn.Linear modules of the encoder (q, k, v, out_proj, fc1, fc2 per block), in forward order. */
export function linearUnits(cfg: ClipVisionConfig): LinearUnit[] {
  const D = cfg.hiddenSize, I = cfg.intermediateSize
  const out: LinearUnit[] = []
  for (let l = 0; l < cfg.numLayers; l++) {
    const L = `${VM}.encoder.layers.${l}`
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) out.push(unit(`${L}.self_attn.${p}`, D, D))
    out.push(unit(`${L}.mlp.fc1`, I, D))
    out.push(unit(`${L}.mlp.fc2`, D, I))
  }
  return out
}
const unit = (u: string, o: number, i: number): LinearUnit => ({ unit: u, weight: `${u}.weight`, bias: `${u}.bias`, out: o, in: i })

/** Every LayerNorm: pre_layrnorm, layer_norm1/2 of each block, post_layernorm (CLS rows only). */
export function normUnits(cfg: ClipVisionConfig): NormUnit[] {
  const D = cfg.hiddenSize
  const names = [`${VM}.pre_layrnorm`]
  for (let l = 0; l < cfg.numLayers; l++) names.push(`${VM}.encoder.layers.${l}.layer_norm1`, `${VM}.encoder.layers.${l}.layer_norm2`)
  names.push(`${VM}.post_layernorm`)
  return names.map((u) => ({ unit: u, weight: `${u}.weight`, bias: `${u}.bias`, dim: D }))
}

/** A pool model as a runnable tower (call dispose()). */
export async function loadTower(data: MergeData, src: TensorSource): Promise<ClipVision> {
  await getModelTf()
  return ClipVision.load(data.config, src, src.label)
}

/** A head's weight transposed to [dim, classes] as a tensor (keep it; dispose when done). */
export function headTensor(head: TaskHead): tfjs.Tensor2D {
  return tf.tidy(() => tf.transpose(tf.tensor2d(head.weight, [head.classes, head.dim])) as tfjs.Tensor2D)
}

/** logits = scale · normalise(embeds) · Wᵀ (CLIP zero-shot form, as the evaluator scores). */
export function headLogits(embeds: tfjs.Tensor2D, headT: tfjs.Tensor2D, scale: number): tfjs.Tensor2D {
  const norm = tf.sqrt(tf.add(tf.sum(tf.square(embeds), 1, true), 1e-12))
  return tf.mul(matmul(tf.div(embeds, norm) as tfjs.Tensor2D, headT), scale) as tfjs.Tensor2D
}

/** NHWC images as a tensor. */
export function imagesTensor(pixels: Float32Array, n: number, side: number, channels: number): tfjs.Tensor4D {
  return tf.tensor4d(pixels, [n, side, side, channels])
}
