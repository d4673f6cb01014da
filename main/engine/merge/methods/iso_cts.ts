// Iso-CTS, isotropic merging in common and task-specific subspaces (methods.md §13, §29).
import { mat64, projectCols } from '../../linalg/index'
import { defineMethod } from '../types'
import { paramError } from '../schema'
import { FB, excludeKeys, scalingFactor } from './_params'
import { asMat64, placeCols, placeRows, polarProduct, runSvdMethod, topSvd } from './_lowrank'
import { isoSum } from './iso_c'

interface P { scaling_factor: number; common_space_fraction: number; exclude_keys: string; [k: string]: unknown }

/** Python's round(): ties to even. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x), d = x - f
  if (d > 0.5) return f + 1
  if (d < 0.5) return f
  return f % 2 === 0 ? f : f + 1
}

/** FusionBench's split of k = min(m, n) slots: common c, per-task d (c + N·d = k). */
export function isoCtsSplit(k: number, N: number, f: number): { common: number; perTask: number } {
  let c = Math.trunc(k * f)
  const T = roundHalfEven((k - c) / N) * N
  c = k - T
  return { common: c, perTask: Math.trunc(T / N) }
}

export function isoCtsMerge(taus: Float32Array[], shape: number[], f: number): { merged: Float32Array; diag: Record<string, unknown> } {
  const [m, n] = shape
  const N = taus.length
  const k = Math.min(m, n)
  const { common: c, perTask: d } = isoCtsSplit(k, N, f)
  const M = topSvd(asMat64(isoSum(taus), shape), Math.max(c, 0))
  const U = mat64(m, k), V = mat64(k, n)
  const S = new Float64Array(k)
  if (d > 0) {
    taus.forEach((tau, t) => {
      const T = asMat64(tau, shape)
      const proj = projectCols(M.U, T)
      for (let i = 0; i < T.data.length; i++) T.data[i] -= proj.data[i]
      const r = topSvd(T, d)
      placeCols(U, r.U, d, t * d)
      placeRows(V, r.Vt, d, t * d)
      S.set(r.S.subarray(0, d), t * d)
    })
  }
  placeCols(U, M.U, c, N * d)
  placeRows(V, M.Vt, c, N * d)
  S.set(M.S.subarray(0, c), N * d)
  const mean = S.reduce((a, b) => a + b, 0) / k
  const merged = polarProduct(U, new Float64Array(k).fill(mean), V)
  return { merged, diag: { k, common: c, perTask: d, meanSigma: Number(mean.toPrecision(6)) } }
}

export default defineMethod<P>({
  info: {
    name: 'iso_cts',
    title: 'Iso-CTS (isotropic merging in common and task-specific subspaces)',
    family: 'data-free',
    description: 'Per 2-D tensor, keeps the top common directions of the TA sum plus each task’s top directions orthogonal to them, orthogonalises the stacked bases and gives every direction the mean singular value. Other tensors take the mean task vector.',
    citation: `Marczak et al., ICML 2025; ${FB} config/method/isotropic_merging/iso_cts.yaml; methods.md §13, §29`,
    params: [
      scalingFactor(1.0, `${FB} iso_cts.yaml (scaling_factor: 1.0); tuned on HF CLIP B/32: 1.50`, 'α: θ = θ0 + α·merged, applied to every tensor'),
      { name: 'common_space_fraction', type: 'number', default: 0.8, min: 0, max: 1, description: 'f: fraction of the min(m, n) directions taken from the common subspace of the TA sum (1.0 reduces to Iso-C)', citation: `${FB} iso_cts.yaml (common_space_fraction: 0.8)` },
      excludeKeys(`${FB} iso_cts.yaml (exclude_keys: null)`),
    ],
  },
  check(p) {
    if (p.common_space_fraction <= 0) throw paramError('iso_cts', 'common_space_fraction', 'must be > 0')
  },
  async merge(job) {
    const f = job.params.common_space_fraction
    await runSvdMethod(job, 'scaling_factor', job.params.exclude_keys, (taus, shape) => isoCtsMerge(taus, shape, f))
  },
})
