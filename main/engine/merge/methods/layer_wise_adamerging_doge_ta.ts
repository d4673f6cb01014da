// Layer-wise AdaMerging on DogeTA task vectors (FusionBench clip_layer_wise_adamerging_doge_ta,
// layer_wise_fusion_doge_ta.py; methods.md §25): per filtered encoder weight, one δ_i per task is
// optimised with DogeTA's projected objective (subspace ⌊min/N⌋, η = 0.07, 400 Adam steps at
// 1e-4), the task vectors become M_i ⊙ (τ_i + δ_i) with DogeTA's global top-30 % masks, and their
// layer-wise coefficients are learned by AdaMerging. Every other tensor stays θ0.
import { kthSmallestAbs } from '../../kernels/select'
import { throwIfCancelled } from '../../util/task'
import { defineMethod } from '../types'
import { FB } from './_params'
import { trimRank } from './_ties-core'
import { adaParams, runAdaMerging, type AdaParams } from './_data-adamerging-run'
import { Adam, dogeFilter, projectOut, sharedSubspace } from './doge_ta'

const ETA = 0.07, KEEP = 0.3, STEPS = 400, LR = 1e-4

/**
 * Per-task δ_i for one tensor: e_{j,o} = ⟨V_j[o], V_j[o] − S[o] − Σ_i λ_i δ_i[o]⟩, L = Σ e², with
 * ∂L/∂δ_i[o] = −2 λ_i Σ_j e_{j,o} V_j[o]; each gradient projected off U_s, then Adam.
 */
export function optimiseTaskDeltas(V: Float32Array[], rows: number, cols: number, steps = STEPS, lr = LR): { deltas: Float32Array[]; lambdas: number[]; losses: number[] } {
  const N = V.length, n = rows * cols
  const lambdas = V.map((v) => { let s = 0; for (const x of v) s += x * x; return s > 0 ? ETA / Math.sqrt(s) : 0 })
  const S = new Float64Array(n)
  V.forEach((v, j) => { for (let k = 0; k < n; k++) S[k] += lambdas[j] * v[k] })
  const Us = sharedSubspace(V, rows, cols, N)
  const deltas = V.map(() => new Float32Array(n))
  const adams = V.map(() => new Adam(n, lr))
  const losses: number[] = []
  const e = new Float64Array(N * rows), dsum = new Float64Array(n), h = new Float64Array(n), g = new Float32Array(n)
  const residuals = (): number => {
    dsum.fill(0)
    for (let i = 0; i < N; i++) { const l = lambdas[i], d = deltas[i]; for (let k = 0; k < n; k++) dsum[k] += l * d[k] }
    let loss = 0
    for (let j = 0; j < N; j++) {
      const v = V[j]
      for (let o = 0; o < rows; o++) {
        let a = 0
        for (let k = o * cols, end = k + cols; k < end; k++) a += v[k] * (v[k] - S[k] - dsum[k])
        e[j * rows + o] = a
        loss += a * a
      }
    }
    return loss
  }
  for (let s = 0; s < steps; s++) {
    losses.push(residuals())
    // h[o,:] = Σ_j e_{j,o} V_j[o,:]; every task's gradient is −2λ_i·h
    h.fill(0)
    for (let j = 0; j < N; j++) { const v = V[j]; for (let o = 0; o < rows; o++) { const w = e[j * rows + o]; for (let k = o * cols, end = k + cols; k < end; k++) h[k] += w * v[k] } }
    for (let i = 0; i < N; i++) {
      for (let k = 0; k < n; k++) g[k] = -2 * lambdas[i] * h[k]
      projectOut(Us, g, rows, cols)
      adams[i].step(deltas[i], g)
    }
  }
  losses.push(residuals())
  return { deltas, lambdas, losses }
}

export default defineMethod<AdaParams>({
  info: {
    name: 'layer_wise_adamerging_doge_ta',
    title: 'AdaMerging (layer-wise) on DogeTA vectors',
    family: 'data-dependent',
    description: 'DogeTA’s per-task modified, top-30 %-masked task vectors M_i ⊙ (τ_i + δ_i) on the encoder’s 2-D weights, merged with layer-wise coefficients learned by AdaMerging’s test-time entropy minimisation (transductive); all other tensors stay θ0.',
    citation: `${FB} fusion_bench/models/wrappers/layer_wise_fusion_doge_ta.py, clip_layer_wise_adamerging_doge_ta; methods.md §25`,
    params: adaParams.filter((p) => p.name !== 'task_vectors' && p.name !== 'ties_threshold'),
  },
  async merge(job) {
    const filtered = (n: string, shape: number[]) => dogeFilter(n, shape)
    await runAdaMerging(job, {
      granularity: 'layer',
      frozen: (n) => !dogeFilter(n, job.pool.base.meta(n).shape),
      vectors: async (_base, taus) => {
        const names = [...taus.keys()].filter((n) => filtered(n, job.pool.base.meta(n).shape)).sort()
        const N = job.pool.models.length
        const d = names.reduce((s, n) => s + taus.get(n)![0].length, 0)
        // masks from the ORIGINAL τ (methods.md §15 step 6)
        const thr = Array.from({ length: N }, (_, t) => kthSmallestAbs(names.map((n) => taus.get(n)![t]), trimRank(d, KEEP)))
        const diag: Record<string, unknown> = {}
        for (let k = 0; k < names.length; k++) {
          const n = names[k]
          throwIfCancelled(job.ctx, `${job.method} (DogeTA vectors)`)
          job.ctx.progress?.('doge vectors', k / names.length, n)
          const [rows, cols] = job.pool.base.meta(n).shape
          const V = taus.get(n)!
          const { deltas, losses } = optimiseTaskDeltas(V, rows, cols)
          V.forEach((v, t) => { for (let e = 0; e < v.length; e++) v[e] = Math.abs(v[e]) >= thr[t] ? v[e] + deltas[t][e] : 0 })
          diag[n] = { lossFirst: losses[0], lossLast: losses[losses.length - 1] }
          await new Promise((r) => setImmediate(r))
        }
        job.ctx.progress?.('doge vectors', 1)
        job.diag.set('doge', { maskThresholds: thr, filteredTensors: names.length, eta: ETA, keepFraction: KEEP, perTensor: diag })
      },
    })
  },
})
