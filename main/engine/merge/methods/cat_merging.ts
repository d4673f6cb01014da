// CAT Merging (Sun et al., ICML 2025; methods.md §22): conflict-aware trimming of each task vector
// before Task Arithmetic. For every other task k, the components of τ_i that most perturb task
// k's features (and least matter for task i's own) are removed: linear weights by projecting out
// the top eigenvectors of C_k = Σ_{i≠k} τ_i (G_k − λG_i) τ_iᵀ (output side), LayerNorm scales and
// shift parameters by masking their top dimensions. θ = θ0 + α Σ_k τ'_k. Paper version by
// default; the published port's behaviours are options.
import { mat64, type Mat64 } from '../../linalg/index'
import { clipParamShapes, VM } from '../../model/config'
import { MemorySource, type MemTensor } from '../../tensors/source'
import { tick, throwIfCancelled } from '../../util/task'
import { requireData } from '../data'
import { defineMethod, type MergeJob } from '../types'
import { linearUnits, normUnits } from './_data-model'
import { deltaF64, forEachTaskStats, requireTensors } from './_data-features'
import { conflictBasis, conflictMatrix, lnScore, maskOut, projectOut, topC, trimShift } from './_data-cat'
import { writeTensors } from './_stream'

interface P {
  scaling_factor: number; num_exemplars: number; basis_size: number; ln_basis_size: number; shift_basis_size: number
  lambda: number; lambda_ln: number; feature_model: 'expert' | 'scaled_expert'; norm_rescale: boolean; shift_rule: 'paper' | 'port'; batch_size: number
  [k: string]: unknown
}

const PAPER = 'Sun et al., CAT Merging: A Training-Free Approach for Resolving Conflicts in Model Merging, ICML 2025, arXiv 2505.06977'

/** θ0 + α·τ_k over the tower's tensors (the port's feature model). */
async function scaledExpert(job: MergeJob, k: number, alpha: number, names: string[]): Promise<MemorySource> {
  const m = new Map<string, MemTensor>()
  for (const n of names) {
    const b = await job.pool.base.readF32(n), t = await job.pool.models[k].readF32(n)
    m.set(n, { shape: job.pool.base.meta(n).shape, data: Float32Array.from(b, (v, i) => v + Math.fround(alpha * (t[i] - v))) })
  }
  return new MemorySource(m, `${job.pool.models[k].label} (α-scaled)`)
}

export default defineMethod<P>({
  info: {
    name: 'cat_merging',
    title: 'CAT Merging',
    family: 'data-dependent',
    description: 'Conflict-aware trimming: removes from each task vector the directions that most disturb other tasks’ features on a few unlabeled exemplars (projection for linear weights, masks for LayerNorm scales and shifts), then adds the trimmed vectors.',
    citation: `${PAPER}; methods.md §22`,
    params: [
      { name: 'scaling_factor', type: 'number', default: 0.4, min: -10, max: 10, description: 'α: θ = θ0 + α·Σ τ′ (the paper says it must be tuned; 0.4 is the port default)', citation: `${PAPER}; port default` },
      { name: 'num_exemplars', type: 'integer', default: 2, min: 1, max: 100000, description: 'unlabeled training exemplars per task (2–3 in the paper)', citation: `${PAPER} §5` },
      { name: 'basis_size', type: 'number', default: 2, min: -1, max: 100000, description: 'c for linear weights: ≥ 1 a count, 0 < c < 1 an energy share, −1 every positive eigenvalue, 0 none (2 for B/32, 3 for L/14)', citation: `${PAPER} §5; port flags` },
      { name: 'ln_basis_size', type: 'integer', default: 2, min: 0, max: 100000, description: 'dimensions masked per task in LayerNorm scales (paper: match c)', citation: PAPER },
      { name: 'shift_basis_size', type: 'integer', default: 2, min: 0, max: 100000, description: 'dimensions masked per task in biases, LayerNorm shifts and class_embedding (paper: match c)', citation: PAPER },
      { name: 'lambda', type: 'number', default: 5, min: 0, max: 1e6, description: 'λ: weight of the intra-task deviation penalty for linear weights (not stated in the paper; port 5)', citation: 'methods.md §22 defaults' },
      { name: 'lambda_ln', type: 'number', default: 10, min: 0, max: 1e6, description: 'λ for LayerNorm scales (port 10)', citation: 'methods.md §22 defaults' },
      { name: 'feature_model', type: 'enum', default: 'expert', choices: ['expert', 'scaled_expert'], description: 'features from the expert θ0 + τ_k (paper, Algorithm 1) or from θ0 + α·τ_k (port)', citation: 'methods.md §22' },
      { name: 'norm_rescale', type: 'boolean', default: true, description: 'after each projection/mask, rescale τ_i to its previous norm (in the original code, not the paper)', citation: 'methods.md §22.1 step 4' },
      { name: 'shift_rule', type: 'enum', default: 'paper', choices: ['paper', 'port'], description: 'paper: mask where other tasks shift most; port: each task’s own largest shifts are zeroed in the others', citation: 'methods.md §22.3' },
      { name: 'batch_size', type: 'integer', default: 16, min: 1, max: 4096, description: 'images per forward while capturing features (does not change the result beyond float rounding)', citation: 'engine setting (methods.md §0.4: statistics streamed per batch)' },
    ],
    presets: [{ name: 'published port', params: { basis_size: 4, ln_basis_size: 4, shift_basis_size: 4, feature_model: 'scaled_expert', shift_rule: 'port' }, note: 'the port’s defaults (its smallest-eigenvalue selection is not reproduced: the paper’s largest is used)' }],
  },
  async merge(job) {
    const p = job.params
    const data = requireData(job.method, job.data, job.pool.models.length)
    const cfg = data.config
    const N = job.pool.models.length
    const lins = linearUnits(cfg), lns = normUnits(cfg)
    requireTensors(job, lins.map((u) => [u.weight, u.out * u.in]))
    const towerNames = [...clipParamShapes(cfg).keys()]
    const grams: Array<Map<string, Mat64>> = [], energies: Array<Map<string, Float64Array>> = []
    for (let k = 0; k < N; k++) { grams.push(new Map()); energies.push(new Map()) }
    const scaled = p.feature_model === 'scaled_expert' ? await Promise.all(job.pool.models.map((_, k) => scaledExpert(job, k, p.scaling_factor, towerNames))) : null
    await forEachTaskStats(job, { data, n: p.num_exemplars, grams: true, norms: true, batchSize: p.batch_size, model: scaled ? (k) => scaled[k] : undefined }, (k, st) => {
      for (const u of lins) { const g = st.grams.get(u.unit)!; grams[k].set(u.unit, mat64(u.in, u.in, g.gram)) }
      for (const u of lns) energies[k].set(u.unit, st.norms.get(u.unit)!.sq)
    })
    const trimmed = new Map<string, Float64Array[]>()
    const basisDiag: Record<string, number[]> = {}
    // 22.1 linear weights
    for (let ui = 0; ui < lins.length; ui++) {
      const u = lins[ui]
      throwIfCancelled(job.ctx, `${job.method} (linear)`)
      job.ctx.progress?.('trim linear', ui / lins.length, u.unit)
      const taus: Mat64[] = []
      for (let k = 0; k < N; k++) taus.push(mat64(u.out, u.in, await deltaF64(job, k, u.weight)))
      const G = grams.map((g) => g.get(u.unit)!)
      const bases: Mat64[] = []
      for (let k = 0; k < N; k++) bases.push((await conflictBasis(await conflictMatrix(taus, G, k, p.lambda), p.basis_size)).B)
      for (let i = 0; i < N; i++) for (let k = 0; k < N; k++) if (k !== i) await projectOut(taus[i], bases[k], p.norm_rescale)
      trimmed.set(u.weight, taus.map((t) => t.data))
      basisDiag[u.weight] = bases.map((b) => b.cols)
      await tick()
    }
    job.ctx.progress?.('trim linear', 1)
    // 22.2 LayerNorm scales
    for (const u of lns) {
      const taus = await Promise.all(job.pool.models.map((_, k) => deltaF64(job, k, u.weight)))
      const E = energies.map((e) => e.get(u.unit)!)
      const masks = taus.map((_, k) => topC(lnScore(taus, E, k, p.lambda_ln), p.ln_basis_size))
      const out = taus.map((t) => Float64Array.from(t))
      for (let i = 0; i < N; i++) for (let k = 0; k < N; k++) if (k !== i) maskOut(out[i], masks[k], p.norm_rescale)
      trimmed.set(u.weight, out)
    }
    // 22.3 shift parameters
    const shifts = [...lins.map((u) => u.bias), ...lns.map((u) => u.bias), `${VM}.embeddings.class_embedding`]
    for (const name of shifts) {
      const taus = await Promise.all(job.pool.models.map((_, k) => deltaF64(job, k, name)))
      trimmed.set(name, trimShift(taus, p.shift_basis_size, p.shift_rule))
    }
    const alpha = Math.fround(p.scaling_factor)
    await writeTensors(job, 'write', (s) => {
      const t = trimmed.get(s.name)
      const out = Float32Array.from(s.base)
      for (let k = 0; k < N; k++) {
        const v = t?.[k], m = s.models[k]
        for (let i = 0; i < out.length; i++) out[i] += Math.fround(alpha * Math.fround(v ? v[i] : m[i] - s.base[i]))
      }
      return out
    })
    job.diag.set('basisSizes', basisDiag)
    job.diag.set('exemplars', { perTask: p.num_exemplars, split: 'train', featureModel: p.feature_model === 'expert' ? 'θ0 + τ_k (paper)' : 'θ0 + α·τ_k (port)', data: data.name })
  },
})
