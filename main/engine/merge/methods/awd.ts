// AWD, Adaptive Weight Disentanglement (methods.md §16, [port] semantics): find one shared
// redundant vector δ that makes the task vectors τ_i − δ mutually orthogonal while staying small,
// then Task Arithmetic on τ_i − δ.
//
// δ starts at 0 and every gradient is a combination of the τ_i and δ, so δ = Σ_i c_i τ_i at every
// iteration. Plain gradient descent on δ is therefore exactly gradient descent on the coefficients
// c with all inner products taken through the N × N Gram matrix G = ⟨τ_i, τ_j⟩: one read pass
// builds G, 300 iterations cost O(N³) each, and one pass writes θ0 + λ Σ_j (1 − N·c_j) τ_j.
import { defineMethod } from '../types'
import { scalingFactor } from './_params'
import { scanTensors, taskVectors, writeTensors } from './_stream'
import { throwIfCancelled } from '../../util/task'

interface P { alpha: number; beta: number; iterations: number; scaling_factor: number; [k: string]: unknown }

const gdot = (G: Float64Array, N: number, x: Float64Array, y: Float64Array): number => {
  let s = 0
  for (let i = 0; i < N; i++) { if (x[i] === 0) continue; for (let j = 0; j < N; j++) s += x[i] * G[i * N + j] * y[j] }
  return s
}

/** L(δ) = L_O + α‖δ‖ for δ = Σ c_i τ_i, and ∇L expressed in the τ basis (δ-space gradient = Σ γ_i τ_i). */
export function awdLossGrad(G: Float64Array, N: number, c: Float64Array, alpha: number): { lossO: number; norm: number; loss: number; grad: Float64Array } {
  const A = Array.from({ length: N }, (_, i) => { const a = new Float64Array(N); for (let j = 0; j < N; j++) a[j] = (i === j ? 1 : 0) - c[j]; return a })
  const nrm = A.map((a) => Math.sqrt(Math.max(gdot(G, N, a, a), 0)))
  const grad = new Float64Array(N)
  let sumAbs = 0
  const pairs = (N * (N - 1)) / 2
  for (let i = 0; i < N; i++) for (let j = i + 1; j < N; j++) {
    if (nrm[i] < 1e-6 || nrm[j] < 1e-6) continue
    const cos = gdot(G, N, A[i], A[j]) / (nrm[i] * nrm[j])
    sumAbs += Math.abs(cos)
    const s = Math.sign(cos)
    // ∂|cos|/∂δ = −s·[(a_i + a_j)/(‖a_i‖‖a_j‖) − cos·(a_i/‖a_i‖² + a_j/‖a_j‖²)], times 2/(N(N−1))
    const w = 1 / pairs
    const ci = 1 / (nrm[i] * nrm[j]) - cos / (nrm[i] * nrm[i])
    const cj = 1 / (nrm[i] * nrm[j]) - cos / (nrm[j] * nrm[j])
    for (let k = 0; k < N; k++) grad[k] += -s * w * (ci * A[i][k] + cj * A[j][k])
  }
  const lossO = pairs > 0 ? sumAbs / pairs : 0
  const norm = Math.sqrt(Math.max(gdot(G, N, c, c), 0))
  if (norm > 0) for (let k = 0; k < N; k++) grad[k] += (alpha * c[k]) / norm
  return { lossO, norm, loss: lossO + alpha * norm, grad }
}

export default defineMethod<P>({
  info: {
    name: 'awd',
    title: 'AWD (Adaptive Weight Disentanglement) + Task Arithmetic',
    family: 'data-free',
    description: 'Learns one shared redundant vector δ (gradient descent on the mean |cosine| between the τ_i − δ plus α‖δ‖), removes it from every task vector and merges the disentangled vectors with Task Arithmetic.',
    citation: 'Xiong et al., Multi-Task Model Merging via Adaptive Weight Disentanglement, arXiv 2411.18729 (Eqs. 9–11, Algorithm 1 as quoted by a third-party port; official FarisXiong/AWD has no code); methods.md §16',
    params: [
      { name: 'alpha', type: 'number', default: 0.1, min: 0, max: 100, description: 'α: weight of the ‖δ‖ regulariser', citation: 'AWD §4.3 via port: α = 0.1 [unverified]' },
      { name: 'beta', type: 'number', default: 0.01, min: 0, max: 10, description: 'β: gradient-descent step size for δ', citation: 'AWD §4.3 via port: β = 0.01 [unverified]' },
      { name: 'iterations', type: 'integer', default: 300, min: 0, max: 100000, description: 'gradient-descent iterations', citation: 'AWD §4.3 via port: 300 [unverified]' },
      scalingFactor(0.3, 'TA λ = 0.3 (FusionBench task_arithmetic.yaml); the paper tunes λ on validation', 'λ of the final Task Arithmetic on τ_i − δ'),
    ],
  },
  async merge(job) {
    const p = job.params
    const N = job.pool.models.length
    const G = new Float64Array(N * N)
    await scanTensors(job, 'gram', (s) => {
      const taus = taskVectors(s)
      for (let i = 0; i < N; i++) for (let j = i; j < N; j++) {
        let acc = 0
        const a = taus[i], b = taus[j]
        for (let k = 0; k < a.length; k++) acc += a[k] * b[k]
        G[i * N + j] += acc
        if (j !== i) G[j * N + i] += acc
      }
    })
    const c = new Float64Array(N)
    const curve: number[] = [], norms: number[] = []
    for (let it = 0; it < p.iterations; it++) {
      if (it % 50 === 0) { throwIfCancelled(job.ctx, 'awd'); job.ctx.progress?.('optimise', it / p.iterations) }
      const r = awdLossGrad(G, N, c, p.alpha)
      curve.push(r.lossO); norms.push(r.norm)
      for (let k = 0; k < N; k++) c[k] -= p.beta * r.grad[k]
    }
    const final = awdLossGrad(G, N, c, p.alpha)
    curve.push(final.lossO); norms.push(final.norm)
    job.diag.set('lossCurve', curve)
    job.diag.set('deltaNormCurve', norms)
    job.diag.set('deltaCoefficients', [...c])
    job.diag.set('taskNorms', Array.from({ length: N }, (_, i) => Math.sqrt(G[i * N + i])))
    const w = Array.from(c, (x) => 1 - N * x)
    const lambda = p.scaling_factor
    await writeTensors(job, 'merge', (s) => {
      const taus = taskVectors(s)
      const out = new Float32Array(s.base.length)
      for (let k = 0; k < out.length; k++) {
        let acc = 0
        for (let j = 0; j < N; j++) acc += w[j] * taus[j][k]
        out[k] = s.base[k] + lambda * acc
      }
      return out
    })
  },
})
