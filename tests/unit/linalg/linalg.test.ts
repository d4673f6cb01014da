import { afterAll, describe, expect, it } from 'vitest'
import {
  availableImplementations, useImplementation, activeImplementation, matmul, eigh, svd, pinvPsd,
  choleskySolve, qr, projectCols, projectRows, polar, mat, mat64, transpose, toF32, toF64, linalgInfo,
  EPS_F32, matmulAsync, eighAsync, svdAsync, type Mat,
} from '../../../main/engine/linalg/index'
import { get, maxAbs, maxAbsDiff, orthoError, psdOfRank, randMat, refMul } from './helpers'

afterAll(() => useImplementation('auto'))

function diagMul(u: Mat, s: ArrayLike<number>, vt: Mat): Float64Array {
  const us = Float64Array.from(u.data)
  for (let i = 0; i < u.rows; i++) for (let j = 0; j < u.cols; j++) us[i * u.cols + j] *= s[j]
  return refMul({ rows: u.rows, cols: u.cols, data: us }, vt)
}

describe.each(availableImplementations())('linalg (%s)', (impl) => {
  const use = (): void => useImplementation(impl)

  it('selects the requested implementation', () => {
    use()
    expect(activeImplementation()).toBe(impl)
    expect(linalgInfo().native).toBe(impl === 'native')
  })

  it.each([[false, false], [true, false], [false, true], [true, true]])('matmul f64 transA=%s transB=%s', (ta, tb) => {
    use()
    const m = 7, k = 5, n = 9
    const a = randMat(ta ? k : m, ta ? m : k, 1), b = randMat(tb ? n : k, tb ? k : n, 2)
    const c = matmul(a, b, { transA: ta, transB: tb })
    expect([c.rows, c.cols]).toEqual([m, n])
    expect(c.data).toBeInstanceOf(Float64Array)
    expect(maxAbsDiff(c.data, refMul(a, b, ta, tb))).toBeLessThan(1e-13)
  })

  it.each([[false, false], [true, false], [false, true], [true, true]])('matmul f32 transA=%s transB=%s keeps float32', (ta, tb) => {
    use()
    const m = 33, k = 17, n = 6
    const a = randMat(ta ? k : m, ta ? m : k, 3, true), b = randMat(tb ? n : k, tb ? k : n, 4, true)
    const c = matmul(a, b, { transA: ta, transB: tb })
    expect(c.data).toBeInstanceOf(Float32Array)
    expect(maxAbsDiff(c.data, refMul(a, b, ta, tb))).toBeLessThan(1e-5)
  })

  it('matmul: mixed precision gives float64; mismatched shapes throw naming both', () => {
    use()
    const c = matmul(randMat(3, 4, 5, true), randMat(4, 2, 6))
    expect(c.data).toBeInstanceOf(Float64Array)
    expect(() => matmul(randMat(3, 4, 1), randMat(3, 4, 2))).toThrow(/3×4.*3×4/)
    expect(matmul(mat(2, 0), mat(0, 3)).data).toEqual(new Float32Array(6))
  })

  it('eigh: reconstruction, orthogonality, ascending values', () => {
    use()
    const n = 24
    const x = randMat(n, n, 7)
    const a: Mat = { rows: n, cols: n, data: Float64Array.from(refMul(x, x, false, true)).map((v, i) => v - (i % (n + 1) === 0 ? 1 : 0)) }
    const { values, vectors } = eigh(a)
    for (let i = 1; i < n; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1])
    expect(orthoError(vectors)).toBeLessThan(1e-12)
    expect(maxAbsDiff(diagMul(vectors, values, transpose(vectors)), a.data)).toBeLessThan(1e-11 * maxAbs(values))
    expect(values[0]).toBeLessThan(0) // shifted by −I: indefinite spectra are fine
  })

  it('eigh reads only the lower triangle (torch UPLO=L)', () => {
    use()
    const a = mat64(2, 2, [2, 99, 1, 2]) // upper entry is garbage
    expect(Array.from(eigh(a).values)).toEqual([expect.closeTo(1, 12), expect.closeTo(3, 12)])
  })

  it.each([[40, 12], [12, 40], [16, 16]])('svd %i×%i: reconstruction, orthogonality, descending S', (m, n) => {
    use()
    const a = randMat(m, n, m * 100 + n)
    const { U, S, Vt } = svd(a)
    const r = Math.min(m, n)
    expect([U.rows, U.cols, S.length, Vt.rows, Vt.cols]).toEqual([m, r, r, r, n])
    for (let i = 1; i < r; i++) expect(S[i]).toBeLessThanOrEqual(S[i - 1])
    expect(orthoError(U)).toBeLessThan(1e-12)
    expect(orthoError(transpose(Vt))).toBeLessThan(1e-12)
    expect(maxAbsDiff(diagMul(U, S, Vt), a.data)).toBeLessThan(1e-12)
  })

  it('svd of a rank-deficient matrix still returns orthonormal U', () => {
    use()
    const x = randMat(30, 3, 11), y = randMat(3, 10, 12)
    const a = mat64(30, 10, refMul(x, y))
    const { U, S, Vt } = svd(a)
    expect(S[3]).toBeLessThan(1e-12 * S[0])
    expect(orthoError(U)).toBeLessThan(1e-10)
    expect(maxAbsDiff(diagMul(U, S, Vt), a.data)).toBeLessThan(1e-12)
  })

  it('svd top-k exact and randomized agree on a matrix with a decaying spectrum', () => {
    use()
    const m = 60, n = 30, k = 5
    // A = P diag(σ) Qᵀ with σ_i = 2^-i
    const P = qr(randMat(m, n, 21)).Q, Q = qr(randMat(n, n, 22)).Q
    const sig = Array.from({ length: n }, (_, i) => 2 ** -i)
    const a = mat64(m, n, diagMul(P, sig, transpose(Q)))
    const ex = svd(a, { k })
    expect([ex.U.cols, ex.S.length, ex.Vt.rows]).toEqual([k, k, k])
    for (let i = 0; i < k; i++) expect(ex.S[i]).toBeCloseTo(sig[i], 12)
    const rs = svd(a, { k, method: 'randomized', seed: 3 })
    for (let i = 0; i < k; i++) expect(Math.abs(rs.S[i] - sig[i])).toBeLessThan(1e-9)
    expect(orthoError(rs.U)).toBeLessThan(1e-12)
    // ‖A − U_k S_k V_kᵀ‖ is close to σ_{k+1} (Eckart–Young), for both methods
    const resid = (s: typeof ex): number => maxAbs(diagMul(s.U, s.S, s.Vt).map((v, i) => v - a.data[i]))
    expect(resid(rs)).toBeLessThan(2 * sig[k])
    expect(() => svd(a, { k: 31 })).toThrow(/k = 31/)
  })

  it('pinvPsd satisfies the Moore–Penrose conditions on a rank-deficient PSD matrix', () => {
    use()
    const n = 20, r = 6
    const a = psdOfRank(n, r, 31)
    const p = pinvPsd(a)
    const apa = refMul(mat64(n, n, refMul(a, p)), a)
    const pap = refMul(mat64(n, n, refMul(p, a)), p)
    const scale = maxAbs(a.data), pscale = maxAbs(p.data)
    expect(maxAbsDiff(apa, a.data)).toBeLessThan(1e-10 * scale)
    expect(maxAbsDiff(pap, p.data)).toBeLessThan(1e-10 * pscale)
    const ap = refMul(a, p), pa = refMul(p, a)
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      expect(Math.abs(ap[i * n + j] - ap[j * n + i])).toBeLessThan(1e-10)
      expect(Math.abs(pa[i * n + j] - pa[j * n + i])).toBeLessThan(1e-10)
    }
    // rank of A⁺A is r: its trace
    let tr = 0; for (let i = 0; i < n; i++) tr += pa[i * n + i]
    expect(tr).toBeCloseTo(r, 8)
  })

  it('pinvPsd cutoff: default rtol = n·eps_f32 drops eigenvalues at or below rtol·σmax', () => {
    use()
    const n = 4
    // eigenvalues 1, n·eps32·0.5 (dropped), n·eps32·2 (kept), 0.5 in the standard basis
    const small = n * EPS_F32
    const a = mat64(n, n, [1, 0, 0, 0, 0, 0.5 * small, 0, 0, 0, 0, 2 * small, 0, 0, 0, 0, 0.5])
    const p = pinvPsd(a)
    expect(get(p, 0, 0)).toBeCloseTo(1, 10)
    expect(get(p, 1, 1)).toBe(0)
    expect(get(p, 2, 2) * 2 * small).toBeCloseTo(1, 6)
    expect(get(p, 3, 3)).toBeCloseTo(2, 10)
    expect(get(pinvPsd(a, { rtol: 0 }), 1, 1) * 0.5 * small).toBeCloseTo(1, 6)
  })

  it('choleskySolve solves a PD system and falls back on a singular one', () => {
    use()
    const n = 12
    const x = randMat(n, n, 41)
    const a = mat64(n, n, refMul(x, x, false, true).map((v, i) => v + (i % (n + 1) === 0 ? n : 0)))
    const b = randMat(n, 3, 42)
    const r = choleskySolve(a, b)
    expect(r.usedFallback).toBe(false)
    expect(maxAbsDiff(refMul(a, r.x), b.data)).toBeLessThan(1e-11)

    const s = psdOfRank(n, 4, 43)
    const bs = mat64(n, 2, refMul(s, randMat(n, 2, 44))) // consistent right-hand side
    const rs = choleskySolve(s, bs)
    expect(rs.usedFallback).toBe(true)
    expect(maxAbsDiff(refMul(s, rs.x), bs.data)).toBeLessThan(1e-9 * maxAbs(bs.data))
    expect(maxAbsDiff(rs.x.data, refMul(pinvPsd(s), bs))).toBeLessThan(1e-12)
    expect(choleskySolve(mat64(2, 2, [1, 0, 0, -1]), mat64(2, 1, [1, 1])).usedFallback).toBe(true)
  })

  it.each([[30, 8], [8, 30], [10, 10]])('qr %i×%i: Q orthonormal, R upper, QR = A', (m, n) => {
    use()
    const a = randMat(m, n, m + 7 * n)
    const { Q, R } = qr(a)
    const r = Math.min(m, n)
    expect([Q.rows, Q.cols, R.rows, R.cols]).toEqual([m, r, r, n])
    expect(orthoError(Q)).toBeLessThan(1e-13)
    for (let i = 0; i < r; i++) for (let j = 0; j < i; j++) expect(get(R, i, j)).toBe(0)
    expect(maxAbsDiff(refMul(Q, R), a.data)).toBeLessThan(1e-13)
  })

  it('projectCols / projectRows match the explicit projectors (out ≠ in)', () => {
    use()
    const out = 14, inn = 9, r = 3
    const g = randMat(out, inn, 51)
    const U = qr(randMat(out, r, 52)).Q, V = qr(randMat(inn, r, 53)).Q
    const pc = projectCols(U, g)
    expect([pc.rows, pc.cols]).toEqual([out, inn])
    expect(maxAbsDiff(pc.data, refMul(mat64(out, out, refMul(U, U, false, true)), g))).toBeLessThan(1e-13)
    const pr = projectRows(V, g)
    expect([pr.rows, pr.cols]).toEqual([out, inn])
    expect(maxAbsDiff(pr.data, refMul(g, mat64(inn, inn, refMul(V, V, false, true))))).toBeLessThan(1e-13)
    expect(() => projectRows(U, g)).toThrow(/V is 14×3/)
  })

  it('polar returns the orthogonal factor (out ≠ in)', () => {
    use()
    const a = randMat(11, 5, 61)
    const p = polar(a)
    expect([p.rows, p.cols]).toEqual([11, 5])
    expect(orthoError(p)).toBeLessThan(1e-12)
    // Pᵀ A is symmetric positive definite
    const h = refMul(p, a, true)
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) expect(Math.abs(h[i * 5 + j] - h[j * 5 + i])).toBeLessThan(1e-12)
  })

  it('float32 inputs give float64 decompositions close to the float64 ones', () => {
    use()
    const a = randMat(20, 8, 71, true)
    expect(svd(a).S).toBeInstanceOf(Float64Array)
    expect(maxAbsDiff(svd(a).S, svd(toF64(a)).S)).toBeLessThan(1e-12)
    expect(toF32(toF64(a)).data).toEqual(a.data)
  })

  it('bad input errors name the function and the shape', () => {
    use()
    expect(() => eigh(randMat(3, 4, 1))).toThrow(/eigh: expected a square matrix, got 3×4/)
    expect(() => mat(2, 2, [1, 2, 3])).toThrow(/3 elements.*2×2/)
    expect(() => choleskySolve(mat64(2, 2), mat64(3, 1))).toThrow(/b has 3 rows/)
  })
})

describe.runIf(availableImplementations().includes('native'))('native and fallback agree', () => {
  it('on eigh, svd, qr, pinv, matmul within float tolerance', () => {
    const a = randMat(25, 10, 81)
    const s = psdOfRank(15, 7, 82)
    const run = (impl: 'native' | 'fallback') => {
      useImplementation(impl)
      return { mm: matmul(a, a, { transA: true }).data, ev: eigh(s).values, sv: svd(a).S, pinv: pinvPsd(s).data, R: qr(a).R.data.map(Math.abs) }
    }
    const n = run('native'), f = run('fallback')
    expect(maxAbsDiff(n.mm, f.mm)).toBeLessThan(1e-12)
    expect(maxAbsDiff(n.ev, f.ev)).toBeLessThan(1e-12)
    expect(maxAbsDiff(n.sv, f.sv)).toBeLessThan(1e-12)
    expect(maxAbsDiff(n.pinv, f.pinv)).toBeLessThan(1e-9 * maxAbs(n.pinv))
    expect(maxAbsDiff(n.R, f.R)).toBeLessThan(1e-12)
  })
})

describe.each(availableImplementations())('async forms (%s)', (impl) => {
  it('matmulAsync, eighAsync and svdAsync equal the synchronous results', async () => {
    useImplementation(impl)
    const a = randMat(30, 12, 91), a32 = randMat(9, 7, 92, true)
    expect((await matmulAsync(a, a, { transA: true })).data).toEqual(matmul(a, a, { transA: true }).data)
    expect((await matmulAsync(a32, a32, { transB: true })).data).toEqual(matmul(a32, a32, { transB: true }).data)
    const s = mat64(12, 12, refMul(a, a, true))
    expect((await eighAsync(s)).values).toEqual(eigh(s).values)
    const sa = await svdAsync(a, { k: 4 }), ss = svd(a, { k: 4 })
    expect(sa.S).toEqual(ss.S); expect(sa.U.data).toEqual(ss.U.data)
  })
})
