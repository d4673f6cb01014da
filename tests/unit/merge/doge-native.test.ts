// DogeTA's native step kernels (addon dogeGradient / adamStep / sgdStep / sgemmInto) against the
// JS loops they replace: every result must be bit-identical, from one gradient to a whole merge.
import { afterEach, describe, expect, it } from 'vitest'
import { Adam, DogeProblem, optimiseDelta, sharedSubspace } from '../../../main/engine/merge/methods/doge_ta'
import { availableKernelImplementations, setKernelThreads, useKernelImplementation, type KernelImpl } from '../../../main/engine/kernels/native-kernels'
import { merge1, randn, src } from './_pool'
import type { ModelPool } from '../../../main/engine/merge/types'

const bits = (x: Float32Array): Uint32Array => new Uint32Array(x.buffer, x.byteOffset, x.length)
const bits64 = (x: Float64Array): Uint32Array => new Uint32Array(x.buffer, x.byteOffset, 2 * x.length)

/** Runs `f` under one kernel implementation, restoring automatic choice afterwards. */
function under<T>(impl: KernelImpl, f: () => T): T {
  useKernelImplementation(impl)
  try { return f() } finally { useKernelImplementation('auto') }
}
async function underAsync<T>(impl: KernelImpl, f: () => Promise<T>): Promise<T> {
  useKernelImplementation(impl)
  try { return await f() } finally { useKernelImplementation('auto') }
}

/**
 * Values spread over eight decades in every row, so that float64 dot products round at most
 * steps and any change of accumulation order shows in the bits (with values of one scale most
 * such sums are exact and a reordered kernel would pass unnoticed).
 */
function spread(n: number, seed: number, scale: number): Float32Array {
  return randn(n, seed, scale).map((x, k) => x * 10 ** ((((k + seed) * 7919) % 97) / 97 * 8 - 4))
}

/** Task vectors (see `spread`) with some exact zeros and −0. */
function tasks(N: number, rows: number, cols: number, seed: number): Float32Array[] {
  return Array.from({ length: N }, (_, j) => {
    const v = spread(rows * cols, seed + j, 0.02)
    for (let k = j; k < v.length; k += 37) v[k] = k % 2 ? 0 : -0
    return v
  })
}

describe.runIf(availableKernelImplementations().includes('native'))('DogeTA native kernels', () => {
  afterEach(() => { useKernelImplementation('auto'); setKernelThreads(1) })

  for (const N of [1, 3, 8, 17]) {
    it(`gradient, residuals and loss equal the JS loop bit for bit (N = ${N}, 37×23)`, () => {
      const rows = 37, cols = 23
      const prob = new DogeProblem(tasks(N, rows, cols, 10 * N), rows, cols, 0.07)
      const delta = spread(rows * cols, 99, 1e3) // Λ⟨V, δ⟩ ≫ c: e shows the dot products' last bits
      delta[3] = -0; delta[4] = 0
      const run = (impl: KernelImpl) => under(impl, () => {
        const g = new Float32Array(rows * cols)
        return { loss: prob.gradient(delta, g), g, e: prob.residuals(delta), total: prob.loss(delta) }
      })
      const a = run('native'), b = run('js')
      expect(a.loss).toBe(b.loss)
      expect(a.total).toBe(b.total)
      expect(bits64(a.e)).toEqual(bits64(b.e))
      expect(bits(a.g)).toEqual(bits(b.g))
      expect(a.g.some((x) => x !== 0)).toBe(true)
    })
  }

  it('the gradient split across threads gives the JS bits (8 tasks, 520×260)', () => {
    const rows = 520, cols = 260
    const prob = new DogeProblem(tasks(8, rows, cols, 7), rows, cols, 0.07)
    const delta = spread(rows * cols, 5, 1e3)
    const run = (impl: KernelImpl, threads: number) => under(impl, () => {
      setKernelThreads(threads)
      const g = new Float32Array(rows * cols)
      return { loss: prob.gradient(delta, g), g, e: prob.residuals(delta) }
    })
    const js = run('js', 1), one = run('native', 1), three = run('native', 3)
    for (const r of [one, three]) {
      expect(r.loss).toBe(js.loss)
      expect(bits64(r.e)).toEqual(bits64(js.e))
      expect(bits(r.g)).toEqual(bits(js.g))
    }
  })

  it('Adam steps (with and without a projected component) equal the JS loop over several steps', () => {
    const n = 70_003
    const steps = (impl: KernelImpl, threads: number) => under(impl, () => {
      setKernelThreads(threads)
      const param = randn(n, 1, 0.1), adam = new Adam(n, 1e-3)
      for (let s = 0; s < 6; s++) {
        const g = randn(n, 10 + s, s === 2 ? 1e-9 : 0.3)
        g[s] = 0; g[s + 1] = -0
        adam.stepProjected(param, g, s % 2 ? randn(n, 20 + s, 0.1) : null)
      }
      return param
    })
    const js = steps('js', 1)
    expect(bits(steps('native', 1))).toEqual(bits(js))
    expect(bits(steps('native', 2))).toEqual(bits(js))
  })

  for (const variant of ['adam', 'sgd'] as const) {
    it(`optimiseDelta (${variant}, projected through U_s) gives the same δ and loss curve`, () => {
      const rows = 24, cols = 18
      const V = tasks(3, rows, cols, 3)
      const prob = new DogeProblem(V, rows, cols, 0.07)
      const Us = sharedSubspace(V, rows, cols, 6)
      expect(Us.cols).toBeGreaterThan(0)
      const run = (impl: KernelImpl) => under(impl, () => optimiseDelta(prob, Us, 7, variant === 'sgd' ? 50 : 1e-3, variant))
      const a = run('native'), b = run('js')
      expect(a.losses).toEqual(b.losses)
      expect(bits(a.delta)).toEqual(bits(b.delta))
      expect(a.delta.some((x) => x !== 0)).toBe(true)
    })
  }

  /** A pool with DogeTA's filtered weights (out ≠ in), one it skips (a bias) and N models. */
  function pool(N: number): ModelPool {
    const shapes: Record<string, number[]> = {
      'vision_model.encoder.layers.0.self_attn.q_proj.weight': [12, 9],
      'vision_model.encoder.layers.0.mlp.fc1.weight': [20, 9],
      'vision_model.encoder.layers.0.mlp.fc2.weight': [9, 20],
      'vision_model.encoder.layers.0.mlp.fc2.bias': [9],
    }
    const tensor = (seed: number, scale: number, on?: Record<string, Float32Array>) => Object.fromEntries(Object.entries(shapes).map(([k, s], i) => {
      const d = randn(s.reduce((x, y) => x * y, 1), seed * 10 + i, scale)
      if (on) for (let q = 0; q < d.length; q++) d[q] += on[k][q] // a model is θ0 + a small task vector
      return [k, d]
    }))
    const theta0 = tensor(0, 1)
    const asSource = (t: Record<string, Float32Array>, label: string) => src(Object.fromEntries(Object.entries(t).map(([k, d]) => [k, { shape: shapes[k], data: d }])), label)
    const base = asSource(theta0, 'base')
    const models = Array.from({ length: N }, (_, t) => asSource(tensor(t + 1, 0.05, theta0), `model${t + 1}`))
    return { base, models }
  }

  for (const N of [3, 8]) {
    it(`a whole doge_ta merge gives identical tensors and diagnostics (N = ${N})`, async () => {
      const p = pool(N)
      const run = (impl: KernelImpl) => underAsync(impl, () => merge1('doge_ta', p, { steps: 9, K: 30 }))
      const a = await run('native'), b = await run('js')
      const names = [...b.sink.tensors.keys()].sort()
      expect([...a.sink.tensors.keys()].sort()).toEqual(names)
      for (const n of names) expect(bits(a.sink.tensors.get(n)!.data), n).toEqual(bits(b.sink.tensors.get(n)!.data))
      // timings aside, every diagnostic (λ, δ norms, losses, leak, thresholds, kept fractions) is equal
      const strip = (d: unknown): unknown => JSON.parse(JSON.stringify(d, (k, v) => (/Seconds$/.test(k) ? undefined : v)))
      expect(strip(a.result.diagnostics)).toEqual(strip(b.result.diagnostics))
      const per = (a.result.diagnostics as { perTensor?: Record<string, { lossLast: number; lossFirst: number }> }).perTensor ?? {}
      expect(Object.keys(per).length).toBe(3)
      for (const v of Object.values(per)) expect(v.lossLast).toBeLessThan(v.lossFirst)
    })
  }
})
