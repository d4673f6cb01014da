// The CLIP transformer encoder block (HF CLIPEncoderLayer), shared by the vision and text towers:
// pre-LN self-attention and MLP with residuals. Linear weights are held as [in, out] so every
// matmul runs without transpose flags (engine-facts.md: flags are slow on wasm), and the matmuls
// come from ./ops so gradients stay on the fast path too.
import type * as tfjs from '@tensorflow/tfjs'
import { tf } from './tf'
import { matmul, bmatmul } from './ops'
import type { HiddenAct } from './config'

export interface EncoderLayer {
  ln1g: tfjs.Tensor1D; ln1b: tfjs.Tensor1D; ln2g: tfjs.Tensor1D; ln2b: tfjs.Tensor1D
  q: tfjs.Tensor2D; qb: tfjs.Tensor1D; k: tfjs.Tensor2D; kb: tfjs.Tensor1D
  v: tfjs.Tensor2D; vb: tfjs.Tensor1D; o: tfjs.Tensor2D; ob: tfjs.Tensor1D
  fc1: tfjs.Tensor2D; fc1b: tfjs.Tensor1D; fc2: tfjs.Tensor2D; fc2b: tfjs.Tensor1D
}

/**
 * One layer's weights under `prefix` (e.g. `vision_model.encoder.layers.3`): `T` reads a linear
 * weight [out, in] and returns it as [in, out]; `V` reads a vector.
 */
export function readEncoderLayer(prefix: string, T: (name: string) => tfjs.Tensor2D, V: (name: string) => tfjs.Tensor1D): EncoderLayer {
  return {
    ln1g: V(`${prefix}.layer_norm1.weight`), ln1b: V(`${prefix}.layer_norm1.bias`),
    ln2g: V(`${prefix}.layer_norm2.weight`), ln2b: V(`${prefix}.layer_norm2.bias`),
    q: T(`${prefix}.self_attn.q_proj.weight`), qb: V(`${prefix}.self_attn.q_proj.bias`),
    k: T(`${prefix}.self_attn.k_proj.weight`), kb: V(`${prefix}.self_attn.k_proj.bias`),
    v: T(`${prefix}.self_attn.v_proj.weight`), vb: V(`${prefix}.self_attn.v_proj.bias`),
    o: T(`${prefix}.self_attn.out_proj.weight`), ob: V(`${prefix}.self_attn.out_proj.bias`),
    fc1: T(`${prefix}.mlp.fc1.weight`), fc1b: V(`${prefix}.mlp.fc1.bias`),
    fc2: T(`${prefix}.mlp.fc2.weight`), fc2b: V(`${prefix}.mlp.fc2.bias`),
  }
}

export function layerNorm(x: tfjs.Tensor, g: tfjs.Tensor1D, b: tfjs.Tensor1D, eps: number): tfjs.Tensor {
  const { mean, variance } = tf.moments(x, -1, true)
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b)
}

export const linear = (x: tfjs.Tensor2D, w: tfjs.Tensor2D, b?: tfjs.Tensor1D): tfjs.Tensor2D => (b ? tf.add(matmul(x, w), b) : matmul(x, w)) as tfjs.Tensor2D

export function activation(x: tfjs.Tensor, act: HiddenAct): tfjs.Tensor {
  if (act === 'quick_gelu') return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)))
  // exact (erf) GELU: 0.5·x·(1 + erf(x/√2))
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1))
}

export interface BlockShape {
  /** sequences in the batch, tokens per sequence, heads */
  batch: number; tokens: number; heads: number
  eps: number
  act: HiddenAct
  /** additive attention mask [1, T, T] (the text tower's causal mask) */
  mask?: tfjs.Tensor3D
  /** unit name prefix and capture hooks (activation statistics, methods.md §0.4) */
  name?: string
  onLinearInput?: (unit: string, x: tfjs.Tensor2D) => void
  onNormInput?: (unit: string, x: tfjs.Tensor2D) => void
}

/** h [B·T, D] → the block's output [B·T, D]. */
export function encoderBlock(h: tfjs.Tensor2D, L: EncoderLayer, s: BlockShape): tfjs.Tensor2D {
  const B = s.batch, T = s.tokens, nh = s.heads, D = h.shape[1], dh = D / nh
  const name = s.name ?? ''
  const hook = s.onLinearInput, normHook = s.onNormInput
  if (normHook) normHook(`${name}.layer_norm1`, h)
  const a = layerNorm(h, L.ln1g, L.ln1b, s.eps) as tfjs.Tensor2D
  if (hook) { hook(`${name}.self_attn.q_proj`, a); hook(`${name}.self_attn.k_proj`, a); hook(`${name}.self_attn.v_proj`, a) }
  // heads kept at rank ≤ 4 (rank-5 transposes are slow on wasm)
  const split = (t: tfjs.Tensor2D, perm: number[], shape: [number, number, number]) => tf.reshape(tf.transpose(tf.reshape(t, [B, T, nh, dh]), perm), shape) as tfjs.Tensor3D
  const q = split(tf.mul(linear(a, L.q, L.qb), 1 / Math.sqrt(dh)) as tfjs.Tensor2D, [0, 2, 1, 3], [B * nh, T, dh])
  const kT = split(linear(a, L.k, L.kb), [0, 2, 3, 1], [B * nh, dh, T])
  const v = split(linear(a, L.v, L.vb), [0, 2, 1, 3], [B * nh, T, dh])
  const scores = bmatmul(q, kT)
  const probs = tf.softmax(s.mask ? tf.add(scores, s.mask) : scores) as tfjs.Tensor3D
  const ctx = tf.reshape(tf.transpose(tf.reshape(bmatmul(probs, v), [B, nh, T, dh]), [0, 2, 1, 3]), [B * T, D]) as tfjs.Tensor2D
  if (hook) hook(`${name}.self_attn.out_proj`, ctx)
  const h1 = tf.add(h, linear(ctx, L.o, L.ob)) as tfjs.Tensor2D
  if (normHook) normHook(`${name}.layer_norm2`, h1)
  const m = layerNorm(h1, L.ln2g, L.ln2b, s.eps) as tfjs.Tensor2D
  if (hook) hook(`${name}.mlp.fc1`, m)
  const f = activation(linear(m, L.fc1, L.fc1b), s.act) as tfjs.Tensor2D
  if (hook) hook(`${name}.mlp.fc2`, f)
  return tf.add(h1, linear(f, L.fc2, L.fc2b)) as tfjs.Tensor2D
}
