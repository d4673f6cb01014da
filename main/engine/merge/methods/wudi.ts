// WUDI-Merging (methods.md §17): per matrix, Adam on τ_m from Σ τ_t to reduce the interference
// Σ_t ‖(τ_m − τ_t) τ_tᵀ‖²_F / ‖τ_t‖²_F. Its gradient is 2(τ_m A − C) with A = Σ_t τ_tᵀτ_t/‖τ_t‖²
// and C = Σ_t τ_t A_t, both fixed, so each step is one BLAS product (through A when in ≤ N·out,
// else through the stacked task vectors).
import { mat, matmul, pinvPsd, type Mat32 } from '../../linalg/index'
import { throwIfCancelled, tick } from '../../util/task'
import { defineMethod } from '../types'
import { keyList } from '../schema'
import { FB, excludeKeys } from './_params'
import { Adam } from './doge_ta'
import { inKeys, runningMean, taskVectors, writeTensors } from './_stream'

interface P { iter_num: number; lr: number; exclude_keys: string; variant: 'fusion_bench' | 'official'; [k: string]: unknown }

/** The fixed parts of the WUDI objective for one matrix (zero task vectors are left out). */
export class WudiProblem {
  private readonly T: Mat32 // stacked τ_t/‖τ_t‖, (N'·out) × in
  private readonly A: Mat32 | null
  readonly C: Float32Array
  constructor(taus: Float32Array[], readonly rows: number, readonly cols: number) {
    const live = taus.filter((t) => t.some((x) => x !== 0))
    const Tn = new Float32Array(live.length * rows * cols)
    live.forEach((t, i) => {
      let s = 0
      for (const x of t) s += x * x
      const inv = 1 / Math.sqrt(s)
      for (let k = 0; k < t.length; k++) Tn[i * t.length + k] = t[k] * inv
    })
    this.T = mat(live.length * rows, cols, Tn)
    this.A = cols <= live.length * rows ? (matmul(this.T, this.T, { transA: true }) as Mat32) : null
    // C = Σ_t τ_t A_t with A_t = τ̂_tᵀτ̂_t (τ̂ = τ/‖τ‖), computed as Σ_t (τ_t τ̂_tᵀ) τ̂_t (out×out first)
    this.C = new Float32Array(rows * cols)
    live.forEach((t, i) => {
      const Ti = mat(rows, cols, Tn.subarray(i * rows * cols, (i + 1) * rows * cols))
      const tm = mat(rows, cols, t)
      const r = matmul(matmul(tm, Ti, { transB: true }), Ti)
      for (let k = 0; k < this.C.length; k++) this.C[k] += r.data[k]
    })
  }
  /** τ_m A */
  applyA(tm: Float32Array): Float32Array {
    const X = mat(this.rows, this.cols, tm)
    if (this.A) return matmul(X, this.A).data as Float32Array
    return matmul(matmul(X, this.T, { transB: true }), this.T).data as Float32Array
  }
  /** ∇L = 2(τ_m A − C), written into g; returns L up to the constant Σ_t ‖τ_t‖² term. */
  gradient(tm: Float32Array, g: Float32Array): void {
    const a = this.applyA(tm)
    for (let k = 0; k < g.length; k++) g[k] = 2 * (a[k] - this.C[k])
  }
  /** The closed-form minimiser τ* = C·A⁺ (reference only; WUDI itself does not reach it). */
  closedForm(): Float32Array {
    const A = this.A ?? (matmul(this.T, this.T, { transA: true }) as Mat32)
    return Float32Array.from(matmul(mat(this.rows, this.cols, this.C), pinvPsd(A)).data)
  }
}

/** Block linear weights of HF CLIP (the official code's in_proj/out_proj/c_fc/c_proj). */
const blockLinear = (name: string, shape: number[]): boolean =>
  shape.length === 2 && /encoder\.layers\.\d+\.(self_attn\.(q|k|v|out)_proj|mlp\.fc[12])\.weight$/.test(name)

export default defineMethod<P>({
  info: {
    name: 'wudi',
    title: 'WUDI-Merging',
    family: 'data-free',
    description: 'Per weight matrix, starts from the Task Arithmetic sum and runs Adam to shrink each task’s interference ‖(τ_m − τ_t)τ_tᵀ‖²/‖τ_t‖² (the merged update should act like τ_t on τ_t’s own input directions). FusionBench: all 2-D tensors, others take the mean task vector; scale 1.',
    citation: `Cheng et al., Whoever Started the Interference Should End It (WUDI-Merging), ICML 2025; official nathanielyvo/WUDI-Merging vit/wudi_main.py; ${FB} wudi; methods.md §17`,
    params: [
      { name: 'iter_num', type: 'integer', default: 400, min: 0, max: 100000, description: 'Adam steps per matrix (official code: 300)', citation: `${FB} wudi (iter_num: 400)` },
      { name: 'lr', type: 'number', default: 1e-5, min: 0, max: 10, description: 'Adam learning rate', citation: 'WUDI official and FusionBench (lr 1e-5)' },
      excludeKeys(`${FB} wudi (exclude_keys)`),
      { name: 'variant', type: 'enum', default: 'fusion_bench', choices: ['fusion_bench', 'official'], description: 'fusion_bench: every 2-D tensor optimised, others mean τ; official: only block linear weights, everything else θ0', citation: 'methods.md §17 Variants' },
    ],
  },
  async merge(job) {
    const p = job.params
    const excluded = inKeys(keyList(p.exclude_keys))
    const target = (n: string, s: number[]): boolean => !excluded(n, s) && (p.variant === 'official' ? blockLinear(n, s) : s.length === 2)
    await writeTensors(job, 'merge', async (s) => {
      const taus = taskVectors(s)
      if (!target(s.name, s.shape)) {
        if (p.variant === 'official') return Float32Array.from(s.base)
        const m = runningMean(taus)
        const out = new Float32Array(m.length)
        for (let k = 0; k < out.length; k++) out[k] = s.base[k] + m[k]
        return out
      }
      const [rows, cols] = s.shape
      const prob = new WudiProblem(taus, rows, cols)
      const tm = new Float32Array(rows * cols)
      for (const t of taus) for (let k = 0; k < tm.length; k++) tm[k] += t[k]
      const start = Float32Array.from(tm)
      const g = new Float32Array(tm.length)
      const adam = new Adam(tm.length, p.lr)
      for (let it = 0; it < p.iter_num; it++) {
        if (it % 25 === 0) { throwIfCancelled(job.ctx, 'wudi'); job.ctx.progress?.('optimise', it / p.iter_num, s.name) }
        prob.gradient(tm, g)
        adam.step(tm, g)
      }
      await tick()
      let moved = 0
      for (let k = 0; k < tm.length; k++) moved = Math.max(moved, Math.abs(tm[k] - start[k]))
      job.diag.tensor(s.name, { maxChange: moved })
      const out = new Float32Array(tm.length)
      for (let k = 0; k < out.length; k++) out[k] = s.base[k] + tm[k]
      return out
    })
  },
})
