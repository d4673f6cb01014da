// DogeTA (methods.md §15, §29; FusionBench doge_ta.py): on the filtered 2-D encoder weights,
// optimise one modification δ per tensor so that the norm-normalised task-vector merge stays close
// to every expert (a row-wise first-order loss), with the gradient projected off the shared
// output-side subspace of the tasks; then merge with a global top-K % mask per task. Everything
// else stays at θ0. Gradients are closed-form; the projection is U_s(U_sᵀg) through BLAS.
// With the native kernels (kernels/native-kernels.ts) the gradient, Adam and SGD loops run in
// the addon with the same arithmetic (bit-identical); the JS loops below are the fallback.
import { activeImplementation, mat, mat64, matmul, type Mat32 } from '../../linalg/index'
import { kernelAddon, kernelThreads } from '../../kernels/native-kernels'
import { throwIfCancelled, tick } from '../../util/task'
import { defineMethod, type MergeJob } from '../types'
import { paramError } from '../schema'
import { FB } from './_params'
import { globalThresholds, keepFraction } from './_ties-core'
import { placeCols, topSvd } from './_lowrank'
import { Scratch, taskVectors, writeTensors } from './_stream'

interface P { lamda: number; subspace: number; K: number; steps: number; lr: number; variant: 'adam' | 'sgd'; [k: string]: unknown }

/** FusionBench's filter: "encoder" in the key, "layer_norm" not, "weight" in it (2-D q/k/v/out/fc1/fc2). */
export const dogeFilter = (name: string, shape: number[]): boolean =>
  name.includes('encoder') && !name.includes('layer_norm') && name.includes('weight') && shape.length === 2

/** The per-tensor problem: V_j (out×in), λ_j, and the constant part of e_{j,o}. */
export class DogeProblem {
  readonly lambdas: number[]
  readonly Lambda: number
  private readonly c: Float64Array // c[j·out + o] = ‖V_j[o]‖² − ⟨V_j[o], S[o]⟩
  private e: Float64Array | null = null // the native kernel's residual buffer, reused across steps
  constructor(readonly V: Float32Array[], readonly rows: number, readonly cols: number, eta: number) {
    this.lambdas = V.map((v) => { let s = 0; for (let k = 0; k < v.length; k++) s += v[k] * v[k]; return s > 0 ? eta / Math.sqrt(s) : 0 })
    this.Lambda = this.lambdas.reduce((a, b) => a + b, 0)
    const S = new Float64Array(rows * cols)
    V.forEach((v, j) => { const l = this.lambdas[j]; for (let k = 0; k < S.length; k++) S[k] += l * v[k] })
    this.c = new Float64Array(V.length * rows)
    V.forEach((v, j) => {
      for (let o = 0; o < rows; o++) {
        let a = 0
        for (let i = o * cols, e = i + cols; i < e; i++) a += v[i] * (v[i] - S[i])
        this.c[j * rows + o] = a
      }
    })
  }

  /** e_{j,o} = c_{j,o} − Λ⟨V_j[o], δ[o]⟩ */
  residuals(delta: Float32Array): Float64Array {
    const { rows, cols, V, Lambda } = this
    const addon = kernelAddon()
    if (addon) {
      const e = new Float64Array(V.length * rows)
      addon.dogeGradient(V, delta, this.c, null, rows, cols, Lambda, e, kernelThreads())
      return e
    }
    const e = new Float64Array(V.length * rows)
    V.forEach((v, j) => {
      for (let o = 0; o < rows; o++) {
        let a = 0
        for (let i = o * cols, end = i + cols; i < end; i++) a += v[i] * delta[i]
        e[j * rows + o] = this.c[j * rows + o] - Lambda * a
      }
    })
    return e
  }

  loss(delta: Float32Array): number { let s = 0; for (const x of this.residuals(delta)) s += x * x; return s }

  /**
   * ∂L/∂δ[o,:] = −2Λ Σ_j e_{j,o} V_j[o,:] into `out`; returns L. Same arithmetic as `residuals`
   * (each dot product accumulated in float64 in index order, the task sum in task order), fused
   * row by row in a loop generated for N: the N row segments are read once for the dot products
   * (N independent accumulators) and once more, from cache, for the gradient row.
   */
  gradient(delta: Float32Array, out: Float32Array): number {
    const addon = kernelAddon()
    if (addon) {
      this.e ??= new Float64Array(this.V.length * this.rows)
      return addon.dogeGradient(this.V, delta, this.c, out, this.rows, this.cols, this.Lambda, this.e, kernelThreads())
    }
    return rowKernel(this.V.length)(this.V, delta, this.c, out, this.rows, this.cols, this.Lambda)
  }
}

type RowKernel = (V: Float32Array[], delta: Float32Array, c: Float64Array, out: Float32Array, rows: number, cols: number, Lambda: number) => number
const rowKernels = new Map<number, RowKernel>()

/** The fused residual + gradient loop for N tasks (generated once per N: locals, no inner array-of-arrays). */
function rowKernel(N: number): RowKernel {
  let k = rowKernels.get(N)
  if (k) return k
  const J = Array.from({ length: N }, (_, j) => j)
  const body = `
    ${J.map((j) => `const v${j} = V[${j}];`).join(' ')}
    const scale = -2 * Lambda;
    let loss = 0;
    for (let o = 0; o < rows; o++) {
      const b = o * cols, end = b + cols;
      ${J.map((j) => `let a${j} = 0;`).join(' ')}
      for (let i = b; i < end; i++) { const d = delta[i]; ${J.map((j) => `a${j} += v${j}[i] * d;`).join(' ')} }
      ${J.map((j) => `const e${j} = c[${j} * rows + o] - Lambda * a${j}; loss += e${j} * e${j};`).join(' ')}
      for (let i = b; i < end; i++) out[i] = scale * (${J.map((j) => `e${j} * v${j}[i]`).join(' + ')});
    }
    return loss;`
  k = new Function('V', 'delta', 'c', 'out', 'rows', 'cols', 'Lambda', body) as RowKernel
  rowKernels.set(N, k)
  return k
}

/** U_s: the first k_s left singular vectors of the concatenated per-task top-r left bases. */
export function sharedSubspace(V: Float32Array[], rows: number, cols: number, divisor: number): Mat32 {
  const N = V.length
  const m = Math.min(rows, cols)
  const r = Math.floor(m / N)
  const ks = Math.floor(m / divisor)
  const Ubar = mat64(rows, m)
  V.forEach((v, t) => { if (r > 0) placeCols(Ubar, topSvd(mat(rows, cols, v), r).U, r, t * r) })
  const Us = topSvd(Ubar, Math.min(ks, m)).U
  return mat(Us.rows, Us.cols, Float32Array.from(Us.data))
}

/** g ← g − U_s(U_sᵀ g), in place. */
export function projectOut(Us: Mat32, g: Float32Array, rows: number, cols: number): void {
  if (Us.cols === 0) return
  const p = sharedComponent(Us, g, rows, cols)
  for (let k = 0; k < g.length; k++) g[k] -= p[k]
}

/** Reusable outputs of the two products of `sharedComponent` (U_sᵀg: k_s×cols, U_s(U_sᵀg): rows×cols). */
interface ProjectionBuffers { t: Float32Array; p: Float32Array }

/**
 * U_s(U_sᵀ g) (rows×cols, float32 sgemm): k_s ≪ rows, so P = U_sU_sᵀ is never formed. With
 * `into` and the native BLAS, the same two sgemm calls write into the given buffers instead of
 * allocating (and zeroing) a rows×cols array per step.
 */
function sharedComponent(Us: Mat32, g: Float32Array, rows: number, cols: number, into?: ProjectionBuffers): Float32Array {
  const addon = into && activeImplementation() === 'native' ? kernelAddon() : null
  if (addon && into) {
    addon.sgemmInto(Us.data, g, into.t, Us.cols, cols, rows, true, false)
    addon.sgemmInto(Us.data, into.t, into.p, rows, cols, Us.cols, false, false)
    return into.p
  }
  return matmul(Us, matmul(Us, mat(rows, cols, g), { transA: true })).data as Float32Array
}

/** PyTorch Adam (β = 0.9/0.999, eps 1e-8, no weight decay), float32 state, torch's update order. */
export class Adam {
  private readonly m: Float32Array
  private readonly v: Float32Array
  private t = 0
  constructor(n: number, private readonly lr: number, private readonly b1 = 0.9, private readonly b2 = 0.999, private readonly eps = 1e-8) {
    this.m = new Float32Array(n); this.v = new Float32Array(n)
  }
  step(param: Float32Array, g: Float32Array): void { this.stepProjected(param, g, null) }
  /**
   * One step with the gradient g − p (p = its shared-subspace component, or null for g itself),
   * the difference rounded to float32 as an in-place `g -= p` would: the projection and the
   * update share one pass over memory.
   */
  stepProjected(param: Float32Array, g: Float32Array, p: Float32Array | null): void {
    this.t++
    const { m, v, b1, b2, eps } = this
    const bc1 = 1 - b1 ** this.t, bc2 = 1 - b2 ** this.t
    const stepSize = this.lr / bc1, bc2s = Math.sqrt(bc2)
    const w1 = Math.fround(1 - b1), w2 = Math.fround(1 - b2)
    const addon = kernelAddon()
    if (addon) { addon.adamStep(param, g, p, m, v, stepSize, bc2s, w1, w2, b2, eps, kernelThreads()); return }
    const n = param.length
    for (let k = 0; k < n; k++) {
      const gk = p === null ? g[k] : Math.fround(g[k] - p[k])
      const mk = Math.fround(m[k] + w1 * (gk - m[k])) // exp_avg.lerp_(grad, 1 − β1)
      const vk = Math.fround(v[k] * b2 + w2 * gk * gk)
      m[k] = mk; v[k] = vk
      const denom = Math.fround(Math.sqrt(vk) / bc2s) + eps
      param[k] = param[k] - stepSize * (mk / denom)
    }
  }
}

/** Runs the projected optimisation of one tensor; returns δ and its loss curve. */
export function optimiseDelta(prob: DogeProblem, Us: Mat32, steps: number, lr: number, variant: 'adam' | 'sgd', onStep?: (i: number) => void): { delta: Float32Array; losses: number[] } {
  const n = prob.rows * prob.cols
  const delta = new Float32Array(n), g = new Float32Array(n)
  const adam = variant === 'adam' ? new Adam(n, lr) : null
  const losses: number[] = []
  const lr32 = lr
  const reuse = Us.cols > 0 && kernelAddon() !== null && activeImplementation() === 'native'
  const buffers: ProjectionBuffers | undefined = reuse ? { t: new Float32Array(Us.cols * prob.cols), p: new Float32Array(n) } : undefined
  for (let s = 0; s < steps; s++) {
    onStep?.(s)
    losses.push(prob.gradient(delta, g))
    const p = Us.cols === 0 ? null : sharedComponent(Us, g, prob.rows, prob.cols, buffers)
    if (adam) { adam.stepProjected(delta, g, p); continue }
    const addon = kernelAddon()
    if (addon) { addon.sgdStep(delta, g, p, lr32, kernelThreads()); continue }
    if (p) for (let k = 0; k < n; k++) delta[k] -= lr32 * Math.fround(g[k] - p[k])
    else for (let k = 0; k < n; k++) delta[k] -= lr32 * g[k]
  }
  losses.push(prob.loss(delta))
  return { delta, losses }
}

/** ‖U_sᵀδ‖/‖δ‖: how much of δ lies in the shared subspace (0 for SGD, O(0.1–0.5) under Adam). */
function leak(Us: Mat32, delta: Float32Array, rows: number, cols: number): number {
  let dn = 0
  for (const x of delta) dn += x * x
  if (dn === 0 || Us.cols === 0) return 0
  const p = matmul(Us, mat(rows, cols, delta), { transA: true })
  let pn = 0
  for (const x of p.data) pn += x * x
  return Math.sqrt(pn / dn)
}

export default defineMethod<P>({
  info: {
    name: 'doge_ta',
    title: 'DogeTA (DOGE on Task Arithmetic)',
    family: 'data-free',
    description: 'Per filtered encoder weight: norm-normalised task-arithmetic coefficients λ_i = η/‖τ_i‖, a shared modification δ optimised (400 Adam steps) to keep the merge close to every expert with its gradient projected off the tasks’ shared subspace, and a global top-K % magnitude mask per task. All other tensors stay at θ0.',
    citation: `Wei et al., Modeling Multi-Task Model Merging as Adaptive Projective Gradient Descent (DOGE), ICML 2025, arXiv 2501.01230; ${FB} method/doge_ta/doge_ta.py, config/method/doge_ta/doge_ta.yaml; methods.md §15, §29`,
    params: [
      { name: 'lamda', type: 'number', default: 0.07, min: 0, max: 100, description: 'η: per-task, per-tensor coefficient λ_i = η/‖τ_i‖_F', citation: `${FB} doge_ta.yaml (lamda: 0.07)` },
      { name: 'subspace', type: 'integer', default: 6, min: 1, max: 100000, description: 'divisor of the shared subspace size: k_s = ⌊min(out, in)/subspace⌋ (not a count)', citation: `${FB} doge_ta.py (subspace: 6)` },
      { name: 'K', type: 'number', default: 30, min: 0, max: 100, description: 'top-K % magnitude mask per task over all filtered tensors (a fraction when ≤ 1); must give 0 < K < 100 %', citation: `${FB} doge_ta.yaml (K: 30)` },
      { name: 'steps', type: 'integer', default: 400, min: 0, max: 100000, description: 'optimisation steps per tensor (hard-coded 400 in FusionBench)', citation: `${FB} doge_ta.py` },
      { name: 'lr', type: 'number', default: 1e-4, min: 0, max: 10, description: 'learning rate of the δ optimiser (hard-coded 1e-4 in FusionBench)', citation: `${FB} doge_ta.py (Adam lr 1e-4)` },
      { name: 'variant', type: 'enum', default: 'adam', choices: ['adam', 'sgd'], description: 'adam: FusionBench (Adam breaks the projection); sgd: the paper’s exact projected gradient descent', citation: 'methods.md §15 Pitfalls' },
    ],
  },
  check(p) {
    const k = keepFraction('doge_ta', p.K, 'K')
    if (k <= 0) throw paramError('doge_ta', 'K', 'must be > 0')
  },
  async merge(job: MergeJob<P>) {
    const p = job.params
    const keep = keepFraction('doge_ta', p.K, 'K')
    const scratch = new Scratch()
    const N = job.pool.models.length
    const { thresholds, d } = await globalThresholds(job, keep, (s) => taskVectors(s, scratch.get(N, s.base.length)), dogeFilter, 'mask thresholds')
    job.diag.set('maskThresholds', thresholds)
    job.diag.set('filteredParameters', d)
    const kept = new Array(job.pool.models.length).fill(0)
    await writeTensors(job, 'merge', async (s) => {
      const [rows, cols] = s.shape
      const V = taskVectors(s)
      const t0 = performance.now()
      const prob = new DogeProblem(V, rows, cols, p.lamda)
      const Us = sharedSubspace(V, rows, cols, p.subspace)
      const t1 = performance.now()
      const { delta, losses } = optimiseDelta(prob, Us, p.steps, p.lr, p.variant, (i) => {
        if (i % 25 === 0) { throwIfCancelled(job.ctx, 'doge_ta'); job.ctx.progress?.('optimise', i / Math.max(p.steps, 1), s.name) }
      })
      const t2 = performance.now()
      await tick()
      const out = Float32Array.from(s.base)
      V.forEach((v, t) => {
        const l = prob.lambdas[t], q = thresholds[t]
        for (let k = 0; k < out.length; k++) if (Math.abs(v[k]) >= q) { out[k] += l * (v[k] + delta[k]); kept[t]++ }
      })
      let dn = 0
      for (const x of delta) dn += x * x
      job.diag.tensor(s.name, { lambda: prob.lambdas, deltaNorm: Math.sqrt(dn), subspaceLeak: leak(Us, delta, rows, cols), lossFirst: losses[0], lossLast: losses[losses.length - 1], subspaceRank: Us.cols, subspaceSeconds: (t1 - t0) / 1000, optimiseSeconds: (t2 - t1) / 1000 })
      return out
    }, (name, shape) => !dogeFilter(name, shape), { reuseInputs: true }) // the callback copies θ0 and keeps only its own arrays
    job.diag.set('keptFraction', kept.map((k) => k / Math.max(d, 1)))
  },
})
