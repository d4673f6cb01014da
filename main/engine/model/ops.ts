// Matmuls whose gradients never use TF.js transpose flags. On the wasm backend a matMul with
// transposeA/transposeB leaves the XNNPACK fast path (≈ 12–23× slower, engine-facts.md), and the
// built-in matMul gradient uses those flags, so every backward pass would hit the slow kernel.
// These versions transpose explicitly and then multiply without flags.
import type * as tfjs from '@tensorflow/tfjs'
import { tf } from './tf'

type T2 = tfjs.Tensor2D
type T3 = tfjs.Tensor3D

const mm2 = tf.customGrad(((a: T2, b: T2, save: tfjs.GradSaveFunc) => {
  save([a, b])
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: T2, saved: tfjs.Tensor[]) => {
      const [sa, sb] = saved as [T2, T2]
      return [tf.matMul(dy, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy)]
    },
  }
}) as unknown as Parameters<typeof tf.customGrad>[0])

const mm3 = tf.customGrad(((a: T3, b: T3, save: tfjs.GradSaveFunc) => {
  save([a, b])
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: T3, saved: tfjs.Tensor[]) => {
      const [sa, sb] = saved as [T3, T3]
      return [tf.matMul(dy, tf.transpose(sb, [0, 2, 1])), tf.matMul(tf.transpose(sa, [0, 2, 1]), dy)]
    },
  }
}) as unknown as Parameters<typeof tf.customGrad>[0])

/** a [n, k] · b [k, m] */
export const matmul = (a: T2, b: T2): T2 => (mm2 as unknown as (x: T2, y: T2) => T2)(a, b)
/** batched a [B, n, k] · b [B, k, m] */
export const bmatmul = (a: T3, b: T3): T3 => (mm3 as unknown as (x: T3, y: T3) => T3)(a, b)
