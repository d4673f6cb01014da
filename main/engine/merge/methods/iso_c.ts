// Iso-C, isotropic merging in the common subspace (methods.md §13, §29): per 2-D tensor, the TA
// sum M = Σ τ_t with its spectrum flattened to the mean singular value: s̄·U Vᵀ.
import { defineMethod } from '../types'
import { FB, excludeKeys, scalingFactor } from './_params'
import { asMat64, polarAndSpectrum, runSvdMethod, spectrumHead } from './_lowrank'

interface P { scaling_factor: number; exclude_keys: string; [k: string]: unknown }

/** FusionBench's task-vector sum: float32 sum / N, then × N (the round trip shows at 1e-7). */
export function isoSum(taus: Float32Array[]): Float32Array {
  const N = taus.length
  const acc = Float32Array.from(taus[0])
  for (let t = 1; t < N; t++) { const x = taus[t]; for (let k = 0; k < acc.length; k++) acc[k] += x[k] }
  for (let k = 0; k < acc.length; k++) acc[k] = Math.fround(acc[k] / N) * N
  return acc
}

export function isoCMerge(taus: Float32Array[], shape: number[]): { merged: Float32Array; diag: Record<string, unknown> } {
  const [m, n] = shape
  const f = polarAndSpectrum(asMat64(isoSum(taus), shape)) // U Vᵀ of the SVD and its spectrum
  const k = f.S.length
  const mean = f.S.reduce((a, b) => a + b, 0) / k
  const P = f.P
  const out = new Float32Array(m * n)
  for (let i = 0; i < out.length; i++) out[i] = mean * P.data[i]
  return { merged: out, diag: { k, meanSigma: Number(mean.toPrecision(6)), sigma: spectrumHead(f.S) } }
}

export default defineMethod<P>({
  info: {
    name: 'iso_c',
    title: 'Iso-C (isotropic merging in the common subspace)',
    family: 'data-free',
    description: 'Per 2-D tensor, takes the Task Arithmetic sum and replaces all its singular values by their mean (an isotropic spectrum); other tensors take the mean task vector.',
    citation: `Marczak et al., No Task Left Behind: Isotropic Model Merging with Common and Task-Specific Subspaces, ICML 2025; ${FB} config/method/isotropic_merging/iso_c.yaml; methods.md §13, §29`,
    params: [
      scalingFactor(1.0, `${FB} iso_c.yaml (scaling_factor: 1.0); tuned on HF CLIP B/32: 1.30`, 'α: θ = θ0 + α·merged, applied to every tensor'),
      excludeKeys(`${FB} iso_c.yaml (exclude_keys: null)`),
    ],
  },
  async merge(job) {
    await runSvdMethod(job, 'scaling_factor', job.params.exclude_keys, (taus, shape) => isoCMerge(taus, shape))
  },
})

