// RegMean (methods.md §19): the self-checks and the method end to end on a tiny CLIP pool.
import { describe, it, expect, beforeAll } from 'vitest'
import { regmeanSolve } from '../../../main/engine/merge/methods/_data-regmean'
import { mat64, type Mat64 } from '../../../main/engine/linalg/index'
import { runMerge } from '../../../main/engine/merge/run'
import { MemorySink } from '../../../main/engine/tensors/source'
import { getModelTf } from '../../../main/engine/model/tf'
import { Rng } from '../../../main/engine/benchmark/rng'
import { tinyData, tinyPool } from './_fixture'

const rnd = (r: number, c: number, rng: Rng): Mat64 => mat64(r, c, Float64Array.from({ length: r * c }, () => rng.normal()))
const spd = (n: number, rng: Rng): Mat64 => {
  const X = rnd(3 * n, n, rng), G = mat64(n, n)
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { let s = 0; for (let r = 0; r < 3 * n; r++) s += X.data[r * n + i] * X.data[r * n + j]; G.data[i * n + j] = s }
  return G
}

describe('RegMean solve', () => {
  it('scalar input: W = [2, 4], G = [1, 3] → 3.5', async () => {
    const W = await regmeanSolve([mat64(1, 1, [2]), mat64(1, 1, [4])], [mat64(1, 1, [1]), mat64(1, 1, [3])], 0.95)
    expect(W[0]).toBeCloseTo(3.5, 12)
  })
  it('identical Grams → plain average; N = 1 → W_1 (out = 3 ≠ in = 5)', async () => {
    const rng = new Rng(3)
    const G = spd(5, rng), Ws = [rnd(3, 5, rng), rnd(3, 5, rng)]
    const W = await regmeanSolve(Ws, [G, G], 0.95)
    for (let i = 0; i < 15; i++) expect(W[i]).toBeCloseTo((Ws[0].data[i] + Ws[1].data[i]) / 2, 10)
    const W1 = await regmeanSolve([Ws[0]], [G], 0.95)
    for (let i = 0; i < 15; i++) expect(W1[i]).toBeCloseTo(Ws[0].data[i], 10)
  })
  it('α = 0 → each input column averaged with weights diag(G_t)_jj', async () => {
    const rng = new Rng(4)
    const Gs = [spd(4, rng), spd(4, rng)], Ws = [rnd(2, 4, rng), rnd(2, 4, rng)]
    const W = await regmeanSolve(Ws, Gs, 0)
    for (let o = 0; o < 2; o++) for (let j = 0; j < 4; j++) {
      const a = Gs[0].data[j * 5], b = Gs[1].data[j * 5]
      expect(W[o * 4 + j]).toBeCloseTo((a * Ws[0].data[o * 4 + j] + b * Ws[1].data[o * 4 + j]) / (a + b), 10)
    }
  })
})

describe('regmean on a tiny CLIP pool', () => {
  beforeAll(async () => { await getModelTf() })
  it('one task returns the expert (full-rank Grams); ⌈n/B⌉·B shuffled train exemplars', async () => {
    const pool = tinyPool(1)
    const data = tinyData(1)
    const sink = new MemorySink()
    const res = await runMerge({ method: 'regmean', params: { num_regmean_examples: 20, batch_size: 8 }, pool, sink, data })
    for (const name of pool.models[0].names()) {
      const got = sink.tensors.get(name)!.data, want = await pool.models[0].readF32(name)
      let m = 0
      for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]))
      expect(m, name).toBeLessThan(1e-4)
    }
    expect(data.calls[0]).toMatchObject({ kind: 'exemplars', n: 24, shuffle: true })
    const c = res.diagnostics.condition as { max: number; pinvFallbacks: number }
    expect(c.max).toBeGreaterThan(1)
    expect(c.pinvFallbacks).toBe(0)
  })
  it('two tasks: non-Linear parameters are the plain average; excluded ones keep θ0', async () => {
    const pool = tinyPool(2)
    const sink = new MemorySink()
    await runMerge({ method: 'regmean', params: { num_regmean_examples: 16, exclude_param_names_regex: 'layers\\.1\\.mlp\\.fc2' }, pool, sink, data: tinyData(2) })
    const ln = 'vision_model.encoder.layers.0.layer_norm1.weight'
    const [a, b] = await Promise.all(pool.models.map((m) => m.readF32(ln)))
    sink.tensors.get(ln)!.data.forEach((v, i) => expect(v).toBeCloseTo((a[i] + b[i]) / 2, 6))
    const ex = 'vision_model.encoder.layers.1.mlp.fc2.weight'
    expect(Array.from(sink.tensors.get(ex)!.data)).toEqual(Array.from(await pool.base.readF32(ex)))
    await expect(runMerge({ method: 'regmean', params: { exclude_param_names_regex: '(' }, pool, sink, data: tinyData(2) })).rejects.toThrow(/exclude_param_names_regex/)
  })
})
