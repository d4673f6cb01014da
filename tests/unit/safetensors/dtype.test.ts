import { describe, expect, it } from 'vitest'
import {
  DTYPE_BYTES, bf16BitsToF32, decodeToF32, encodeFromF32, f16BitsToF32, f16Overflow, f32ToBf16Bits, f32ToF16Bits, firstNonFinite,
} from '../../../main/engine/safetensors/dtype'

const u32 = new Uint32Array(1)
const f32 = new Float32Array(u32.buffer)
const fromBits = (b: number): number => { u32[0] = b >>> 0; return f32[0] }
const bitsOf = (x: number): number => { f32[0] = x; return u32[0] }

describe('dtype sizes', () => {
  it('match the safetensors item sizes', () => {
    expect(DTYPE_BYTES).toEqual({ F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 })
  })
})

describe('bf16', () => {
  it('rounds to nearest, ties to even', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80)
    expect(f32ToBf16Bits(fromBits(0x3f808000))).toBe(0x3f80) // tie, lower neighbour even
    expect(f32ToBf16Bits(fromBits(0x3f818000))).toBe(0x3f82) // tie, lower neighbour odd → up
    expect(f32ToBf16Bits(fromBits(0x3f808001))).toBe(0x3f81) // just above the tie
    expect(f32ToBf16Bits(fromBits(0x3f807fff))).toBe(0x3f80) // just below the tie
    expect(f32ToBf16Bits(fromBits(0xbf818000))).toBe(0xbf82) // negative tie
  })
  it('keeps ±0, ±Inf, NaN (quiet) and subnormals', () => {
    expect(f32ToBf16Bits(0)).toBe(0x0000)
    expect(f32ToBf16Bits(-0)).toBe(0x8000)
    expect(f32ToBf16Bits(Infinity)).toBe(0x7f80)
    expect(f32ToBf16Bits(-Infinity)).toBe(0xff80)
    expect(f32ToBf16Bits(NaN) & 0x7fc0).toBe(0x7fc0)
    // a signalling NaN whose payload sits only in the low 16 bits must not become Inf
    expect(f32ToBf16Bits(fromBits(0x7f800001))).toBe(0x7fc0)
    expect(f32ToBf16Bits(fromBits(0xff800001))).toBe(0xffc0)
    expect(f32ToBf16Bits(fromBits(0x00010000))).toBe(0x0001) // subnormal
    expect(f32ToBf16Bits(fromBits(0x00008000))).toBe(0x0000) // tie below the smallest subnormal → even 0
    expect(f32ToBf16Bits(fromBits(0x00018000))).toBe(0x0002) // subnormal tie → even
    expect(f32ToBf16Bits(fromBits(0x7f7fffff))).toBe(0x7f80) // largest f32 rounds up to Inf
  })
  it('decodes exactly: every bf16 is the top half of an f32 and round-trips', () => {
    for (let h = 0; h < 65536; h++) {
      const x = bf16BitsToF32(h)
      expect(bitsOf(x)).toBe((h << 16) >>> 0)
      if (x === x) expect(f32ToBf16Bits(x)).toBe(h)
    }
  })
  it('bulk encode equals the scalar routine on random bit patterns', () => {
    const n = 50_000
    const bits = new Uint32Array(n)
    for (let i = 0; i < n; i++) bits[i] = (Math.random() * 2 ** 32) >>> 0
    const data = new Float32Array(bits.buffer)
    const enc = new Uint16Array(encodeFromF32(data, 'BF16').buffer)
    for (let i = 0; i < n; i++) expect(enc[i]).toBe(f32ToBf16Bits(fromBits(bits[i])))
  })
})

/** Reference f32 → f16 value (not bits) by arithmetic in doubles, ties to even. */
function refF16(x: number): number {
  if (x !== x) return NaN
  const a = Math.abs(x)
  if (a >= 65520) return x > 0 ? Infinity : -Infinity
  if (a === 0) return x
  const e = Math.max(Math.floor(Math.log2(a)), -14)
  const ulp = 2 ** (e - 10)
  const q = a / ulp
  const fl = Math.floor(q)
  const r = q - fl > 0.5 || (q - fl === 0.5 && fl % 2 === 1) ? fl + 1 : fl
  const v = r * ulp
  return x < 0 ? -v : v
}

describe('f16', () => {
  it('holds the maximum 65504 and overflows to ±Inf beyond the rounding boundary', () => {
    expect(f32ToF16Bits(65504)).toBe(0x7bff)
    expect(f32ToF16Bits(65519)).toBe(0x7bff)
    expect(f32ToF16Bits(65520)).toBe(0x7c00) // tie between 65504 and 2^16 goes to even (Inf)
    expect(f32ToF16Bits(-65520)).toBe(0xfc00)
    expect(f32ToF16Bits(1e6)).toBe(0x7c00)
    expect(f16BitsToF32(0x7bff)).toBe(65504)
  })
  it('rounds to nearest, ties to even, in the normal and subnormal ranges', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00)
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00) // tie, even below
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02) // tie, even above
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01)
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001) // smallest subnormal
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000) // half of it: tie to even zero
    expect(f32ToF16Bits(2 ** -25 + 2 ** -40)).toBe(0x0001)
    expect(f32ToF16Bits(1.5 * 2 ** -24)).toBe(0x0002) // tie between 1 and 2 ulps → 2
    expect(f32ToF16Bits(2.5 * 2 ** -24)).toBe(0x0002) // tie between 2 and 3 ulps → 2
    expect(f32ToF16Bits(1023.5 * 2 ** -24)).toBe(0x0400) // largest subnormal tie → smallest normal
    expect(f32ToF16Bits(2 ** -14)).toBe(0x0400)
    expect(f32ToF16Bits(-(2 ** -24))).toBe(0x8001)
    expect(f32ToF16Bits(1e-10)).toBe(0x0000)
  })
  it('keeps ±0, ±Inf and NaN', () => {
    expect(f32ToF16Bits(0)).toBe(0x0000)
    expect(f32ToF16Bits(-0)).toBe(0x8000)
    expect(f32ToF16Bits(Infinity)).toBe(0x7c00)
    expect(f32ToF16Bits(-Infinity)).toBe(0xfc00)
    expect(f32ToF16Bits(NaN) & 0x7e00).toBe(0x7e00)
    expect(f32ToF16Bits(fromBits(0x7f800001)) & 0x7e00).toBe(0x7e00) // sNaN stays NaN
    expect(Number.isNaN(f16BitsToF32(0x7e00))).toBe(true)
    expect(Object.is(f16BitsToF32(0x8000), -0)).toBe(true)
  })
  it('decodes every half exactly and round-trips every non-NaN half', () => {
    for (let h = 0; h < 65536; h++) {
      const s = h & 0x8000 ? -1 : 1
      const e = (h >>> 10) & 0x1f
      const m = h & 0x3ff
      const x = f16BitsToF32(h)
      if (e === 31 && m) { expect(Number.isNaN(x)).toBe(true); continue }
      const want = e === 0 ? s * m * 2 ** -24 : e === 31 ? s * Infinity : s * (1 + m / 1024) * 2 ** (e - 15)
      expect(Object.is(x, want)).toBe(true)
      expect(f32ToF16Bits(x)).toBe(h)
    }
  })
  it('matches a reference rounding on random f32 values across the range', () => {
    const n = 50_000
    const data = new Float32Array(n)
    const bits = new Uint32Array(data.buffer)
    for (let i = 0; i < n; i++) {
      // exponents concentrated around the f16 range so subnormals, normals and overflow all occur
      const e = 100 + Math.floor(Math.random() * 50)
      bits[i] = ((Math.random() < 0.5 ? 0x80000000 : 0) | (e << 23) | Math.floor(Math.random() * 0x800000)) >>> 0
    }
    const enc = new Uint16Array(encodeFromF32(data, 'F16').buffer)
    for (let i = 0; i < n; i++) {
      expect(enc[i]).toBe(f32ToF16Bits(data[i]))
      expect(Object.is(f16BitsToF32(enc[i]), refF16(data[i]))).toBe(true)
    }
  })
})

describe('bulk decode/encode', () => {
  it('decodes F32/F16/BF16/F64 and refuses integers', () => {
    const vals = [0, -0, 1.5, -2.25, 65504, 2 ** -24]
    const f = new Float32Array(vals)
    expect([...decodeToF32(encodeFromF32(f, 'F32'), 'F32')]).toEqual(vals)
    expect([...decodeToF32(encodeFromF32(f, 'F16'), 'F16')]).toEqual(vals)
    const bf = decodeToF32(encodeFromF32(f, 'BF16'), 'BF16')
    for (let i = 0; i < vals.length; i++) expect(bf[i]).toBe(bf16BitsToF32(f32ToBf16Bits(vals[i])))
    const d = new Float64Array([1 / 3, -1e40, 1e-50])
    const got = decodeToF32(new Uint8Array(d.buffer), 'F64')
    expect([...got]).toEqual([Math.fround(1 / 3), -Infinity, 0])
    for (const dt of ['I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'] as const) {
      expect(() => decodeToF32(new Uint8Array(8), dt)).toThrow(/integer and bool tensors/)
    }
    expect(() => decodeToF32(new Uint8Array(3), 'F16')).toThrow(/not a whole number of F16/)
  })
  it('handles unaligned input by copying', () => {
    const f = new Float32Array([1, 2, 3, -4])
    for (const dt of ['F32', 'F16', 'BF16'] as const) {
      const enc = encodeFromF32(f, dt)
      const padded = new Uint8Array(enc.byteLength + 1)
      padded.set(enc, 1)
      expect([...decodeToF32(padded.subarray(1), dt)]).toEqual([1, 2, 3, -4])
    }
    const d = new Uint8Array(17)
    new DataView(d.buffer).setFloat64(1, 0.5, true)
    new DataView(d.buffer).setFloat64(9, -8, true)
    expect([...decodeToF32(d.subarray(1), 'F64')]).toEqual([0.5, -8])
  })
  it('finds non-finite values and F16 overflow', () => {
    expect(firstNonFinite(new Float32Array([1, 2, 3]))).toBe(-1)
    expect(firstNonFinite(new Float32Array([1, NaN, Infinity]))).toBe(1)
    expect(firstNonFinite(new Float32Array([1, 2, -Infinity]))).toBe(2)
  })
  it('firstNonFinite: the addon scan and the JS loop agree across block boundaries', async () => {
    const { useKernelImplementation, availableKernelImplementations } = await import('../../../main/engine/kernels/native-kernels')
    const n = 3 * 4096 + 17
    for (const at of [-1, 0, 4095, 4096, 8191, n - 1]) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        const a = Float32Array.from({ length: n }, (_, i) => (i % 7) - 3.5)
        if (at >= 0) { a[at] = bad; if (at + 5 < n) a[at + 5] = NaN }
        for (const impl of availableKernelImplementations()) {
          useKernelImplementation(impl)
          expect(firstNonFinite(a), `${impl} at ${at}`).toBe(at)
        }
        useKernelImplementation('auto')
      }
    }
    expect(f16Overflow(new Float32Array([65504, -65519]))).toBe(-1)
    expect(f16Overflow(new Float32Array([1, -65520]))).toBe(1)
  })
})

describe('SIMD bf16 decode', () => {
  it('agrees with the scalar definition for every bf16 pattern, at any length and offset', async () => {
    const { bf16ToF32Simd, simdAvailable } = await import('../../../main/engine/safetensors/simd')
    const all = new Uint16Array(65536 + 3)
    for (let i = 0; i < all.length; i++) all[i] = i & 0xffff
    for (const [start, len] of [[0, 65539], [1, 17], [5, 300_001 % 65534], [0, 7]] as const) {
      const src = all.subarray(start, start + len)
      const out = new Uint32Array(len)
      const used = bf16ToF32Simd(src, out)
      if (!simdAvailable()) { expect(used).toBe(false); continue }
      const bad: number[] = []
      for (let i = 0; i < len; i++) if (out[i] !== ((src[i] << 16) >>> 0)) bad.push(i)
      expect(bad).toEqual([])
    }
    // the public path (above the small-tensor threshold) matches too
    const bytes = new Uint8Array(all.buffer, 0, 65536 * 2)
    const dec = new Uint32Array(decodeToF32(bytes, 'BF16').buffer)
    let mismatches = 0
    for (let h = 0; h < 65536; h++) if (dec[h] !== ((h << 16) >>> 0)) mismatches++
    expect(mismatches).toBe(0)
  })
})
