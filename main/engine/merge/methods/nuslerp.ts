// NuSLERP (mergekit `nuslerp`, methods.md §8): SLERP of two models' task vectors (or weights),
// per tensor or per row/column, with t from the two model weights.
import { AmalgamError } from '#common/errors'
import { defineMethod } from '../types'
import { paramError } from '../schema'
import { writeTensors } from './_stream'

interface P { weights: number[]; nuslerp_flatten: boolean; nuslerp_row_wise: boolean; use_base: boolean; [k: string]: unknown }

/** mergekit's nuslerp kernel on one pair of vectors (norms clamped at 1e-7, lerp where |sin Ω| < 1e-8). */
function slerpVec(t: number, v0: Float64Array, v1: Float64Array): Float64Array {
  let n0 = 0, n1 = 0
  for (let k = 0; k < v0.length; k++) { n0 += v0[k] * v0[k]; n1 += v1[k] * v1[k] }
  n0 = Math.max(Math.sqrt(n0), 1e-7); n1 = Math.max(Math.sqrt(n1), 1e-7)
  let dot = 0
  for (let k = 0; k < v0.length; k++) dot += (v0[k] / n0) * (v1[k] / n1)
  dot = Math.min(1, Math.max(-1, dot))
  const omega = Math.acos(dot), so = Math.sin(omega)
  const [a, b] = Math.abs(so) < 1e-8 ? [1 - t, t] : [Math.sin((1 - t) * omega) / so, Math.sin(t * omega) / so]
  const out = new Float64Array(v0.length)
  for (let k = 0; k < out.length; k++) out[k] = a * v0[k] + b * v1[k]
  return out
}

export const nuslerpT = (w: number[]): number => (Math.abs(w[0] + w[1]) < 1e-6 ? 0.5 : w[1] / (w[0] + w[1]))

export default defineMethod<P>({
  info: {
    name: 'nuslerp',
    title: 'NuSLERP',
    family: 'data-free',
    description: 'mergekit’s NuSLERP: spherical interpolation of the two task vectors around the base (or of the raw weights), per tensor or per row/column vector, with t = w₂/(w₁ + w₂).',
    citation: 'mergekit arcee-ai/mergekit@a6e4028 merge_methods/nuslerp.py; methods.md §8',
    params: [
      { name: 'weights', type: 'number[]', default: [1, 1], min: -100, max: 100, description: 'the two model weights; t = w₂/(w₁ + w₂) (0.5 when |w₁ + w₂| < 1e-6)', citation: 'mergekit nuslerp (per-model weight)' },
      { name: 'nuslerp_flatten', type: 'boolean', default: true, description: 'one vector per tensor; false interpolates row or column vectors separately', citation: 'mergekit nuslerp (nuslerp_flatten: true)' },
      { name: 'nuslerp_row_wise', type: 'boolean', default: false, description: 'with flatten=false: false slerps each W[i,:] (last axis), true each W[:,j] (first axis)', citation: 'mergekit nuslerp (nuslerp_row_wise: false); axis per methods.md §8' },
      { name: 'use_base', type: 'boolean', default: true, description: 'slerp the task vectors θ_i − θ0 and add θ0 (mergekit with base_model); false slerps the raw weights', citation: 'mergekit nuslerp (base_model optional)' },
    ],
  },
  check(p, pool) {
    if (pool.models.length !== 2) throw new AmalgamError('BAD_REQUEST', `nuslerp merges exactly 2 models, got ${pool.models.length}`)
    if (p.weights.length !== 2) throw paramError('nuslerp', 'weights', `needs exactly 2 values, got ${p.weights.length}`)
  },
  async merge(job) {
    const p = job.params
    const t = nuslerpT(p.weights)
    job.diag.set('t', t)
    await writeTensors(job, 'merge', (s) => {
      const b = s.base
      const v = s.models.map((m) => Float64Array.from(m, (x, k) => (p.use_base ? Math.fround(x - b[k]) : x)))
      const out = new Float64Array(b.length)
      if (p.nuslerp_flatten || s.shape.length < 2) out.set(slerpVec(t, v[0], v[1]))
      else {
        const cols = s.shape[s.shape.length - 1], rows = b.length / cols
        if (!p.nuslerp_row_wise) {
          for (let i = 0; i < rows; i++) out.set(slerpVec(t, v[0].subarray(i * cols, (i + 1) * cols), v[1].subarray(i * cols, (i + 1) * cols)), i * cols)
        } else {
          for (let j = 0; j < cols; j++) {
            const a = new Float64Array(rows), c = new Float64Array(rows)
            for (let i = 0; i < rows; i++) { a[i] = v[0][i * cols + j]; c[i] = v[1][i * cols + j] }
            const r = slerpVec(t, a, c)
            for (let i = 0; i < rows; i++) out[i * cols + j] = r[i]
          }
        }
      }
      return Float32Array.from(out, (x, k) => (p.use_base ? b[k] + x : x))
    })
  },
})
