// SampledBandSelect: bounds on the j-th smallest |v| from a stratified sample (values read in full
// plus sub-sampled chunks), settled exactly from the values below and inside the band.
import { afterEach, describe, expect, it } from 'vitest'
import { SampledBandSelect } from '../../../main/engine/kernels/sampled-select'
import { absHistogramSegments, absHistograms, kthSmallestAbs } from '../../../main/engine/kernels/select'
import { availableKernelImplementations, useKernelImplementation } from '../../../main/engine/kernels/native-kernels'
import { randn } from '../merge/_pool'

afterEach(() => useKernelImplementation('auto'))

/** all values; the first `full` read in full, the rest sampled one chunk in `ratio` into G sub-samples */
function sampled(all: Float32Array, full: number, chunk: number, ratio: number, G: number, j: number) {
  const sel = new SampledBandSelect(j, all.length, G)
  SampledBandSelect.addFull([sel], [all.subarray(0, full)])
  const rest = all.subarray(full), strides = Math.floor(rest.length / (chunk * ratio))
  const byGroup: Float32Array[][] = Array.from({ length: G }, () => [])
  for (let c = 0; c < strides; c++) byGroup[c % G].push(rest.subarray(c * chunk * ratio + (c % ratio) * chunk, c * chunk * ratio + (c % ratio + 1) * chunk))
  const buf = Float32Array.from(byGroup.flatMap((g) => g.flatMap((x) => [...x])))
  const offsets = new Uint32Array(G + 1)
  byGroup.forEach((g, i) => { offsets[i + 1] = offsets[i] + g.length * chunk })
  SampledBandSelect.addSample([sel], [buf], offsets, byGroup.map((g) => g.length * chunk * ratio))
  // the tail past the last whole stride, in full
  SampledBandSelect.addFull([sel], [rest.subarray(strides * chunk * ratio)])
  return sel
}

describe('SampledBandSelect', () => {
  const all = Float32Array.from(randn(200_000, 3, 0.01), (x, i) => x * (1 + (i % 13) / 4))
  for (const impl of availableKernelImplementations()) {
    it(`${impl}: the band holds the exact j-th value and settle() returns it`, () => {
      useKernelImplementation(impl)
      for (const j of [1, 5000, 100_000, 160_000, 199_999, 200_000]) {
        const sel = sampled(all, 3000, 64, 8, 8, j)
        const { lo, hi, inBandFraction } = sel.bounds(6)
        const want = kthSmallestAbs(all, j)
        expect(want >= lo && want < hi, `j=${j}: ${want} in [${lo}, ${hi})`).toBe(true)
        if (j > 1 && j < all.length) expect(inBandFraction, `j=${j}`).toBeLessThan(0.05)
        const mags = [...all].map(Math.abs)
        const below = mags.filter((m) => m < lo).length
        expect(sel.settle(below, Float32Array.from(mags.filter((m) => m >= lo && m < hi)))).toBe(want)
      }
    })
  }

  it('settle() reports a band that misses (null), and an infinite top', () => {
    const sel = sampled(all, 3000, 64, 8, 8, 1000)
    sel.override({ lo: 1, hi: 2, inBandFraction: 0 })
    expect(sel.settle(all.length, new Float32Array(0))).toBeNull() // the answer lies below the band
    const sel2 = sampled(all, 3000, 64, 8, 8, 1000)
    sel2.override({ lo: 0, hi: 1e-30, inBandFraction: 0 })
    expect(sel2.settle(0, new Float32Array(0))).toBeNull() // above it
    const inf = new SampledBandSelect(3, 3, 2)
    SampledBandSelect.addFull([inf], [Float32Array.of(1, Infinity, -Infinity)])
    const b = inf.bounds(6)
    expect(b.hi).toBe(Infinity)
    expect(inf.settle([1, Infinity, Infinity].filter((m) => m < b.lo).length, Float32Array.from([1, Infinity, Infinity].filter((m) => m >= b.lo && m < b.hi)))).toBe(Infinity)
  })

  it('absHistogramSegments equals absHistograms per segment (native and JS), NaN counted per segment', () => {
    const x = [randn(5000, 1, 0.1), randn(5000, 2, 3)]
    x[1][4200] = NaN
    const base = randn(5000, 9, 1)
    const offsets = Uint32Array.of(0, 1000, 1000, 4100, 5000)
    const results = availableKernelImplementations().map((impl) => {
      useKernelImplementation(impl)
      const hists = Array.from({ length: 8 }, () => new Uint32Array(1 << 16))
      const nan = absHistogramSegments(x, base, offsets, hists)
      const ref = Array.from({ length: 8 }, () => new Uint32Array(1 << 16))
      for (let g = 0; g < 4; g++) absHistograms(x.map((c) => c.subarray(offsets[g], offsets[g + 1])), [ref[g], ref[4 + g]], base.subarray(offsets[g], offsets[g + 1]))
      expect(hists.map((h) => [...h]), impl).toEqual(ref.map((h) => [...h]))
      expect(Array.from(nan), impl).toEqual([0, 0, 0, 0, 0, 0, 0, 1])
      return hists.map((h) => [...h])
    })
    expect(results.every((r) => JSON.stringify(r) === JSON.stringify(results[0]))).toBe(true)
  })
})
