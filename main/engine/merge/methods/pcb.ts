// PCB-Merging, Parameter Competition Balancing (methods.md §10, §29; the authors' packaged
// PCB_merge). Global per task over the flattened model, computed in streaming passes:
//   1–2  exact |τ_t| clip quantiles (radix selection)
//   3–4  exact (1 − r)-quantile and max of the balance score β_t (signed selection)
//   5    weights w_t = minmax(clamp(β_t)), merged = Σ w_t v̂_t / Σ w_t, written
import { defineMethod } from '../types'
import { paramError } from '../schema'
import { AbsThresholds, SignedSelect } from './_select'
import { addScaled, floatNames, scanTensors, taskVectors, writeTensors, type Slice } from './_stream'

interface P { pcb_ratio: number; scaling_factor: number; clip_ratio: number; variant: 'packaged' | 'vit'; [k: string]: unknown }

interface Clip { lo: number[]; hi: number[] }

/** v̂_t = sgn(τ)·clamp(|τ|, lo, hi) and the per-task min–max of |v̂| (lo → 0, hi → 1). */
function clipped(taus: Float32Array[], c: Clip): { vhat: Float32Array[]; mm: Float32Array[] } {
  const vhat: Float32Array[] = [], mm: Float32Array[] = []
  taus.forEach((tau, t) => {
    const lo = c.lo[t], hi = c.hi[t], span = hi - lo
    const v = new Float32Array(tau.length), m = new Float32Array(tau.length)
    for (let k = 0; k < tau.length; k++) {
      const a = Math.min(Math.max(Math.abs(tau[k]), lo), hi)
      v[k] = tau[k] < 0 ? -a : tau[k] > 0 ? a : 0
      m[k] = span > 0 ? (a - lo) / span : 0
    }
    vhat.push(v); mm.push(m)
  })
  return { vhat, mm }
}

/** β_t = exp(N·mm_t²) ⊙ inter-balance, per the chosen variant. */
function balance(taus: Float32Array[], vhat: Float32Array[], mm: Float32Array[], variant: P['variant']): Float32Array[] {
  const N = taus.length, n = taus[0].length
  const sum = new Float32Array(n)
  for (const t of taus) for (let k = 0; k < n; k++) sum[k] += t[k]
  return taus.map((tau, t) => {
    const b = new Float32Array(n)
    for (let k = 0; k < n; k++) {
      const self = Math.exp(N * mm[t][k] * mm[t][k])
      let cross: number
      if (variant === 'packaged') cross = Math.tanh(tau[k] * sum[k])
      else {
        const st = Math.sign(vhat[t][k]) * mm[t][k]
        cross = 0
        for (let j = 0; j < N; j++) cross += Math.tanh(st * Math.sign(vhat[j][k]) * mm[j][k])
      }
      b[k] = self * cross
    }
    return b
  })
}

export default defineMethod<P>({
  info: {
    name: 'pcb',
    title: 'PCB-Merging (Parameter Competition Balancing)',
    family: 'data-free',
    description: 'Scores every parameter of every task by intra-task importance (exp of its normalised squared magnitude) times inter-task agreement (tanh of its product with the summed task vector), keeps each task’s top-r scores as min–max-normalised weights and merges the clipped task vectors with those weights.',
    citation: 'Du et al., Parameter Competition Balancing for Model Merging, NeurIPS 2024; official duguodong7/pcb-merging (packaged PCB_merge); methods.md §10, §29',
    params: [
      { name: 'pcb_ratio', type: 'number', default: 0.05, min: 0, max: 1, description: 'r: fraction of each task’s parameters that keep a non-zero weight', citation: 'PCB official ViT setting r = 0.05' },
      { name: 'scaling_factor', type: 'number', default: 1.2, min: -10, max: 10, description: 'λ: θ = θ0 + λ·merged (the ViT code’s per-task λ_t = 1.2, equivalent after the weight normalisation)', citation: 'PCB official ViT λ_t = 1.2' },
      { name: 'clip_ratio', type: 'number', default: 1e-4, min: 0, max: 0.5, description: 'a: |τ| clamped to its [a, 1 − a] quantiles per task (packaged PCB_merge 1e-4; ViT files 0.01)', citation: 'methods.md §29 PCB; §10 step 1' },
      { name: 'variant', type: 'enum', default: 'packaged', choices: ['packaged', 'vit'], description: 'inter-balance term: packaged tanh(τ_t ⊙ Σ τ) on raw values; vit Σ_j tanh(ŝ_t ⊙ ŝ_j) on normalised signed magnitudes', citation: 'methods.md §10 Variants' },
    ],
  },
  check(p) {
    if (p.pcb_ratio <= 0) throw paramError('pcb', 'pcb_ratio', 'must be > 0')
  },
  async merge(job) {
    const p = job.params
    const N = job.pool.models.length
    const d = floatNames(job).reduce((a, n) => a + job.pool.base.meta(n).shape.reduce((x, y) => x * y, 1), 0)
    const loRank = Math.floor(d * p.clip_ratio) + 1, hiRank = Math.max(Math.floor(d * (1 - p.clip_ratio)), 1)
    const clipSel = new AbsThresholds([...new Array(N).fill(loRank), ...new Array(N).fill(hiRank)], d)
    for (let pass = 0; pass < 2; pass++) {
      await scanTensors(job, `clip quantiles ${pass + 1}/2`, (s) => { taskVectors(s).forEach((v, t) => { clipSel.feed(t, v); clipSel.feed(N + t, v) }) })
      clipSel.endPass()
    }
    const q = clipSel.thresholds()
    const clip: Clip = { lo: q.slice(0, N), hi: q.slice(N) }
    const betaOf = (s: Slice): { vhat: Float32Array[]; beta: Float32Array[] } => {
      const taus = taskVectors(s)
      const { vhat, mm } = clipped(taus, clip)
      return { vhat, beta: balance(taus, vhat, mm, p.variant) }
    }
    const rank = Math.min(Math.floor(d * (1 - p.pcb_ratio)) + 1, d)
    const sel = Array.from({ length: N }, () => new SignedSelect(rank))
    const max = new Array(N).fill(-Infinity)
    for (let pass = 0; pass < 2; pass++) {
      await scanTensors(job, `score quantiles ${pass + 1}/2`, (s) => {
        betaOf(s).beta.forEach((b, t) => {
          sel[t].feed(b)
          if (pass === 0) for (let k = 0; k < b.length; k++) if (b[k] > max[t]) max[t] = b[k]
        })
      })
      sel.forEach((x) => x.endPass())
    }
    const lower = sel.map((x) => x.result())
    let nonzero = new Array(N).fill(0)
    await writeTensors(job, 'merge', (s) => {
      const { vhat, beta } = betaOf(s)
      const n = s.base.length
      const num = new Float32Array(n), den = new Float32Array(n)
      beta.forEach((b, t) => {
        const span = max[t] - lower[t]
        for (let k = 0; k < n; k++) {
          const w = span > 0 ? (Math.min(Math.max(b[k], lower[t]), max[t]) - lower[t]) / span : 0
          if (w > 0) nonzero[t]++
          num[k] += w * vhat[t][k]
          den[k] += w
        }
      })
      for (let k = 0; k < n; k++) num[k] = num[k] / Math.max(den[k], 1e-12)
      return addScaled(s.base, num, p.scaling_factor)
    })
    nonzero = nonzero.map((c) => c / Math.max(d, 1))
    job.diag.set('clip', clip)
    job.diag.set('scoreLower', lower)
    job.diag.set('scoreMax', max)
    job.diag.set('weightDensity', nonzero)
  },
})
