// LOT Merging (Sun et al., NeurIPS 2025; methods.md §23): per unit, the task-vector update that
// minimises the feature drift of every expert on its own exemplars. Linear weights get the closed
// form T* = (Σ_k τ_k G_k)(Σ_k G_k)⁺ (pseudo-inverse on the input side, torch float32 cutoff),
// LayerNorm scales the energy-weighted mean of τ, everything else the mean of τ; θ = θ0 + λ·T*.
import { AmalgamError } from '#common/errors'
import { mat64, matmulAsync, type Mat64 } from '../../linalg/index'
import { tick, throwIfCancelled } from '../../util/task'
import { requireData } from '../data'
import { defineMethod } from '../types'
import { applyRightPinv, dot, pinvFactor, quadForm } from './_data-linalg'
import { linearUnits, normUnits } from './_data-model'
import { deltaF64, forEachTaskStats, gramGroup, requireTensors } from './_data-features'
import { writeTensors } from './_stream'

interface P { scaling_factor: number; num_exemplars: number; batch_size: number; [k: string]: unknown }

interface LinAcc { A: Mat64; sumTau: Float64Array; c: number }

/** The linear-unit closed form on explicit matrices: T* = (Σ τ_k G_k)(Σ G_k)⁺ (tests, tools). */
export async function lotLinear(taus: Mat64[], grams: Mat64[]): Promise<Mat64> {
  const out = taus[0].rows, inn = taus[0].cols
  const A = mat64(out, inn), S = mat64(inn, inn)
  for (let k = 0; k < taus.length; k++) {
    const tG = (await matmulAsync(taus[k], grams[k])).data
    for (let i = 0; i < tG.length; i++) A.data[i] += tG[i]
    for (let i = 0; i < S.data.length; i++) S.data[i] += grams[k].data[i]
  }
  return applyRightPinv(A, await pinvFactor(S))
}

/** LayerNorm scale: T*[d] = Σ_k s_k[d] τ_k[d] / Σ_k s_k[d] (denominator 0 → 1e-10, as the port). */
export function lotNormScale(taus: ArrayLike<number>[], energies: ArrayLike<number>[]): Float64Array {
  const D = taus[0].length, num = new Float64Array(D), den = new Float64Array(D)
  for (let k = 0; k < taus.length; k++) for (let d = 0; d < D; d++) { num[d] += energies[k][d] * taus[k][d]; den[d] += energies[k][d] }
  return num.map((v, d) => v / (den[d] === 0 ? 1e-10 : den[d]))
}

const PAPER = 'Sun et al., Towards Minimizing Feature Drift in Model Merging: Layer-wise Task Vector Fusion for Adaptive Knowledge Integration (LOT Merging), NeurIPS 2025, arXiv 2505.23859'

export default defineMethod<P>({
  info: {
    name: 'lot_merging',
    title: 'LOT Merging',
    family: 'data-dependent',
    description: 'Closed-form per-layer task-vector fusion that minimises each expert’s feature drift on a few unlabeled training exemplars: T* = (Σ τ_k G_k)(Σ G_k)⁺ for linear weights, energy-weighted mean for LayerNorm scales, mean τ elsewhere.',
    citation: `${PAPER}; methods.md §23`,
    params: [
      { name: 'scaling_factor', type: 'number', default: 1.2, min: -10, max: 10, description: 'λ: θ = θ0 + λ·T* (1.2 for ViT-B/32, 1.5 for ViT-L/14; flat over [1, 1.5])', citation: `${PAPER} §5` },
      { name: 'num_exemplars', type: 'integer', default: 64, min: 1, max: 100000, description: 'unlabeled training-split exemplars per task, drawn with the run seed; features come from each task’s own expert', citation: `${PAPER} (64 recommended; 16 already stable)` },
      { name: 'batch_size', type: 'integer', default: 16, min: 1, max: 4096, description: 'images per forward pass while capturing features (does not change the result beyond float rounding)', citation: 'engine setting (methods.md §0.4: statistics streamed per batch)' },
    ],
    presets: [{ name: 'ViT-L/14 (λ = 1.5)', params: { scaling_factor: 1.5 }, note: 'the paper’s L/14 setting' }],
  },
  async merge(job) {
    const data = requireData(job.method, job.data, job.pool.models.length)
    const cfg = data.config
    const lins = linearUnits(cfg), lns = normUnits(cfg)
    requireTensors(job, [...lins.map((u) => [u.weight, u.out * u.in] as [string, number]), ...lns.map((u) => [u.weight, u.dim] as [string, number])])
    const N = job.pool.models.length
    const lin = new Map<string, LinAcc>()
    const S = new Map<string, Mat64>()
    const lnStats = new Map<string, { taus: Float64Array[]; energies: Float64Array[] }>()
    let tokens = 0
    await forEachTaskStats(job, { data, n: job.params.num_exemplars, grams: true, norms: true, batchSize: job.params.batch_size }, async (k, st) => {
      for (const u of lins) {
        throwIfCancelled(job.ctx, `${job.method} (accumulate)`)
        const g = st.grams.get(u.unit)
        if (!g || g.dim !== u.in) throw new AmalgamError('INTERNAL', `LOT: no input Gram captured for ${u.unit}`)
        const grp = gramGroup(u.unit)
        if (grp === u.unit) {
          const s = S.get(grp) ?? mat64(u.in, u.in)
          for (let i = 0; i < s.data.length; i++) s.data[i] += g.gram[i]
          S.set(grp, s)
        }
        const tau = await deltaF64(job, k, u.weight)
        const tG = (await matmulAsync(mat64(u.out, u.in, tau), mat64(u.in, u.in, g.gram))).data
        let a = lin.get(u.unit)
        if (!a) { a = { A: mat64(u.out, u.in), sumTau: new Float64Array(u.out * u.in), c: 0 }; lin.set(u.unit, a) }
        for (let i = 0; i < tG.length; i++) { a.A.data[i] += tG[i]; a.sumTau[i] += tau[i] }
        a.c += dot(tG, tau)
        await tick()
      }
      for (const u of lns) {
        const s = st.norms.get(u.unit)
        if (!s) throw new AmalgamError('INTERNAL', `LOT: no normalised-input statistics captured for ${u.unit}`)
        // D values per task: kept per task and combined by lotNormScale at the end
        const e = lnStats.get(u.unit) ?? { taus: [], energies: [] }
        e.taus.push(await deltaF64(job, k, u.weight)); e.energies.push(s.sq)
        lnStats.set(u.unit, e)
      }
      tokens += st.grams.get(lins[0].unit)?.rows ?? 0
    })

    // closed forms; drift = Σ_k ‖X_k (T − τ_k)ᵀ‖² = tr(T S Tᵀ) − 2⟨T, A⟩ + Σ_k tr(τ_k G_k τ_kᵀ)
    const merged = new Map<string, Float64Array>()
    const perLayer: Array<Record<string, unknown>> = []
    let driftMean = 0, driftLot = 0, driftRef = 0
    const groups = [...new Set(lins.map((u) => gramGroup(u.unit)))]
    for (let gi = 0; gi < groups.length; gi++) {
      throwIfCancelled(job.ctx, `${job.method} (solve)`)
      job.ctx.progress?.('solve', gi / groups.length, groups[gi])
      const Sg = S.get(groups[gi])!
      const f = await pinvFactor(Sg)
      for (const u of lins.filter((x) => gramGroup(x.unit) === groups[gi])) {
        const a = lin.get(u.unit)!
        const T = await applyRightPinv(a.A, f)
        const mean = mat64(u.out, u.in, a.sumTau.map((v) => v / N))
        const dLot = (await quadForm(T, Sg)) - 2 * dot(T.data, a.A.data) + a.c
        const dMean = (await quadForm(mean, Sg)) - 2 * dot(mean.data, a.A.data) + a.c
        driftLot += dLot; driftMean += dMean; driftRef += a.c
        merged.set(u.weight, T.data)
        perLayer.push({ unit: u.unit, rank: f.info.rank, dim: f.info.dim, cutoff: f.info.cutoff, driftMeanTau: dMean / (a.c || 1), driftLot: dLot / (a.c || 1) })
        job.diag.tensor(u.weight, { rank: f.info.rank, of: f.info.dim, driftBefore: dMean / (a.c || 1), driftAfter: dLot / (a.c || 1) })
      }
      await tick()
    }
    job.ctx.progress?.('solve', 1)
    for (const u of lns) { const e = lnStats.get(u.unit)!; merged.set(u.weight, lotNormScale(e.taus, e.energies)) }
    const lambda = Math.fround(job.params.scaling_factor)
    await writeTensors(job, 'write', (s) => {
      const t = merged.get(s.name)
      const out = new Float32Array(s.base.length)
      if (t) { for (let i = 0; i < out.length; i++) out[i] = s.base[i] + Math.fround(lambda * Math.fround(t[i])); return out }
      // not optimised (biases, LN shifts, embeddings, patch conv): the mean of the task vectors
      for (let i = 0; i < out.length; i++) {
        let m = 0
        for (const x of s.models) m += x[i] - s.base[i]
        out[i] = s.base[i] + Math.fround(lambda * Math.fround(m / N))
      }
      return out
    })
    job.diag.set('exemplars', { perTask: job.params.num_exemplars, split: 'train', tokensPerTask: tokens / N, featureModel: 'expert θ_k', data: data.name })
    job.diag.set('pinv', 'eigenvalues ≤ in·eps_f32·λ_max dropped (torch.linalg.pinv float32 default)')
    job.diag.set('drift', { note: 'Σ_k ‖X_k(T − τ_k)ᵀ‖² / Σ_k ‖X_k τ_kᵀ‖² over linear units, before = mean τ, after = LOT T*', before: driftMean / (driftRef || 1), after: driftLot / (driftRef || 1) })
    job.diag.set('layers', perLayer)
  },
})
