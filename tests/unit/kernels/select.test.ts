import { beforeEach, describe, expect, it } from 'vitest'
import {
  AbsRadixSelect, kthSmallestAbs, kthLargestAbs, countAbsGreaterEqual, countNaN, trimAbsInto,
  useKernelImplementation, availableKernelImplementations,
} from '../../../main/engine/kernels/index'

const f32 = (xs: number[]): Float32Array => Float32Array.from(xs)

function sortedAbs(chunks: Float32Array[]): number[] {
  const all: number[] = []
  for (const c of chunks) for (const v of c) if (!Number.isNaN(v)) all.push(Math.abs(v))
  return all.sort((a, b) => a - b)
}

function randomChunks(seed: number, sizes: number[]): Float32Array[] {
  let s = seed
  const next = (): number => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 }
  return sizes.map((n) => Float32Array.from({ length: n }, () => {
    const r = next()
    if (r < 0.02) return NaN
    if (r < 0.1) return 0.25 * (next() < 0.5 ? -1 : 1) // many exact ties
    return (next() - 0.5) * 10 ** (next() * 6 - 3)
  }))
}

describe.each(availableKernelImplementations())('radix select (%s)', (impl) => {
  beforeEach(() => useKernelImplementation(impl))

  describe('kthSmallestAbs', () => {
    it('matches a sort on random chunked data with ties, NaN, ±0 and tiny/huge values', () => {
      const chunks = randomChunks(1, [1000, 1, 0, 3333, 17])
      chunks[0][0] = -0; chunks[0][1] = 0; chunks[1][0] = -Infinity
      const ref = sortedAbs(chunks)
      for (const j of [1, 2, 3, 10, 500, ref.length >> 1, ref.length - 1, ref.length]) {
        expect(kthSmallestAbs(chunks, j)).toBe(ref[j - 1])
      }
      expect(kthSmallestAbs(chunks, ref.length)).toBe(Infinity)
    })

    it('handles a single array, subnormals and exact ties at the threshold', () => {
      const x = Float32Array.from([3, -1, NaN, 2, -2, 2, 1e-45, -1e-40])
      expect(kthSmallestAbs(x, 1)).toBe(Math.fround(1e-45))
      expect(kthSmallestAbs(x, 2)).toBe(Math.fround(1e-40))
      expect(kthSmallestAbs(x, 4)).toBe(2)
      expect(kthSmallestAbs(x, 6)).toBe(2)
      expect(kthSmallestAbs(x, 7)).toBe(3)
    })

    it('keeps ties: the FusionBench top-k mask |v| ≥ kth keeps more than k when values tie', () => {
      const x = Float32Array.from([0.5, -0.5, 0.5, 0.1, 0.9, -0.5])
      // keep the top 20 % → kthvalue with k = int(6·0.8) = 4 → threshold 0.5
      const thr = kthSmallestAbs(x, Math.floor(x.length * 0.8))
      expect(thr).toBe(0.5)
      expect(countAbsGreaterEqual(x, thr)).toBe(5)
      expect(trimAbsInto(new Float32Array(6), x, thr)).toEqual(f32([0.5, -0.5, 0.5, 0, 0.9, -0.5]))
    })

    it('kthLargestAbs counts from the top, excluding NaN', () => {
      const x = Float32Array.from([NaN, 4, -7, 1, NaN])
      expect(kthLargestAbs(x, 1)).toBe(7)
      expect(kthLargestAbs(x, 3)).toBe(1)
      expect(countNaN(x)).toBe(2)
      expect(() => kthLargestAbs(x, 4)).toThrow(/outside 1\.\.3/)
    })

    it('rejects ranks outside 1..count with a clear error', () => {
      expect(() => kthSmallestAbs(Float32Array.from([NaN, 1]), 2)).toThrow(/rank 2 is outside 1\.\.1/)
      expect(() => kthSmallestAbs([], 1)).toThrow(/outside 1\.\.0/)
    })
  })

  describe('AbsRadixSelect (two streamed passes)', () => {
    it('finds a global threshold with a rank resolved from the count after pass 1', () => {
      const chunks = randomChunks(9, [400, 2500, 77])
      const ref = sortedAbs(chunks)
      const s = new AbsRadixSelect((count) => Math.floor(count * 0.8))
      for (const c of chunks) s.pass1(c)
      expect(s.count).toBe(ref.length)
      s.beginPass2()
      expect(s.needsPass2).toBe(true)
      // pass 2 in a different chunking and order must give the same answer
      const flat = new Float32Array(chunks.reduce((n, c) => n + c.length, 0))
      let o = 0; for (const c of chunks) { flat.set(c, o); o += c.length }
      s.pass2(flat.subarray(1000)); s.pass2(flat.subarray(0, 1000))
      expect(s.result()).toBe(ref[Math.floor(ref.length * 0.8) - 1])
      expect(s.needsPass2).toBe(false)
    })

    it('guards the call order', () => {
      const s = new AbsRadixSelect(1)
      expect(() => s.result()).toThrow(/before beginPass2/)
      s.pass1(Float32Array.from([1]))
      s.beginPass2()
      expect(() => s.pass1(Float32Array.from([1]))).toThrow(/after beginPass2/)
    })
  })
})
