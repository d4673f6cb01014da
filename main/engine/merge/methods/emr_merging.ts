// EMR-Merging (methods.md §11): one unified task vector (elected sign, largest agreeing
// magnitude) plus per-task masks and rescalers; writes one modulated model per task.
// Pass 1 accumulates the rescalers over all tensors; pass 2 writes.
import { defineMethod } from '../types'
import { FB } from './_params'
import { scanTensors, taskVectors, writeTensors } from './_stream'

/** γ, τ_uni and the masks of one tensor. */
export function emrElect(taus: Float32Array[]): { uni: Float32Array; masks: Uint8Array[] } {
  const n = taus[0].length
  const uni = new Float32Array(n)
  const masks = taus.map(() => new Uint8Array(n))
  for (let k = 0; k < n; k++) {
    let sum = 0
    for (const t of taus) sum = Math.fround(sum + t[k])
    const g = sum > 0 ? 1 : -1
    let eps = 0
    taus.forEach((t, i) => { if (t[k] * g > 0) { masks[i][k] = 1; if (Math.abs(t[k]) > eps) eps = Math.abs(t[k]) } })
    uni[k] = g * eps
  }
  return { uni, masks }
}

export default defineMethod({
  info: {
    name: 'emr_merging',
    title: 'EMR-Merging (Elect, Mask & Rescale)',
    family: 'data-free',
    description: 'Elects a unified task vector (majority sign, largest agreeing magnitude), then gives each task a binary mask and a scalar rescaler matching its mean absolute task vector. Writes one modulated model per task; inference must know the task.',
    citation: `Huang et al., EMR-Merging: Tuning-Free High-Performance Model Merging, NeurIPS 2024; official harveyhuang18/EMR_Merging; ${FB} EMRMergingAlgorithm; methods.md §11`,
    perTask: true,
    params: [],
  },
  async merge(job) {
    const N = job.pool.models.length
    const num = new Array(N).fill(0), den = new Array(N).fill(0)
    await scanTensors(job, 'rescalers', (s) => {
      const taus = taskVectors(s)
      const { uni, masks } = emrElect(taus)
      const n = uni.length
      for (let t = 0; t < N; t++) {
        let a = 0, b = 0
        for (let k = 0; k < n; k++) { a += Math.abs(taus[t][k]); if (masks[t][k]) b += Math.abs(uni[k]) }
        num[t] += a / n
        den[t] += b / n
      }
    })
    // an empty mask (den = 0) means the task contributes nothing; its rescaler is irrelevant
    const lambda = num.map((a, t) => (den[t] > 0 ? a / den[t] : 0))
    job.diag.set('rescalers', lambda)
    await writeTensors(job, 'merge', (s) => {
      const { uni, masks } = emrElect(taskVectors(s))
      return masks.map((m, t) => {
        const l = Math.fround(lambda[t])
        const out = new Float32Array(uni.length)
        for (let k = 0; k < out.length; k++) out[k] = m[k] ? s.base[k] + Math.fround(l * uni[k]) : s.base[k]
        return out
      })
    })
  },
})
