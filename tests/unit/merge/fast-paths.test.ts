// The fast paths of the data-free methods agree with the straightforward computations they
// replace: Gram-matrix SVD / polar factors vs exact dgesdd, fused TIES and DogeTA loops vs the
// unfused formulas, and recycled input buffers vs fresh arrays (out ≠ in throughout).
import { describe, expect, it } from 'vitest'
import { mat, mat64, matmul, polar, svd, type Mat64 } from '../../../main/engine/linalg/index'
import { GRAM_RTOL, polarFast, polarAndSpectrum, topSvd } from '../../../main/engine/merge/methods/_lowrank'
import { tsvMerge, tsvRank } from '../../../main/engine/merge/methods/tsvm'
import { isoCMerge, isoSum } from '../../../main/engine/merge/methods/iso_c'
import { DogeProblem } from '../../../main/engine/merge/methods/doge_ta'
import { merge1, MixedSource, randn, type T } from './_pool'
import type { ModelPool } from '../../../main/engine/merge/types'
import { runMerge } from '../../../main/engine/merge/run'
import { MemorySink } from '../../../main/engine/tensors/source'

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m }
const maxAbs = (a: ArrayLike<number>): number => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i])); return m }
const recon = (f: { U: Mat64; S: Float64Array; Vt: Mat64 }): Float64Array => {
  const U = Float64Array.from(f.U.data)
  for (let i = 0; i < f.U.rows; i++) for (let j = 0; j < f.S.length; j++) U[i * f.U.cols + j] *= f.S[j]
  return matmul(mat64(f.U.rows, f.U.cols, U), f.Vt).data as Float64Array
}
/** a rank-`r` m×n matrix with a graded spectrum */
function lowRank(m: number, n: number, r: number, seed: number): Float32Array {
  const a = matmul(mat(m, r, randn(m * r, seed)), mat(r, n, randn(r * n, seed + 1)))
  return a.data as Float32Array
}

describe('Gram-matrix SVD and polar factors (_lowrank.ts) against exact dgesdd', () => {
  for (const [m, n] of [[60, 24], [24, 60]]) {
    it(`topSvd(k = 6) of a ${m}×${n} matrix: σ to 1e-12, same rank-6 reconstruction and singular subspaces`, () => {
      const a = mat(m, n, randn(m * n, m + n))
      const e = svd(a, { k: 6 }), f = topSvd(a, 6)
      expect([f.U.rows, f.U.cols, f.Vt.rows, f.Vt.cols]).toEqual([m, 6, 6, n])
      expect(maxAbsDiff(e.S, f.S) / e.S[0]).toBeLessThan(1e-12)
      expect(maxAbsDiff(recon(e), recon(f)) / e.S[0]).toBeLessThan(1e-10)
      // each singular vector agrees up to sign
      for (let j = 0; j < 6; j++) {
        let d = 0
        for (let i = 0; i < m; i++) d += e.U.data[i * 6 + j] * f.U.data[i * 6 + j]
        expect(Math.abs(Math.abs(d) - 1)).toBeLessThan(1e-9)
      }
    })
  }

  it('a rank-deficient matrix (kept σ below the guard) takes the exact SVD', () => {
    const a = mat(30, 12, lowRank(30, 12, 3, 7))
    const f = topSvd(a, 5), e = svd(a, { k: 5 })
    expect(f.S[4] / f.S[0]).toBeLessThan(Math.sqrt(GRAM_RTOL))
    expect(maxAbsDiff(f.U.data, e.U.data)).toBe(0) // identical: the same dgesdd call
  })

  it('polarFast = U·Vᵀ of the exact SVD (tall and wide, 1e-12); polarAndSpectrum gives the full spectrum', () => {
    for (const [m, n] of [[40, 16], [16, 40]]) {
      const a = mat64(m, n, randn(m * n, 3 * m + n))
      expect(maxAbsDiff(polarFast(a).data, polar(a).data)).toBeLessThan(1e-12)
      const ps = polarAndSpectrum(a)
      expect(maxAbsDiff(ps.S, svd(a).S) / svd(a).S[0]).toBeLessThan(1e-12)
    }
  })

  it('TSV-M through the Gram paths matches an exact-SVD reference (out ≠ in, with and without a zero tail)', () => {
    const [m, n] = [14, 22]
    for (const N of [2, 3]) { // k = 14: r = 7 fills all slots; r = 4 leaves a 2-slot zero tail
      const taus = Array.from({ length: N }, (_, t) => randn(m * n, 40 + t, 0.1))
      const r = tsvRank(m, n, N), k = Math.min(m, n)
      const U = mat64(m, k), V = mat64(k, n), S = new Float64Array(k)
      taus.forEach((tau, t) => {
        const f = svd(mat(m, n, tau), { k: r })
        for (let i = 0; i < m; i++) for (let j = 0; j < r; j++) U.data[i * k + t * r + j] = f.U.data[i * r + j]
        V.data.set(f.Vt.data, t * r * n)
        S.set(f.S, t * r)
      })
      const Pu = polar(U), Pv = polar(V)
      for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) Pu.data[i * k + j] *= S[j]
      const ref = matmul(Pu, Pv).data
      const got = tsvMerge(taus, [m, n]).merged
      expect(maxAbsDiff(got, ref) / maxAbs(ref)).toBeLessThan(1e-6)
    }
  })

  it('Iso-C through polarAndSpectrum matches mean(σ)·U Vᵀ of the exact SVD (out ≠ in)', () => {
    const [m, n] = [9, 17]
    const taus = [1, 2, 3].map((s) => randn(m * n, s, 0.2))
    const M = mat(m, n, isoSum(taus))
    const e = svd(M)
    const mean = e.S.reduce((a, b) => a + b, 0) / e.S.length
    const ref = (matmul(e.U, e.Vt).data as Float64Array).map((x) => mean * x)
    const got = isoCMerge(taus, [m, n]).merged
    expect(maxAbsDiff(got, ref) / maxAbs(ref)).toBeLessThan(1e-6)
  })
})

describe('DogeTA fused gradient', () => {
  for (const N of [3, 5]) {
    it(`equals −2Λ Σ_j e_j V_j[o] with e from residuals() (N = ${N}, 7×4)`, () => {
      const rows = 7, cols = 4
      const V = Array.from({ length: N }, (_, j) => randn(rows * cols, 10 + j, 0.3))
      const prob = new DogeProblem(V, rows, cols, 0.07)
      const delta = randn(rows * cols, 99, 0.05)
      const g = new Float32Array(rows * cols)
      const loss = prob.gradient(delta, g)
      const e = prob.residuals(delta)
      const ref = new Float32Array(rows * cols)
      for (let o = 0; o < rows; o++) for (let i = 0; i < cols; i++) {
        let acc = 0
        for (let j = 0; j < N; j++) acc += e[j * rows + o] * V[j][o * cols + i]
        ref[o * cols + i] = -2 * prob.Lambda * acc
      }
      expect([...g]).toEqual([...ref])
      expect(Math.abs(loss - prob.loss(delta)) / prob.loss(delta)).toBeLessThan(1e-12)
    })
  }
})

/** A source that can also decode into caller-owned buffers, like ModelSource (exercises input reuse). */
class IntoSource extends MixedSource {
  async readF32Into(n: string, out: Float32Array): Promise<Float32Array> {
    const d = await this.readF32(n)
    if (out.length < d.length) throw new Error(`buffer too small for ${n}`)
    const v = out.subarray(0, d.length)
    v.set(d)
    return v
  }
}

function pools(seed: number, tasks: number, zeroMass = false): { plain: ModelPool; into: ModelPool } {
  // several shapes so recycled buffers are reused across sizes; names match DogeTA's filter
  const shapes: Record<string, number[]> = {
    'vision_model.encoder.layers.0.mlp.fc1.weight': [12, 7],
    'vision_model.encoder.layers.0.mlp.fc1.bias': [12],
    'vision_model.encoder.layers.0.self_attn.q_proj.weight': [7, 7],
    'vision_model.post_layernorm.weight': [7],
  }
  const mk = (s: number): T => Object.fromEntries(Object.entries(shapes).map(([n, sh], i) => [n, { shape: sh, data: randn(sh.reduce((a, b) => a * b, 1), s * 10 + i, 1) }]))
  const base = mk(seed)
  const models = Array.from({ length: tasks }, (_, t) => mk(seed + 1 + t))
  if (zeroMass) { // an exact cancellation in the bias: task 2 = −task 1 there
    const b = base['vision_model.encoder.layers.0.mlp.fc1.bias'].data as Float32Array
    const m1 = models[0]['vision_model.encoder.layers.0.mlp.fc1.bias'].data as Float32Array
    const m2 = models[1]['vision_model.encoder.layers.0.mlp.fc1.bias'].data as Float32Array
    m1[0] = b[0] + 4; m2[0] = b[0] - 4
    for (const m of models.slice(2)) (m['vision_model.encoder.layers.0.mlp.fc1.bias'].data as Float32Array)[0] = b[0]
  }
  const as = (C: typeof MixedSource) => ({ base: new C(base, {}, 'base'), models: models.map((m, i) => new C(m, {}, `model${i + 1}`)) })
  return { plain: as(MixedSource), into: as(IntoSource) }
}

describe('recycled input buffers give the same merge as fresh arrays', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['task_arithmetic', {}],
    ['ties_merging', { threshold: 90 }],
    ['ties_merging', { threshold: 50, merge_func: 'mean' }],
    ['ties_merging', { threshold: 50, merge_func: 'max' }],
    ['ties_merging', { threshold: 50, variant: 'mergekit' }],
    ['dare_ties_merging', {}],
    ['tsvm', {}],
    ['doge_ta', { steps: 3 }],
  ]
  for (const [method, params] of cases) {
    it(`${method} ${JSON.stringify(params)}`, async () => {
      const { plain, into } = pools(3, 3, true)
      const a = await merge1(method, plain, params, 5)
      const b = await merge1(method, into, params, 5)
      for (const n of plain.base.names()) expect(b.sink.get(n), n).toEqual(a.sink.get(n))
      if (method === 'ties_merging' && params.variant === undefined && params.merge_func === undefined) expect(a.result.diagnostics.zeroMassCoordinates).toBe(1)
    })
  }

  it('fused TIES (sum) matches the dense FusionBench formula on the recycled path', async () => {
    const { into } = pools(8, 4)
    const { sink } = await merge1('ties_merging', into, { threshold: 30, scaling_factor: 0.4 })
    const names = into.base.names()
    const flat = async (m: typeof into.base) => Float32Array.from((await Promise.all(names.map((n) => m.readF32(n)))).flatMap((x) => [...x]))
    const b = await flat(into.base)
    const taus = await Promise.all(into.models.map(async (m) => { const f = await flat(m); return f.map((x, i) => Math.fround(x - b[i])) }))
    const d = b.length, k = d - Math.trunc(d * 0.3)
    const trimmed = taus.map((t) => { const q = [...t].map(Math.abs).sort((x, y) => x - y)[k - 1]; return t.map((x) => (Math.abs(x) >= q ? x : 0)) })
    const mass = b.map((_, i) => trimmed.reduce((a, t) => Math.fround(a + t[i]), 0))
    const ref = b.map((bv, i) => {
      const s = mass[i] > 0 ? 1 : -1
      const sum = trimmed.reduce((a, t) => ((s > 0 && t[i] > 0) || (s < 0 && t[i] < 0) ? Math.fround(a + t[i]) : a), 0)
      return Math.fround(bv + Math.fround(Math.fround(0.4) * sum))
    })
    expect(names.flatMap((n) => sink.get(n))).toEqual([...ref])
  })
})

describe('fused TIES kernel edge values', () => {
  it('an infinite entry that does not agree with the elected sign is skipped, as in the branchy merge', async () => {
    const { tiesMergeSplit, disjointMerge } = await import('../../../main/engine/merge/methods/_ties-core')
    // coordinate 0: τ = [+∞, −1, −1]... mass +∞ → only +∞ counts; coordinate 1: τ = [−∞, 2, 3] → mass −∞ → −∞
    const base = Float32Array.of(0, 0, 0)
    const v = [Float32Array.of(Infinity, -Infinity, 1), Float32Array.of(-1, 2, -1), Float32Array.of(-1, 3, 2)]
    const out = new Float32Array(3), kept = new Float64Array(3), q = new Float32Array(3)
    const r = tiesMergeSplit(out, base, v, q, q, 1, 'sum', kept)
    const ref = disjointMerge(v, Float32Array.of(Infinity, -Infinity, 2), 1, 'sum')
    expect([...out]).toEqual([...ref])
    expect([...out]).toEqual([Infinity, -Infinity, 3])
    expect([r.deferred.length, r.zero.length, r.balance]).toEqual([0, 0, 1])
  })
})

describe('TIES split kernel: native and JS loops, bucket bounds', () => {
  const N = 5, n = 4000
  const base = randn(n, 1, 1)
  const models = Array.from({ length: N }, (_, t) => { const m = randn(n, 10 + t, 0.01); for (let i = 0; i < n; i++) m[i] += base[i]; return m })
  // a few exact cancellations and exact zeros
  for (let i = 0; i < 40; i += 4) { base[i] = 1; models[0][i] = base[i] + 0.5; models[1][i] = base[i] - 0.5; for (let t = 2; t < N; t++) models[t][i] = base[i] }
  const lo = Float32Array.from({ length: N }, (_, t) => 0.004 + t * 1e-4), hi = Float32Array.from(lo, (x) => x * 1.01)
  for (const func of ['sum', 'mean'] as const) {
    it(`${func}: native and JS give bit-identical outputs, deferred and zero sets, balance and counts`, async () => {
      const { tiesMergeSplit } = await import('../../../main/engine/merge/methods/_ties-core')
      const { useKernelImplementation, availableKernelImplementations } = await import('../../../main/engine/kernels/native-kernels')
      const run = (impl: 'native' | 'js', fromModels: boolean) => {
        useKernelImplementation(impl)
        const out = new Float32Array(n), kept = new Float64Array(N)
        const v = fromModels ? models : models.map((m) => Float32Array.from(m, (x, i) => x - base[i]))
        const counts = new Float64Array(2 * N)
        const r = tiesMergeSplit(out, base, v, lo, hi, 0.7, func, kept, { fromModels, counts, gather: true })
        useKernelImplementation('auto')
        for (const k of [...Array.from(r.deferred), ...Array.from(r.zero)]) out[k] = 0 // left to the caller: unspecified
        const h = r.held!
        return {
          out: [...out], kept: [...kept], deferred: [...Array.from(r.deferred)].sort((a, b) => a - b), zero: [...Array.from(r.zero)].sort((a, b) => a - b), balance: r.balance,
          counts: [...counts], held: { idx: [...h.idx], base: [...h.base], vals: h.vals.map((x) => [...x]) }, band: r.band!.map((b) => [...b].sort((x, y) => x - y)),
        }
      }
      const js = run('js', true)
      expect(run('js', false)).toEqual(js)
      expect(js.deferred.length).toBeGreaterThan(0)
      expect(js.zero).toEqual(Array.from({ length: 10 }, (_, k) => 4 * k))
      // the counts and the band partition every task's magnitudes; held is deferred ∪ zero with θ0 and τ there
      const taus = models.map((m) => Float32Array.from(m, (x, i) => x - base[i]))
      taus.forEach((tau, t) => {
        const mags = [...tau].map(Math.abs)
        expect(js.counts[t]).toBe(mags.filter((a) => a < lo[t]).length)
        expect(js.counts[N + t]).toBe(mags.filter((a) => a >= hi[t]).length)
        expect(js.band[t]).toEqual(mags.filter((a) => a >= lo[t] && a < hi[t]).map(Math.fround).sort((x, y) => x - y))
      })
      expect(js.held.idx).toEqual([...js.deferred, ...js.zero].sort((a, b) => a - b))
      expect(js.held.base).toEqual(js.held.idx.map((k) => base[k]))
      expect(js.held.vals).toEqual(taus.map((tau) => js.held.idx.map((k) => tau[k])))
      if (availableKernelImplementations().includes('native')) {
        expect(run('native', true)).toEqual(js)
        expect(run('native', false)).toEqual(js)
      }
    })
  }

  it('AbsBucketSelect: bucket bounds hold the k-th magnitude and settle() gives the exact value (native and JS)', async () => {
    const { AbsBucketSelect, kthSmallestAbs } = await import('../../../main/engine/kernels/select')
    const { useKernelImplementation, availableKernelImplementations } = await import('../../../main/engine/kernels/native-kernels')
    const chunks = [randn(3000, 5, 0.02), randn(1000, 6, 3), Float32Array.of(0, -0, Infinity, -Infinity, 1e-40)]
    const all = Float32Array.from(chunks.flatMap((c) => [...c]))
    for (const impl of availableKernelImplementations()) {
      useKernelImplementation(impl)
      for (const j of [1, 2, 77, 2000, 3999, all.length - 1, all.length]) {
        const sel = new AbsBucketSelect(j)
        for (const c of chunks) sel.pass1(c)
        const { lo, hi } = sel.bounds()
        const want = kthSmallestAbs(all, j)
        expect(want >= lo && (want < hi || lo === hi), `${impl} j=${j}`).toBe(true)
        const inside = Float32Array.from([...all].map(Math.abs).filter((m) => m >= lo && m < hi))
        expect(sel.settle(inside), `${impl} j=${j}`).toBe(want)
      }
      // τ formed on the fly from (θ, θ0) selects like the materialised difference
      const b = randn(3000, 8, 1), m = Float32Array.from(b, (x, i) => x + chunks[0][i])
      const s1 = new AbsBucketSelect(1234); s1.pass1(m, b)
      const tau = Float32Array.from(m, (x, i) => x - b[i])
      const { lo, hi } = s1.bounds()
      expect(s1.settle(Float32Array.from([...tau].map(Math.abs).filter((x) => x >= lo && x < hi)))).toBe(kthSmallestAbs(tau, 1234))
      useKernelImplementation('auto')
    }
    const s = new AbsBucketSelect(3); s.pass1(Float32Array.of(1, 2, 3)); s.bounds()
    expect(() => s.settle(Float32Array.of())).toThrow(/second read saw 0 values in the threshold bucket, the first counted 1/)
  })

  for (const [method, params] of [['ties_merging', {}], ['ties_merging', { threshold: 50, merge_func: 'mean' }], ['dare_ties_merging', {}]] as const) {
    it(`${method} ${JSON.stringify(params)}: patched two-pass, held two-pass and three-pass plans agree bit for bit`, async () => {
      const { plain } = pools(4, 3, true)
      const run = async (patchable: boolean) => {
        const mem = new MemorySink()
        // a sink without patch() makes TIES hold the tensors with late coordinates (or read three times)
        const sink = patchable ? mem : { write: mem.write.bind(mem), writeRaw: mem.writeRaw.bind(mem) }
        const result = await runMerge({ method, params, seed: 5, pool: plain, sink })
        return { d: result.diagnostics, t: [...mem.tensors].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, x]) => [n, [...x.data]]) }
      }
      const patched = await run(true)
      const held = await run(false)
      const prev = process.env.AMALGAM_MERGE_HOLD_BYTES
      process.env.AMALGAM_MERGE_HOLD_BYTES = '0'
      try {
        const three = await run(false)
        expect([patched.d.passes, held.d.passes, three.d.passes]).toEqual([2, 2, 3])
        expect(patched.d.patchedTensors).toBeGreaterThan(0)
        expect(held.d.heldTensors).toBe(patched.d.patchedTensors)
        for (const other of [held, three]) {
          expect(other.t).toEqual(patched.t)
          for (const k of ['thresholds', 'keptFraction', 'majoritySign']) expect(other.d[k], k).toEqual(patched.d[k])
        }
      } finally {
        if (prev === undefined) delete process.env.AMALGAM_MERGE_HOLD_BYTES; else process.env.AMALGAM_MERGE_HOLD_BYTES = prev
      }
    })
  }
})
