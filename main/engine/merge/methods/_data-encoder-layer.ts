// One CLIP encoder block on hidden states, for RegMean++'s layer-by-layer pass (methods.md §20),
// which runs model t's block l on features produced by the already merged blocks 0..l−1. Same
// maths as model/clip-vision.ts (pre-LN attention and MLP with residuals, no attention mask); the
// test compares the two on a whole tower.
import type * as tfjs from '@tensorflow/tfjs'
import type { ClipVisionConfig } from '../../model/config'
import { matmul, bmatmul } from '../../model/ops'
import { tf } from '../../model/tf'
import type { LinearInputHook } from '../../model/clip-vision'

/** HF-layout tensors of one block, read by short name: layer_norm1.weight, self_attn.q_proj.weight, … */
export type BlockParams = (short: string) => Float32Array

function layerNorm(x: tfjs.Tensor, g: tfjs.Tensor, b: tfjs.Tensor, eps: number): tfjs.Tensor {
  const { mean, variance } = tf.moments(x, -1, true)
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b)
}

/**
 * h [B·T, D] → the block's output [B·T, D]. `unit(name)` gives the module path prefix for the hook
 * (e.g. vision_model.encoder.layers.3). Runs inside the caller's tidy.
 */
export function encoderBlock(cfg: ClipVisionConfig, p: BlockParams, prefix: string, h: tfjs.Tensor2D, B: number, hook?: LinearInputHook): tfjs.Tensor2D {
  const D = cfg.hiddenSize, I = cfg.intermediateSize, T = h.shape[0] / B, nh = cfg.numHeads, dh = D / nh, eps = cfg.layerNormEps
  const W = (n: string, o: number, i: number) => tf.transpose(tf.tensor2d(p(`${n}.weight`), [o, i])) as tfjs.Tensor2D
  const V = (n: string) => tf.tensor1d(p(n))
  const lin = (x: tfjs.Tensor2D, n: string, o: number, i: number) => tf.add(matmul(x, W(n, o, i)), V(`${n}.bias`)) as tfjs.Tensor2D
  const a = layerNorm(h, V('layer_norm1.weight'), V('layer_norm1.bias'), eps) as tfjs.Tensor2D
  if (hook) for (const q of ['q_proj', 'k_proj', 'v_proj']) hook(`${prefix}.self_attn.${q}`, a)
  const heads = (t: tfjs.Tensor2D) => tf.reshape(t, [B, T, nh, dh])
  const q = tf.reshape(tf.transpose(heads(tf.mul(lin(a, 'self_attn.q_proj', D, D), 1 / Math.sqrt(dh)) as tfjs.Tensor2D), [0, 2, 1, 3]), [B * nh, T, dh]) as tfjs.Tensor3D
  const kT = tf.reshape(tf.transpose(heads(lin(a, 'self_attn.k_proj', D, D)), [0, 2, 3, 1]), [B * nh, dh, T]) as tfjs.Tensor3D
  const v = tf.reshape(tf.transpose(heads(lin(a, 'self_attn.v_proj', D, D)), [0, 2, 1, 3]), [B * nh, T, dh]) as tfjs.Tensor3D
  const ctx = tf.reshape(tf.transpose(tf.reshape(bmatmul(tf.softmax(bmatmul(q, kT)) as tfjs.Tensor3D, v), [B, nh, T, dh]), [0, 2, 1, 3]), [B * T, D]) as tfjs.Tensor2D
  if (hook) hook(`${prefix}.self_attn.out_proj`, ctx)
  const h1 = tf.add(h, lin(ctx, 'self_attn.out_proj', D, D)) as tfjs.Tensor2D
  const m = layerNorm(h1, V('layer_norm2.weight'), V('layer_norm2.bias'), eps) as tfjs.Tensor2D
  if (hook) hook(`${prefix}.mlp.fc1`, m)
  const f1 = lin(m, 'mlp.fc1', I, D)
  const f = (cfg.hiddenAct === 'quick_gelu' ? tf.mul(f1, tf.sigmoid(tf.mul(f1, 1.702))) : tf.mul(tf.mul(f1, 0.5), tf.add(tf.erf(tf.mul(f1, Math.SQRT1_2)), 1))) as tfjs.Tensor2D
  if (hook) hook(`${prefix}.mlp.fc2`, f)
  return tf.add(h1, lin(f, 'mlp.fc2', D, I)) as tfjs.Tensor2D
}

/** pre_layrnorm(embeddings(x)) [B·T, D] from HF-layout tensors (class, patch conv, positions, pre-LN). */
export function embedTokens(cfg: ClipVisionConfig, p: (name: string) => Float32Array, images: tfjs.Tensor4D): tfjs.Tensor2D {
  const [B] = images.shape
  const P = cfg.patchSize, C = cfg.numChannels, D = cfg.hiddenSize, g = cfg.imageSize / P, T = g * g + 1
  const VMp = 'vision_model'
  const patchW = tf.reshape(tf.transpose(tf.tensor4d(p(`${VMp}.embeddings.patch_embedding.weight`), [D, C, P, P]), [2, 3, 1, 0]), [P * P * C, D]) as tfjs.Tensor2D
  const rows = tf.reshape(images, [B * g, P, g, P * C])
  const cols = tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [B * g * g, P * P * C]) as tfjs.Tensor2D
  const patches = tf.reshape(matmul(cols, patchW), [B, T - 1, D])
  const cls = tf.broadcastTo(tf.reshape(tf.tensor1d(p(`${VMp}.embeddings.class_embedding`)), [1, 1, D]), [B, 1, D])
  const pos = tf.tensor2d(p(`${VMp}.embeddings.position_embedding.weight`), [T, D])
  const h = tf.reshape(tf.add(tf.concat([cls, patches], 1), pos), [B * T, D])
  return layerNorm(h, tf.tensor1d(p(`${VMp}.pre_layrnorm.weight`)), tf.tensor1d(p(`${VMp}.pre_layrnorm.bias`)), cfg.layerNormEps) as tfjs.Tensor2D
}
