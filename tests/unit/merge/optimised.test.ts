import { describe, expect, it } from 'vitest'
import { mat, matmul } from '../../../main/engine/linalg/index'
import { awdLossGrad } from '../../../main/engine/merge/methods/awd'
import { DogeProblem, optimiseDelta, projectOut, sharedSubspace } from '../../../main/engine/merge/methods/doge_ta'
import { close, merge1, randn, src, vecPool } from './_pool'

function gram(vs: Float32Array[]): Float64Array {
  const N = vs.length, G = new Float64Array(N * N)
  for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) { let s = 0; for (let k = 0; k < vs[i].length; k++) s += vs[i][k] * vs[j][k]; G[i * N + j] = s }
  return G
}

describe('AWD (methods.md §16)', () => {
  it('S9: the gradient matches central finite differences (in the τ basis)', () => {
    const vs = [1, 2, 3].map((s) => randn(30, s))
    const G = gram(vs), N = 3
    const c = Float64Array.from([0.05, -0.02, 0.1])
    const { grad } = awdLossGrad(G, N, c, 0.1)
    // dL/dc_k = ⟨∇L, τ_k⟩ = (G·γ)_k
    for (let k = 0; k < N; k++) {
      const h = 1e-6
      const cp = Float64Array.from(c), cm = Float64Array.from(c)
      cp[k] += h; cm[k] -= h
      const fd = (awdLossGrad(G, N, cp, 0.1).loss - awdLossGrad(G, N, cm, 0.1).loss) / (2 * h)
      let an = 0
      for (let j = 0; j < N; j++) an += G[k * N + j] * grad[j]
      expect(Math.abs(fd - an)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)))
    }
  })

  it('S9: mutually orthogonal task vectors → L_O = 0, δ stays 0, AWD = TA', async () => {
    const pool = vecPool([1, 1, 1, 1], [[2, 1, 1, 1], [1, 3, 1, 1], [1, 1, 1, 0]])
    const a = await merge1('awd', pool, { scaling_factor: 0.5 })
    const t = await merge1('task_arithmetic', pool, { scaling_factor: 0.5 })
    expect(a.sink.get('w')).toEqual(t.sink.get('w'))
    expect((a.result.diagnostics.lossCurve as number[]).every((x) => x === 0)).toBe(true)
  })

  it('S10: L_O decreases over the iterations and ‖δ‖ stays below min ‖τ_i‖', async () => {
    const shape = [6, 5]
    const common = randn(30, 99)
    const mk = (s: number) => src({ w: { shape, data: randn(30, s).map((x, i) => x + 2 * common[i]) } })
    const pool = { base: src({ w: { shape, data: new Array(30).fill(0) } }), models: [1, 2, 3, 4].map(mk) }
    const { result } = await merge1('awd', pool)
    const curve = result.diagnostics.lossCurve as number[]
    expect(curve.length).toBe(301)
    expect(curve[300]).toBeLessThan(curve[0])
    const norms = result.diagnostics.deltaNormCurve as number[]
    const minTau = Math.min(...(result.diagnostics.taskNorms as number[]))
    expect(Math.max(...norms)).toBeLessThan(minTau)
  })
})

describe('DogeTA (methods.md §15)', () => {
  const rows = 6, cols = 4 // out ≠ in
  const V = [1, 2, 3].map((s) => randn(rows * cols, s, 0.5))

  it('S5: the closed-form gradient matches central finite differences (exact for a quadratic)', () => {
    const prob = new DogeProblem(V, rows, cols, 0.07)
    const delta = randn(rows * cols, 9, 0.01)
    const g = new Float32Array(rows * cols)
    prob.gradient(delta, g)
    const h = 2 ** -12
    for (const k of [0, 5, 13, 23]) {
      const p = Float32Array.from(delta), m = Float32Array.from(delta)
      p[k] += h; m[k] -= h
      const dp = p[k] - delta[k], dm = delta[k] - m[k] // the f32-representable steps
      const fd = (prob.loss(p) - prob.loss(m)) / (dp + dm)
      expect(Math.abs(fd - g[k])).toBeLessThan(1e-5 * Math.max(1, Math.abs(fd)))
    }
  })

  it('S6: after projection U_sᵀg = 0; projected SGD keeps U_sᵀδ = 0; Adam does not', () => {
    const prob = new DogeProblem(V, rows, cols, 0.07)
    const Us = sharedSubspace(V, rows, cols, 2) // k_s = ⌊4/2⌋ = 2
    expect([Us.rows, Us.cols]).toEqual([6, 2])
    const g = new Float32Array(rows * cols)
    prob.gradient(new Float32Array(rows * cols), g)
    const gn = Math.hypot(...g)
    projectOut(Us, g, rows, cols)
    const r = matmul(Us, mat(rows, cols, g), { transA: true })
    expect(Math.hypot(...r.data) / gn).toBeLessThan(1e-6)
    const leak = (d: Float32Array) => Math.hypot(...matmul(Us, mat(rows, cols, d), { transA: true }).data) / Math.hypot(...d)
    const sgd = optimiseDelta(prob, Us, 20, 1e-2, 'sgd')
    expect(leak(sgd.delta)).toBeLessThan(1e-5)
    const adam = optimiseDelta(prob, Us, 20, 1e-3, 'adam')
    expect(leak(adam.delta)).toBeGreaterThan(1e-3)
    expect(sgd.losses[20]).toBeLessThan(sgd.losses[0])
  })

  const enc = 'vision_model.encoder.layers.0.mlp.fc1.weight'
  const ln = 'vision_model.encoder.layers.0.layer_norm1.weight'
  const bias = 'vision_model.encoder.layers.0.mlp.fc1.bias'
  const mkModel = (s: number, scale: number) => src({
    [enc]: { shape: [rows, cols], data: randn(rows * cols, s, scale) },
    [ln]: { shape: [rows], data: randn(rows, s + 100, scale) },
    [bias]: { shape: [rows], data: randn(rows, s + 200, scale) },
  })

  it('S7: steps = 0 and K near 100 → θ0 + η Σ τ_i/‖τ_i‖ on the filtered weights, θ0 elsewhere', async () => {
    const base = mkModel(1, 1), models = [2, 3, 4].map((s) => mkModel(s, 1))
    const { sink } = await merge1('doge_ta', { base, models }, { steps: 0, K: 99.99 })
    const b = await base.readF32(enc)
    const taus = await Promise.all(models.map(async (m) => (await m.readF32(enc)).map((x, i) => Math.fround(x - b[i]))))
    const exp = [...b].map((bv, k) => bv + taus.reduce((a, t) => a + (0.07 / Math.hypot(...t)) * t[k], 0))
    expect(close(sink.get(enc), exp, 1e-6)).toBe(true)
    expect(sink.get(ln)).toEqual([...(await base.readF32(ln))])
    expect(sink.get(bias)).toEqual([...(await base.readF32(bias))])
  })

  it('S8: the mask keeps ⌊d·K/100⌋ + 1 entries on distinct magnitudes; the full run records diagnostics', async () => {
    const base = mkModel(1, 1), models = [2, 3].map((s) => mkModel(s, 1))
    const { result } = await merge1('doge_ta', { base, models }, { steps: 5, K: 30 })
    const d = rows * cols
    expect(result.diagnostics.keptFraction).toEqual([(Math.floor(d * 0.3) + 1) / d, (Math.floor(d * 0.3) + 1) / d])
    const t = (result.diagnostics.perTensor as Record<string, { lambda: number[]; deltaNorm: number; subspaceRank: number }>)[enc]
    expect(t.lambda).toHaveLength(2)
    expect(t.subspaceRank).toBe(0) // ⌊min(6, 4)/6⌋ = 0: no shared subspace at this size
    expect(t.deltaNorm).toBeGreaterThan(0)
  })
})

describe('WUDI (methods.md §17)', () => {
  it('§17 self-check: τ_1 = [[1, 0]], τ_2 = [[1, 1]] → closed form [[1, 1]]; Adam from the TA sum [[2, 1]] moves toward it', async () => {
    const { WudiProblem } = await import('../../../main/engine/merge/methods/wudi')
    const prob = new WudiProblem([Float32Array.from([1, 0]), Float32Array.from([1, 1])], 1, 2)
    expect(close([...prob.closedForm()], [1, 1], 1e-5)).toBe(true)
    const pool = vecPool([0, 0], [[1, 0], [1, 1]], [1, 2])
    const slow = (await merge1('wudi', pool)).sink.get('w')
    expect(Math.abs(slow[0] - 2)).toBeLessThan(5e-3) // 400 steps of 1e-5 barely move (§17)
    const fast = (await merge1('wudi', pool, { lr: 0.01, iter_num: 3000 })).sink.get('w')
    expect(close(fast, [1, 1], 2e-2)).toBe(true)
  })

  it('orthogonal row spaces → zero gradient at init → the TA sum; non-2-D tensors get the mean τ (official: θ0)', async () => {
    const shape = [1, 3]
    const mk = (w: number[], b: number[]) => src({ 'vision_model.encoder.layers.0.mlp.fc1.weight': { shape, data: w }, 'vision_model.encoder.layers.0.mlp.fc1.bias': { shape: [1], data: b } })
    const pool = { base: mk([0, 0, 0], [1]), models: [mk([1, 0, 0], [3]), mk([0, 2, 0], [5])] }
    const r = await merge1('wudi', pool)
    expect(r.sink.get('vision_model.encoder.layers.0.mlp.fc1.weight')).toEqual([1, 2, 0])
    expect(r.sink.get('vision_model.encoder.layers.0.mlp.fc1.bias')).toEqual([4])
    const o = await merge1('wudi', pool, { variant: 'official' })
    expect(o.sink.get('vision_model.encoder.layers.0.mlp.fc1.bias')).toEqual([1])
  })

  it('the gradient 2(τ_m A − C) matches finite differences on a non-square matrix (both A paths)', async () => {
    const { WudiProblem } = await import('../../../main/engine/merge/methods/wudi')
    for (const [rows, cols] of [[3, 5], [5, 3]]) {
      const taus = [1, 2].map((s) => randn(rows * cols, s))
      const prob = new WudiProblem(taus, rows, cols)
      const L = (tm: Float32Array) => taus.reduce((acc, t) => {
        const n2 = t.reduce((a, x) => a + x * x, 0)
        let s = 0
        for (let i = 0; i < rows; i++) for (let j = 0; j < rows; j++) {
          let d = 0
          for (let k = 0; k < cols; k++) d += (tm[i * cols + k] - t[i * cols + k]) * t[j * cols + k]
          s += d * d
        }
        return acc + s / n2
      }, 0)
      const tm = randn(rows * cols, 5)
      const g = new Float32Array(rows * cols)
      prob.gradient(tm, g)
      const h = 2 ** -10
      for (const k of [0, 4, rows * cols - 1]) {
        const p = Float32Array.from(tm), m = Float32Array.from(tm)
        p[k] += h; m[k] -= h
        const fd = (L(p) - L(m)) / (p[k] - m[k])
        expect(Math.abs(fd - g[k])).toBeLessThan(1e-4 * Math.max(1, Math.abs(fd)))
      }
    }
  })
})
