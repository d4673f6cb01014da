// SLERP between exactly two models (methods.md §8, §29; FusionBench and mergekit agree to 3e-8).
import { AmalgamError } from '#common/errors'
import { defineMethod } from '../types'
import { FB } from './_params'
import { writeTensors } from './_stream'

interface P { t: number; DOT_THRESHOLD: number; epsilon: number; [k: string]: unknown }

/** Spherical interpolation of raw tensors v0 → v1 (t = 0 gives v0), float32 output. */
export function slerpTensor(t: number, v0: Float32Array, v1: Float32Array, dotThreshold: number, eps: number): { out: Float32Array; lerp: boolean } {
  let n0 = 0, n1 = 0
  for (let k = 0; k < v0.length; k++) { n0 += v0[k] * v0[k]; n1 += v1[k] * v1[k] }
  n0 = Math.sqrt(n0); n1 = Math.sqrt(n1)
  const d0 = n0 > eps ? n0 : 1, d1 = n1 > eps ? n1 : 1
  let dot = 0
  for (let k = 0; k < v0.length; k++) dot += (v0[k] / d0) * (v1[k] / d1)
  let s0: number, s1: number
  const lerp = Math.abs(dot) > dotThreshold
  if (lerp) { s0 = 1 - t; s1 = t } else {
    const omega = Math.acos(dot), sinOmega = Math.sin(omega)
    s0 = Math.sin(omega - omega * t) / sinOmega
    s1 = Math.sin(omega * t) / sinOmega
  }
  const a = Math.fround(s0), b = Math.fround(s1)
  const out = new Float32Array(v0.length)
  for (let k = 0; k < out.length; k++) out[k] = Math.fround(a * v0[k]) + Math.fround(b * v1[k])
  return { out, lerp }
}

export default defineMethod<P>({
  info: {
    name: 'slerp',
    title: 'SLERP (spherical linear interpolation)',
    family: 'data-free',
    description: 'Interpolates two fine-tuned models along the great circle between their (per-tensor) weight vectors; falls back to linear interpolation when they are nearly colinear. The base model is not used.',
    citation: `Shoemake 1985; ${FB} config/method/slerp/slerp.yaml; mergekit slerp; methods.md §8, §29`,
    params: [
      { name: 't', type: 'number', default: 0.5, min: 0, max: 1, description: 'interpolation position: 0 = first model, 1 = second', citation: `${FB} slerp.yaml (t: 0.5)` },
      { name: 'DOT_THRESHOLD', type: 'number', default: 0.9995, min: 0, max: 1, description: 'above this |cos| the tensors are treated as colinear and linearly interpolated', citation: `${FB} slerp.yaml (DOT_THRESHOLD: 0.9995)` },
      { name: 'epsilon', type: 'number', default: 1e-8, min: 0, max: 1, description: 'norms at or below epsilon are not normalised', citation: `${FB} slerp.yaml (epsilon: 1e-8)` },
    ],
  },
  check(_p, pool) {
    if (pool.models.length !== 2) throw new AmalgamError('BAD_REQUEST', `slerp merges exactly 2 models, got ${pool.models.length}`)
  },
  async merge(job) {
    const p = job.params
    let lerped = 0
    await writeTensors(job, 'merge', (s) => {
      const r = slerpTensor(p.t, s.models[0], s.models[1], p.DOT_THRESHOLD, p.epsilon)
      if (r.lerp) lerped++
      return r.out
    })
    job.diag.set('lerpTensors', lerped)
  },
})
