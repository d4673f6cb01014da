// dtype sizes and the float conversions between stored dtypes and float32 (formats.md §2).
// TF.js computes only in float32, so every floating tensor passes through here on its way
// in (decode) and out (encode). The bulk paths work on typed-array views of the same memory and
// allocate only the output array.
import type { DType } from '#common/types'
import { AmalgamError } from '#common/errors'
import { bf16ToF32Simd } from './simd'
import { kernelAddon } from '../kernels/native-kernels'

export const DTYPE_BYTES: Record<DType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
}

export const ALL_DTYPES: readonly DType[] = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL']
export const isDType = (s: unknown): s is DType => typeof s === 'string' && Object.hasOwn(DTYPE_BYTES, s)

export type FloatEncodeDType = 'F32' | 'F16' | 'BF16'

// Scratch views for scalar bit casts (one shared 4-byte buffer; JS is single threaded).
const scratchF32 = new Float32Array(1)
const scratchU32 = new Uint32Array(scratchF32.buffer)

const f32Bits = (x: number): number => { scratchF32[0] = x; return scratchU32[0] }
const bitsF32 = (b: number): number => { scratchU32[0] = b >>> 0; return scratchF32[0] }

// ---- bfloat16 -------------------------------------------------------------------------------

/** f32 bits → bf16 bits, round-to-nearest-even; NaN stays a quiet NaN with its sign. */
function bf16FromBits(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff
  // The largest non-NaN input is 0xff800000, so the sum stays below 2^32 and >>> does not wrap.
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff
}

export function f32ToBf16Bits(x: number): number { return bf16FromBits(f32Bits(x)) }
export function bf16BitsToF32(bits: number): number { return bitsF32((bits & 0xffff) << 16) }

// ---- float16 --------------------------------------------------------------------------------

/** f32 bits → f16 bits, round-to-nearest-even; beyond ±65504 (after rounding) gives ±Inf. */
function f16FromBits(x: number): number {
  const sign = (x >>> 16) & 0x8000
  const abs = x & 0x7fffffff
  if (abs >= 0x7f800000) {
    if (abs === 0x7f800000) return sign | 0x7c00
    return sign | 0x7e00 | ((abs >>> 13) & 0x3ff) // quiet NaN, keep the top payload bits
  }
  // 65520 (0x477ff000) is the tie between 65504 and 2^16; the tie goes to the even side, 2^16 = Inf.
  if (abs >= 0x477ff000) return sign | 0x7c00
  if (abs >= 0x38800000) {
    // normal f16: rebias the exponent (127 − 15 = 112) and round off 13 mantissa bits
    let h = (abs - 0x38000000) >>> 13
    const rem = abs & 0x1fff
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++
    return sign | h
  }
  // 2^-25 is half the smallest subnormal; it and everything below round to (signed) zero.
  if (abs <= 0x33000000) return sign
  // subnormal f16: value / 2^-24 = m · 2^(e − 126) with the implicit bit in m
  const e = abs >>> 23
  const m = (abs & 0x7fffff) | 0x800000
  const shift = 126 - e // 14 … 24
  let q = m >>> shift
  const rem = m & ((1 << shift) - 1)
  const half = 1 << (shift - 1)
  if (rem > half || (rem === half && (q & 1) !== 0)) q++
  return sign | q // q = 0x400 rounds up into the smallest normal, which is the right encoding
}

/** f16 bits → f32 bits for all 65 536 inputs; the table makes bulk decode one load per element. */
const F16_TABLE: Uint32Array = (() => {
  const t = new Uint32Array(65536)
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16
    const exp = (h >>> 10) & 0x1f
    const mant = h & 0x3ff
    if (exp === 0) t[h] = (sign | f32Bits(mant * 2 ** -24)) >>> 0 // zero or subnormal, exact in f32
    else if (exp === 31) t[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0
    else t[h] = (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0
  }
  return t
})()

export function f32ToF16Bits(x: number): number { return f16FromBits(f32Bits(x)) }
export function f16BitsToF32(bits: number): number { return bitsF32(F16_TABLE[bits & 0xffff]) }

// ---- bulk -----------------------------------------------------------------------------------

/** The same bytes with a byteOffset that is a multiple of `align` (copies only when it is not). */
function aligned(bytes: Uint8Array, align: number): Uint8Array {
  // new Uint8Array(view) copies into a fresh buffer at offset 0 (Buffer#slice would not copy)
  return bytes.byteOffset % align === 0 ? bytes : new Uint8Array(bytes)
}

function checkLength(bytes: Uint8Array, dtype: DType): number {
  const size = DTYPE_BYTES[dtype]
  if (bytes.byteLength % size !== 0) {
    throw new AmalgamError('BAD_REQUEST', `${bytes.byteLength} bytes is not a whole number of ${dtype} values (${size} bytes each)`)
  }
  return bytes.byteLength / size
}

/**
 * Stored bytes → float32. F64/F32/F16/BF16 only; integer dtypes throw (they are copied byte for
 * byte, never converted). For aligned F32 input the result is a view over the same memory, not a
 * copy: callers that mutate it must copy first.
 */
export function decodeToF32(bytes: Uint8Array, dtype: DType): Float32Array {
  const n = checkLength(bytes, dtype)
  if (dtype === 'F32') {
    const b = aligned(bytes, 4)
    return new Float32Array(b.buffer, b.byteOffset, n)
  }
  if (dtype === 'F64') {
    const b = aligned(bytes, 8)
    // the typed-array constructor rounds each double to nearest-even float32
    return new Float32Array(new Float64Array(b.buffer, b.byteOffset, n))
  }
  checkFloat(dtype)
  return decodeIntoF32(bytes, dtype, new Float32Array(n))
}

/**
 * Stored bytes → float32 written into `out` (length at least the element count); returns the
 * filled view. Lets streaming loops reuse one output buffer instead of faulting in fresh memory.
 */
export function decodeIntoF32(bytes: Uint8Array, dtype: DType, out: Float32Array): Float32Array {
  const n = checkLength(bytes, dtype)
  checkFloat(dtype)
  if (out.length < n) throw new AmalgamError('BAD_REQUEST', `output buffer holds ${out.length} values, ${dtype} input has ${n}`)
  const dst = out.length === n ? out : out.subarray(0, n)
  switch (dtype) {
    case 'F32': {
      const b = aligned(bytes, 4)
      dst.set(new Float32Array(b.buffer, b.byteOffset, n))
      return dst
    }
    case 'F64': {
      const b = aligned(bytes, 8)
      dst.set(new Float64Array(b.buffer, b.byteOffset, n))
      return dst
    }
    case 'BF16': {
      const b = aligned(bytes, 2)
      const src = new Uint16Array(b.buffer, b.byteOffset, n)
      const o = new Uint32Array(dst.buffer, dst.byteOffset, n)
      // the SIMD kernel has a fixed cost per call; tiny tensors are cheaper in plain JS
      if (n < 256 || !bf16ToF32Simd(src, o)) for (let i = 0; i < n; i++) o[i] = src[i] << 16
      return dst
    }
    default: { // F16
      const b = aligned(bytes, 2)
      const src = new Uint16Array(b.buffer, b.byteOffset, n)
      const o = new Uint32Array(dst.buffer, dst.byteOffset, n)
      const t = F16_TABLE
      for (let i = 0; i < n; i++) o[i] = t[src[i]]
      return dst
    }
  }
}

function checkFloat(dtype: DType): void {
  if (dtype !== 'F32' && dtype !== 'F64' && dtype !== 'F16' && dtype !== 'BF16') {
    throw new AmalgamError('BAD_REQUEST', `cannot decode ${dtype} to float32: integer and bool tensors are copied byte for byte, never converted`)
  }
}

/**
 * float32 → stored bytes in F32/F16/BF16 (round-to-nearest-even). F32 returns a view over the
 * input memory. F16 maps values beyond ±65504 to ±Inf; callers that must not write Inf check the
 * range first (see `f16Overflow`).
 */
export function encodeFromF32(data: Float32Array, dtype: FloatEncodeDType): Uint8Array {
  const n = data.length
  switch (dtype) {
    case 'F32':
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    case 'BF16': {
      const src = f32BitsView(data)
      const out = new Uint16Array(n)
      for (let i = 0; i < n; i++) {
        const x = src[i]
        out[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16
      }
      return new Uint8Array(out.buffer)
    }
    case 'F16': {
      const src = f32BitsView(data)
      const out = new Uint16Array(n)
      for (let i = 0; i < n; i++) out[i] = f16FromBits(src[i])
      return new Uint8Array(out.buffer)
    }
    default:
      throw new AmalgamError('BAD_REQUEST', `cannot encode float32 as ${String(dtype)}: output dtype must be F32, F16 or BF16`)
  }
}

function f32BitsView(data: Float32Array): Uint32Array {
  // a Float32Array is always 4-byte aligned, so a Uint32Array over the same bytes is valid
  return new Uint32Array(data.buffer, data.byteOffset, data.length)
}

/** Index of the first NaN or ±Inf, or −1. */
export function firstNonFinite(data: Float32Array): number {
  // the export path checks every tensor it writes: the addon's vectorised scan is ~10× the JS loop
  const addon = kernelAddon()
  if (addon) return addon.firstNonFinite(data)
  const u = f32BitsView(data)
  for (let i = 0; i < u.length; i++) if ((u[i] & 0x7f800000) === 0x7f800000) return i
  return -1
}

/** Index of the first finite value that F16 cannot hold (rounds to ±Inf), or −1. */
export function f16Overflow(data: Float32Array): number {
  const u = f32BitsView(data)
  for (let i = 0; i < u.length; i++) {
    const a = u[i] & 0x7fffffff
    if (a >= 0x477ff000 && a < 0x7f800000) return i
  }
  return -1
}

/** Output dtype name used in the UI/CLI ('f32' …) → safetensors dtype. */
export function outDTypeToSafetensors(d: 'f32' | 'bf16' | 'f16'): FloatEncodeDType {
  return d === 'f32' ? 'F32' : d === 'bf16' ? 'BF16' : 'F16'
}
