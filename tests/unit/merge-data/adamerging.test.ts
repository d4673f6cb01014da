// AdaMerging (methods.md §24): S15 gradient vs finite differences and vs ⟨∂L/∂θ_l, τ_{i,l}⟩,
// S16 initial state = Task Arithmetic, S17 entropy of uniform logits, AdaMerging++ pre-processing,
// and the method end to end (entropy goes down, diagnostics, transductive flag, cancellation).
import { describe, it, expect, beforeAll } from 'vitest'
import { getModelTf, tf } from '../../../main/engine/model/tf'
import { AdaProblem, batchEntropy } from '../../../main/engine/merge/methods/_data-adamerging'
import { tiesPreprocess } from '../../../main/engine/merge/methods/_data-adamerging-run'
import { clipParamShapes } from '../../../main/engine/model/config'
import { runMerge } from '../../../main/engine/merge/run'
import { MemorySink } from '../../../main/engine/tensors/source'
import type { ModelPool } from '../../../main/engine/merge/types'
import { tinyCfg, tinyData, tinyPool } from './_fixture'

async function problem(pool: ModelPool, data: ReturnType<typeof tinyData>): Promise<{ prob: AdaProblem; taus: Map<string, Float32Array[]> }> {
  const base = new Map<string, Float32Array>(), taus = new Map<string, Float32Array[]>()
  for (const [n] of clipParamShapes(tinyCfg)) {
    const b = await pool.base.readF32(n)
    base.set(n, b)
    taus.set(n, await Promise.all(pool.models.map(async (m) => (await m.readF32(n)).map((v, k) => v - b[k]))))
  }
  return { prob: await AdaProblem.load(data, base, taus, pool.models.length), taus }
}

describe('AdaMerging', () => {
  beforeAll(async () => { await getModelTf() })

  it('S17: uniform logits have entropy log C (both entropy forms)', () => {
    const z = tf.zeros([3, 5]) as import('@tensorflow/tfjs').Tensor2D
    expect(batchEntropy(z, 'exact').dataSync()[0]).toBeCloseTo(Math.log(5), 5)
    expect(batchEntropy(z, 'fusion_bench').dataSync()[0]).toBeCloseTo(Math.log(5), 4)
  })

  it('S15: ∂L/∂λ_{i,l} matches central finite differences and ⟨∂L/∂θ_l, τ_{i,l}⟩ (layer-wise)', async () => {
    const pool = tinyPool(2, tinyCfg, 3, 0.3)
    const data = tinyData(2, tinyCfg, { logitScale: 4 })
    const { prob, taus } = await problem(pool, data)
    try {
      const C = prob.L
      const lam = new Float32Array(2 * C).map((_, i) => 0.3 + 0.05 * Math.sin(i))
      const img = await data.unlabeled(0)
      const batches = [{ task: 0, images: { ...img, count: 6, pixels: img.pixels.subarray(0, 6 * 64) } }, { task: 1, images: { ...(await data.unlabeled(1)), count: 6, pixels: (await data.unlabeled(1)).pixels.subarray(0, 6 * 64) } }]
      const { grad } = prob.lossAndGrad(lam, C, batches, false, 'exact')
      // finite differences on the largest-gradient coefficients, float32 forward: h = 1e-2
      const idx = Array.from(grad.keys()).sort((a, b) => Math.abs(grad[b]) - Math.abs(grad[a])).slice(0, 6)
      for (const i of idx) {
        const h = 1e-2
        const up = Float32Array.from(lam); up[i] += h
        const dn = Float32Array.from(lam); dn[i] -= h
        const fd = (prob.loss(up, C, batches, false, 'exact') - prob.loss(dn, C, batches, false, 'exact')) / (2 * h)
        expect(Math.abs(fd - grad[i]), `coefficient ${i}`).toBeLessThan(0.03 * Math.abs(grad[i]) + 1e-4)
      }
      // chain rule: for the first batch alone, ⟨∂L/∂θ_l, τ_{i,l}⟩
      const g1 = prob.lossAndGrad(lam, C, [batches[0]], false, 'exact').grad
      const pg = prob.paramGrads(lam, C, batches[0], false, 'exact')
      prob.names.forEach((n, l) => {
        for (let i = 0; i < 2; i++) {
          const tau = taus.get(n)![i], g = pg.get(n)!
          let s = 0
          for (let k = 0; k < tau.length; k++) s += g[k] * tau[k]
          expect(Math.abs(g1[i * C + l] - s), `${n} task ${i}`).toBeLessThan(1e-4 * (1 + Math.abs(s)))
        }
      })
    } finally { prob.dispose() }
  })

  it('S16: zero steps gives Task Arithmetic at the initial coefficient (task- and layer-wise)', async () => {
    const pool = tinyPool(3)
    for (const method of ['task_wise_adamerging', 'layer_wise_adamerging']) {
      const ada = new MemorySink(), ta = new MemorySink()
      await runMerge({ method, params: { max_steps: 0 }, pool, sink: ada, data: tinyData(3) })
      await runMerge({ method: 'task_arithmetic', params: { scaling_factor: 0.3 }, pool, sink: ta })
      for (const [n, t] of ta.tensors) {
        const a = ada.tensors.get(n)!.data
        for (let k = 0; k < a.length; k++) expect(Math.abs(a[k] - t.data[k]), `${method} ${n}`).toBeLessThan(1e-6)
      }
    }
  })

  it('learns: entropy falls, λ matrix N × L reported, test split read without labels, transductive flag', async () => {
    const pool = tinyPool(2, tinyCfg, 5, 0.3)
    const data = tinyData(2, tinyCfg, { logitScale: 4 })
    const stages: string[] = []
    const res = await runMerge({ method: 'layer_wise_adamerging', params: { max_steps: 25, lr: 0.05, batch_size: 8 }, pool, sink: new MemorySink(), data, ctx: { progress: (s) => stages.push(s) } })
    const ent = res.diagnostics.entropy as { curve: number[] }
    const k = 5
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length
    expect(mean(ent.curve.slice(-k))).toBeLessThan(mean(ent.curve.slice(0, k)))
    const lam = res.diagnostics.lambda as { tensors: string[]; values: number[][] }
    expect(lam.values.length).toBe(2)
    expect(lam.values[0].length).toBe(clipParamShapes(tinyCfg).size)
    expect(res.diagnostics.transductive).toMatch(/TEST/)
    expect(data.calls.filter((c) => c.kind === 'unlabeled').map((c) => c.task)).toEqual([0, 1])
    expect(data.calls.some((c) => c.kind === 'exemplars')).toBe(false)
    expect(stages.filter((s) => s === 'adapt').length).toBe(25)
  })

  it('clamping keeps the used coefficients in [0, 1]; cancellation stops between steps', async () => {
    const pool = tinyPool(2, tinyCfg, 5, 0.3)
    const res = await runMerge({ method: 'task_wise_adamerging', params: { max_steps: 5, lr: 0.5, clamp_weights: true, init_values: 0.9 }, pool, sink: new MemorySink(), data: tinyData(2, tinyCfg, { logitScale: 4 }) })
    for (const v of (res.diagnostics.lambda as { values: number[] }).values) { expect(v).toBeGreaterThanOrEqual(0); expect(v).toBeLessThanOrEqual(1) }
    const ac = new AbortController()
    let steps = 0
    const p = runMerge({ method: 'task_wise_adamerging', params: { max_steps: 50 }, pool, sink: new MemorySink(), data: tinyData(2), ctx: { signal: ac.signal, progress: (s) => { if (s === 'adapt' && ++steps === 3) ac.abort() } } })
    await expect(p).rejects.toThrow(/cancel/i)
    expect(steps).toBe(3)
  })

  it('AdaMerging++ pre-processing: top-K per task, elected sign, disagreeing entries zeroed', () => {
    const taus = new Map([['a', [Float32Array.from([1, -2, 3, 0.1]), Float32Array.from([-4, 1, 0.2, 5])]]])
    // d = 4, keep 50 % → rank 2: thresholds = 2nd smallest |τ|: task 0 → 1, task 1 → 1
    const r = tiesPreprocess(taus, 2, 50, 'test')
    expect(r.thresholds).toEqual([1, 1])
    // trimmed: [1, −2, 3, 0], [−4, 1, 0, 5]; mass [−3, −1, 3, 5] → signs [−, −, +, +]
    expect(Array.from(taus.get('a')![0])).toEqual([0, -2, 3, 0])
    expect(Array.from(taus.get('a')![1])).toEqual([-4, 0, 0, 5])
  })
})
