// TSV-M, Task Singular Vectors Merge (methods.md §12, §29): per 2-D tensor, keep each task's
// top-r singular triplets (r = int(min(m,n)·(1/N))), concatenate them, decorrelate the bases
// by their polar factors and recombine; other tensors get the mean task vector.
import { mat, mat64 } from '../../linalg/index'
import { defineMethod } from '../types'
import { FB, excludeKeys } from './_params'
import { placeCols, placeRows, polarProduct, runSvdMethod, spectrumHead, topSvd } from './_lowrank'

interface P { alpha: number; exclude_keys: string; [k: string]: unknown }

/** FusionBench's per-task rank: int(min(m, n) · (1/N)), a float product. */
export const tsvRank = (m: number, n: number, N: number): number => Math.trunc(Math.min(m, n) * (1 / N))

export function tsvMerge(taus: Float32Array[], shape: number[]): { merged: Float32Array; diag: Record<string, unknown> } {
  const [m, n] = shape
  const N = taus.length
  const k = Math.min(m, n)
  const r = tsvRank(m, n, N)
  if (r === 0) return { merged: new Float32Array(m * n), diag: { rank: 0, k, zeroed: true } }
  const U = mat64(m, k), V = mat64(k, n)
  const S = new Float64Array(k)
  taus.forEach((tau, t) => {
    const f = topSvd(mat(m, n, tau), r)
    placeCols(U, f.U, r, t * r)
    placeRows(V, f.Vt, r, t * r)
    S.set(f.S.subarray(0, r), t * r)
  })
  const merged = polarProduct(U, S, V, N * r) // slots past N·r are zero
  return { merged, diag: { rank: r, k, sigma: spectrumHead([...S].sort((a, b) => b - a)) } }
}

export default defineMethod<P>({
  info: {
    name: 'tsvm',
    title: 'TSV-M (Task Singular Vectors Merge)',
    family: 'data-free',
    description: 'Per 2-D tensor, each task keeps its top 1/N singular directions; the concatenated left and right bases are replaced by their polar factors (decorrelating the tasks) and recombined with the original singular values. Other tensors take the mean task vector.',
    citation: `Gargiulo et al., Task Singular Vectors: Reducing Task Interference in Model Merging, CVPR 2025; ${FB} config/method/task_singular_vector/TaskSingularVectorMerging.yaml; methods.md §12, §29`,
    params: [
      { name: 'alpha', type: 'number', default: 1, min: -10, max: 10, description: 'α: θ = θ0 + α·merged, applied to every tensor (SVD-merged and averaged)', citation: `${FB} TSV-M config (alpha: 1)` },
      excludeKeys(`${FB} TSV-M config (exclude_keys: null); official code excludes text_projection`),
    ],
  },
  async merge(job) {
    await runSvdMethod(job, 'alpha', job.params.exclude_keys, (taus, shape) => tsvMerge(taus, shape))
  },
})
