// The AdaMerging loop shared by the task-wise and layer-wise methods (methods.md §24): entropy
// minimisation of the merged model on unlabeled TEST batches of every task with Adam on the merge
// coefficients, then the merged model at the learned coefficients.
import type { ParamSpec } from '#common/types'
import { kthSmallestAbs } from '../../kernels/select'
import { clipParamShapes } from '../../model/config'
import { tick, throwIfCancelled } from '../../util/task'
import { requireData } from '../data'
import type { MergeJob } from '../types'
import { FB } from './_params'
import { keepFraction, massSum, signBalance, trimInPlace, trimRank } from './_ties-core'
import { AdaProblem, EndlessLoader, type EntropyMode } from './_data-adamerging'
import { Adam } from './doge_ta'
import { writeTensors } from './_stream'

export interface AdaParams {
  init_values: number
  lr: number
  max_steps: number
  batch_size: number
  batches_per_task: number
  clamp_weights: boolean
  entropy: EntropyMode
  task_vectors: 'task_arithmetic' | 'ties'
  ties_threshold: number
  [k: string]: unknown
}

const YAML = `${FB} config/method/adamerging/clip.yaml`
export const adaParams: ParamSpec[] = [
  { name: 'init_values', type: 'number', default: 0.3, min: -10, max: 10, description: 'initial value of every coefficient λ (at zero steps the merge is Task Arithmetic with this λ)', citation: `${YAML} (init_values: 0.3)` },
  { name: 'lr', type: 'number', default: 1e-3, min: 0, max: 10, description: 'Adam learning rate (β = 0.9/0.999, eps 1e-8)', citation: `${YAML} (lr: 1e-3)` },
  { name: 'max_steps', type: 'integer', default: 1000, min: 0, max: 1000000, description: 'optimisation steps (the original repository uses 500)', citation: `${YAML} (max_steps: 1000)` },
  { name: 'batch_size', type: 'integer', default: 16, min: 1, max: 4096, description: 'unlabeled test images per batch', citation: `${YAML} (batch_size: 16)` },
  { name: 'batches_per_task', type: 'integer', default: 1, min: 1, max: 64, description: 'batches per task per step (FusionBench 1; the original repository 2)', citation: 'methods.md §24 defaults table' },
  { name: 'clamp_weights', type: 'boolean', default: false, description: 'clamp the coefficients to [0, 1] in the forward pass (original repository); FusionBench leaves them unclamped', citation: `${YAML} (clamp_weights: false)` },
  { name: 'entropy', type: 'enum', default: 'fusion_bench', choices: ['fusion_bench', 'exact'], description: 'fusion_bench: −Σ p·log(p + 1e-8); exact: −Σ p·log_softmax (original repository)', citation: 'methods.md §24 objective' },
  { name: 'task_vectors', type: 'enum', default: 'task_arithmetic', choices: ['task_arithmetic', 'ties'], description: 'ties = AdaMerging++: task vectors first trimmed to the top ties_threshold % per task and masked to the elected sign', citation: 'Yang et al., AdaMerging, ICLR 2024 §4 (AdaMerging++); methods.md §24' },
  { name: 'ties_threshold', type: 'number', default: 20, min: 0, max: 100, description: 'AdaMerging++ keep fraction per task (percentage when > 1)', citation: 'methods.md §24 AdaMerging++' },
]

export const adaPresets = [
  { name: 'AdaMerging++', params: { task_vectors: 'ties' }, note: 'TIES-preprocessed task vectors (top 20 %, elected sign)' },
  { name: 'original repository', params: { max_steps: 500, batches_per_task: 2, clamp_weights: true, entropy: 'exact' }, note: 'EnnengYang/AdaMerging: 500 steps, 2 × 16 images per task, clamped, log_softmax' },
]

/**
 * AdaMerging++ pre-processing (TIES over the whole flattened model, methods.md §24): per task keep
 * |τ| ≥ its kth-value threshold; elect sgn(Σ trimmed) with zeros → global majority sign; zero the
 * entries that disagree. The per-task vectors stay separate. Modifies `taus` in place.
 */
export function tiesPreprocess(taus: Map<string, Float32Array[]>, N: number, threshold: number, method: string): { thresholds: number[]; majority: number; kept: number[] } {
  const keep = keepFraction(method, threshold, 'ties_threshold')
  const names = [...taus.keys()].sort()
  const d = names.reduce((s, n) => s + taus.get(n)![0].length, 0)
  const thresholds: number[] = []
  for (let t = 0; t < N; t++) {
    thresholds.push(kthSmallestAbs(names.map((n) => taus.get(n)![t]), trimRank(d, keep)))
  }
  let balance = 0
  for (const n of names) {
    const v = taus.get(n)!
    v.forEach((x, t) => trimInPlace(x, thresholds[t]))
    balance += signBalance(massSum(v))
  }
  const majority = Math.sign(balance)
  const kept = new Array(N).fill(0)
  for (const n of names) {
    const v = taus.get(n)!
    const mass = massSum(v)
    for (let t = 0; t < N; t++) {
      const x = v[t]
      for (let k = 0; k < x.length; k++) {
        const s = mass[k] > 0 ? 1 : mass[k] < 0 ? -1 : majority
        if (!(s > 0 ? x[k] > 0 : x[k] < 0)) x[k] = 0
        else kept[t]++
      }
    }
  }
  return { thresholds, majority, kept: kept.map((k) => k / d) }
}

export interface AdaRunOptions {
  granularity: 'task' | 'layer'
  /** replaces the task vectors (DogeTA variant); receives θ0 and the plain τ of every tower tensor */
  vectors?: (base: Map<string, Float32Array>, taus: Map<string, Float32Array[]>) => Promise<void>
  /** tensors whose coefficients are fixed at 0 (θ0 kept), e.g. everything DogeTA does not merge */
  frozen?: (name: string) => boolean
}

export async function runAdaMerging(job: MergeJob<AdaParams>, o: AdaRunOptions): Promise<void> {
  const p = job.params
  const data = requireData(job.method, job.data, job.pool.models.length)
  const N = job.pool.models.length
  const shapes = clipParamShapes(data.config)
  const base = new Map<string, Float32Array>(), taus = new Map<string, Float32Array[]>()
  for (const [n] of shapes) {
    const b = await job.pool.base.readF32(n)
    base.set(n, b)
    const ms = await Promise.all(job.pool.models.map((m) => m.readF32(n)))
    taus.set(n, ms.map((m) => { const t = new Float32Array(b.length); for (let k = 0; k < t.length; k++) t[k] = m[k] - b[k]; return t }))
  }
  if (p.task_vectors === 'ties') job.diag.set('ties', tiesPreprocess(taus, N, p.ties_threshold, job.method))
  if (o.vectors) await o.vectors(base, taus)
  if (o.frozen) for (const [n, v] of taus) if (o.frozen(n)) v.forEach((x) => x.fill(0))
  const prob = await AdaProblem.load(data, base, taus, N)
  try {
    const C = o.granularity === 'task' ? 1 : prob.L
    const lam = new Float32Array(N * C).fill(p.init_values)
    const sets = []
    for (let t = 0; t < N; t++) sets.push(await data.unlabeled(t, 'test'))
    const loaders = sets.map((s, t) => new EndlessLoader(s, p.batch_size, job.seed * 1000 + t + 1))
    const adam = new Adam(lam.length, p.lr)
    const losses: number[] = []
    const t0 = performance.now()
    for (let step = 0; step < p.max_steps; step++) {
      throwIfCancelled(job.ctx, `${job.method} (step ${step + 1})`)
      const batches = []
      for (let t = 0; t < N; t++) for (let r = 0; r < p.batches_per_task; r++) batches.push({ task: t, images: loaders[t].next() })
      const { loss, grad } = prob.lossAndGrad(lam, C, batches, p.clamp_weights, p.entropy)
      adam.step(lam, grad)
      losses.push(loss)
      job.ctx.progress?.('adapt', (step + 1) / p.max_steps, `step ${step + 1}/${p.max_steps}, entropy ${loss.toFixed(4)}`)
      await tick()
    }
    const used = p.clamp_weights ? lam.map((x) => Math.min(1, Math.max(0, x))) : lam
    const col = new Map(prob.names.map((n, i) => [n, o.granularity === 'task' ? 0 : i]))
    await writeTensors(job, 'write', (s) => {
      const v = taus.get(s.name)
      const out = Float32Array.from(s.base)
      if (v) {
        const c = col.get(s.name)!
        for (let t = 0; t < N; t++) { const l = Math.fround(used[t * C + c]), x = v[t]; for (let k = 0; k < out.length; k++) out[k] += Math.fround(l * x[k]) }
        return out
      }
      // a float tensor the tower does not use: Task Arithmetic at the initial coefficient
      for (const m of s.models) for (let k = 0; k < out.length; k++) out[k] += Math.fround(Math.fround(p.init_values) * (m[k] - s.base[k]))
      return out
    })
    job.diag.set('transductive', `coefficients adapted on the unlabeled ${data.name} TEST images of every task (labels never read), as in the AdaMerging papers; evaluate on the same split only with that caveat`)
    job.diag.set('lambda', o.granularity === 'task'
      ? { tasks: job.pool.names, values: Array.from(used) }
      : { tasks: job.pool.names, tensors: prob.names, values: Array.from({ length: N }, (_, t) => Array.from(used.subarray(t * C, (t + 1) * C))) })
    job.diag.set('entropy', { first: losses[0] ?? null, last: losses[losses.length - 1] ?? null, curve: losses })
    job.diag.set('steps', { steps: p.max_steps, imagesPerStep: N * p.batches_per_task * p.batch_size, secondsPerStep: p.max_steps ? (performance.now() - t0) / 1000 / p.max_steps : 0 })
  } finally {
    prob.dispose()
  }
}
