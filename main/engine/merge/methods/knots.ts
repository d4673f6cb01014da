// KnOTS (methods.md §14; Stoica et al., ICLR 2025): per adapted matrix, the task updates ΔW_t are
// concatenated side by side and decomposed once, C = [ΔW_1 … ΔW_N] = U·S·Vᵀ (fp64), so every task
// lives in the same left basis U with its own coordinates R_t = S·V_tᵀ. TIES then merges the R_t
// (global top-K % per task over all layers, sign by the summed values, disjoint mean) and the merged
// update is U·R_m. Matrices outside `target_modules` are not merged (θ0), as in KnOTS.
//
// The spec's inputs are LoRA adapters, ΔW_t = (α/r)·B_t·A_t. Amalgam pools are full checkpoints, so
// ΔW_t = θ_t − θ0 of the target matrices: for an adapter merged into its base (PEFT
// merge_and_unload) that is the same matrix up to float32 rounding, and for a full fine-tune it is
// the full-rank update (KnOTS's procedure applies unchanged; only its rank ≤ min(out, N·in) grows).
//
// Memory: U (fp64) and the N coordinate blocks R_t (float32) of every target matrix are held from
// the decomposition pass to the merge (for CLIP ViT-B/32's 48 attention matrices, 8 tasks: ≈ 0.9 GB
// of R and 0.2 GB of U), because the TIES thresholds are global over all of them.
import { AmalgamError } from '#common/errors'
import { mat64, matmul, svd, type Mat64 } from '../../linalg/index'
import { throwIfCancelled, tick } from '../../util/task'
import { defineMethod, type MergeJob } from '../types'
import { keyList, paramError } from '../schema'
import { disjointMerge, massSum, signBalance, trimInPlace, trimRank } from './_ties-core'
import { floatNames, writeTensors } from './_stream'
import { kthSmallestAbs } from '../../kernels/select'

interface P { topK: number; scaling_coeffs: number; merging_type: 'mean' | 'sum'; target_modules: string; svd_cutoff: number; [k: string]: unknown }

const KNOTS = 'Stoica et al., Model merging with SVD to tie the KnOTS, ICLR 2025; gstoica27/KnOTS task_merger.py / merging_functions.py; methods.md §14'

/** A 2-D weight whose module name (the path segment before `.weight`) is one of the targets. */
export function knotsTarget(modules: string[]): (name: string, shape: number[]) => boolean {
  const set = new Set(modules)
  return (name, shape) => {
    if (shape.length !== 2 || !name.endsWith('.weight')) return false
    const parts = name.split('.')
    return set.has(parts[parts.length - 2])
  }
}

/** One matrix decomposed: the shared left basis (out × r) and each task's coordinates (r × in). */
interface Decomposed { name: string; out: number; inp: number; U: Mat64; R: Float32Array[]; sigma: number[] }

/**
 * C = [ΔW_1 … ΔW_N] (out × N·in) in fp64, SVD, components with σ ≤ cutoff dropped;
 * R_t = diag(S)·V_tᵀ where V_tᵀ is the t-th block of in columns of Vᵀ.
 */
export function knotsDecompose(name: string, deltas: Float64Array[], out: number, inp: number, cutoff: number): Decomposed {
  const N = deltas.length
  const C = new Float64Array(out * N * inp)
  for (let t = 0; t < N; t++) {
    const d = deltas[t]
    for (let o = 0; o < out; o++) C.set(d.subarray(o * inp, (o + 1) * inp), o * N * inp + t * inp)
  }
  const f = svd(mat64(out, N * inp, C))
  let r = 0
  while (r < f.S.length && f.S[r] > cutoff) r++
  const U = mat64(out, r)
  for (let o = 0; o < out; o++) for (let j = 0; j < r; j++) U.data[o * r + j] = f.U.data[o * f.U.cols + j]
  const R = Array.from({ length: N }, (_, t) => {
    const Rt = new Float32Array(r * inp)
    for (let j = 0; j < r; j++) {
      const s = f.S[j], row = j * N * inp + t * inp
      for (let i = 0; i < inp; i++) Rt[j * inp + i] = s * f.Vt.data[row + i]
    }
    return Rt
  })
  return { name, out, inp, U, R, sigma: Array.from(f.S.subarray(0, Math.min(r, 8))) }
}

/** KnOTS's keep fraction: topK as a percentage (> 1) or a fraction; 100 % keeps everything. */
export function knotsKeep(topK: number): number {
  const k = topK > 1 ? topK / 100 : topK
  if (!(k > 0 && k <= 1)) throw paramError('knots', 'topK', `gives a keep fraction of ${k}; it must be in (0, 1] (a percentage in (0, 100])`)
  return k
}

export default defineMethod<P>({
  info: {
    name: 'knots',
    title: 'KnOTS (TIES in a shared SVD basis)',
    family: 'data-free',
    description: 'Per target matrix, the task updates are concatenated and decomposed together (C = [ΔW_1 … ΔW_N] = U S Vᵀ) so the tasks share the basis U; TIES (global top-K % per task, sign election, disjoint mean) merges their coordinates S·V_tᵀ, and θ = θ0 + α·U·R_m. Other tensors keep θ0. Built for LoRA adapters (merged into full checkpoints here).',
    citation: KNOTS,
    params: [
      { name: 'topK', type: 'number', default: 20, min: 0, max: 100, description: 'TIES keep percentage per task over all target matrices’ coordinates (a fraction when ≤ 1); 100 keeps everything', citation: 'KnOTS configs (topK: 20); methods.md §14' },
      { name: 'scaling_coeffs', type: 'number', default: 0.6, min: -10, max: 10, description: 'α: θ = θ0 + α·U·R_m', citation: 'KnOTS configs (scaling_coeffs: 0.6); methods.md §14' },
      { name: 'merging_type', type: 'enum', default: 'mean', choices: ['mean', 'sum'], description: 'disjoint merge of the agreeing coordinates', citation: 'KnOTS configs (merging_type: mean); methods.md §14' },
      { name: 'target_modules', type: 'string', default: 'q_proj,k_proj,v_proj,out_proj', description: 'comma-separated module names whose .weight matrices are merged (the LoRA targets); everything else keeps θ0', citation: 'KnOTS LoRA config (q, k, v, out_proj of CLIP ViT); methods.md §14' },
      { name: 'svd_cutoff', type: 'number', default: 1e-5, min: 0, max: 1, description: 'singular values ≤ this are dropped from the shared basis', citation: 'methods.md §14 step 3' },
    ],
  },
  check(p) {
    knotsKeep(p.topK)
    if (keyList(p.target_modules).length === 0) throw paramError('knots', 'target_modules', 'must name at least one module (e.g. q_proj,k_proj,v_proj,out_proj)')
  },
  async merge(job: MergeJob<P>) {
    const p = job.params
    const N = job.pool.models.length
    const keep = knotsKeep(p.topK)
    const target = knotsTarget(keyList(p.target_modules))
    const names = floatNames(job, target)
    if (names.length === 0) throw new AmalgamError('POOL_MISMATCH', `knots: no 2-D weight of the base ${job.pool.base.label} belongs to target_modules ${p.target_modules}`)
    // 1. decompose every target matrix (reads θ0 and the N models once per matrix)
    const parts: Decomposed[] = []
    for (const [i, name] of names.entries()) {
      throwIfCancelled(job.ctx, 'knots (decompose)')
      job.ctx.progress?.('decompose', i / names.length, name)
      const [out, inp] = job.pool.base.meta(name).shape
      const base = await job.pool.base.readF32(name)
      const deltas = await Promise.all(job.pool.models.map(async (m) => {
        const x = await m.readF32(name)
        if (x.length !== base.length) throw new AmalgamError('POOL_MISMATCH', `tensor ${name}: model ${m.label} has ${x.length} values but the base has ${base.length}`)
        return Float64Array.from(x, (v, k) => v - base[k])
      }))
      const d = knotsDecompose(name, deltas, out, inp, p.svd_cutoff)
      parts.push(d)
      job.diag.tensor(name, { rank: d.U.cols, sigma: d.sigma })
      await tick()
    }
    // 2. TIES over the coordinates: one global threshold per task, then the majority sign
    const total = parts.reduce((a, d) => a + d.U.cols * d.inp, 0)
    const thresholds = Array.from({ length: N }, (_, t) => {
      if (keep === 1 || total === 0) return 0
      return kthSmallestAbs(parts.map((d) => d.R[t]), trimRank(total, keep))
    })
    const kept = new Array(N).fill(0)
    const masses = parts.map((d) => {
      d.R.forEach((Rt, t) => { kept[t] += trimInPlace(Rt, thresholds[t]) })
      return massSum(d.R)
    })
    const majority = Math.sign(masses.reduce((a, m) => a + signBalance(m), 0))
    // 3. write: target matrices θ0 + α·U·R_m, everything else θ0
    const byName = new Map(parts.map((d, i) => [d.name, i]))
    await writeTensors(job, 'merge', (s) => {
      const i = byName.get(s.name)!
      const d = parts[i]
      const Rm = disjointMerge(d.R, masses[i], majority, p.merging_type)
      const dW = matmul(d.U, mat64(d.U.cols, d.inp, Float64Array.from(Rm))).data
      const out = new Float32Array(s.base.length)
      for (let k = 0; k < out.length; k++) out[k] = s.base[k] + p.scaling_coeffs * dW[k]
      parts[i] = { ...d, R: [], U: mat64(0, 0) } // release as we go
      return out
    }, (n, shape) => !target(n, shape))
    job.diag.set('targets', names.length)
    job.diag.set('thresholds', thresholds)
    job.diag.set('keptFraction', kept.map((k) => k / Math.max(total, 1)))
    job.diag.set('majoritySign', majority)
  },
})
