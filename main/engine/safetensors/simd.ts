// A 122-byte WebAssembly SIMD kernel for the hot bf16 → f32 widening (each output is the 16 input
// bits shifted up by 16). A plain JS loop does one element per iteration; v128 does eight, which is
// what keeps read+decode of BF16 checkpoints near the speed of the disk read. Hand-assembled so no
// toolchain is needed; when the host lacks WebAssembly SIMD the callers fall back to JS.

/** Elements per call; chunks stay cache-resident (2 B in + 4 B out per element). */
export const SIMD_CHUNK = 1 << 18

const IN_OFF = 0
const OUT_OFF = SIMD_CHUNK * 2

// prettier-ignore
const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm v1
  0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, // type 0: (i32 src, i32 dst, i32 groups) → ()
  0x03, 0x02, 0x01, 0x00, // func 0 has type 0
  0x05, 0x03, 0x01, 0x00, 0x18, // memory: min 24 pages (1.5 MiB ≥ 6 B × SIMD_CHUNK)
  0x07, 0x0e, 0x02, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x04, 0x62, 0x66, 0x31, 0x36, 0x00, 0x00, // export "mem", "bf16"
  0x0a, 0x4e, 0x01, 0x4c, 0x00, // code: 1 body of 76 bytes, no extra locals
  0x02, 0x40, // block
  0x20, 0x02, 0x45, 0x0d, 0x00, // if groups == 0 break
  0x03, 0x40, // loop
  0x20, 0x01, 0x20, 0x00, 0xfd, 0x00, 0x00, 0x00, // dst, v128.load src
  0xfd, 0xa9, 0x01, 0x41, 0x10, 0xfd, 0xab, 0x01, // i32x4.extend_low_i16x8_u, i32x4.shl 16
  0xfd, 0x0b, 0x00, 0x00, // v128.store dst
  0x20, 0x01, 0x20, 0x00, 0xfd, 0x00, 0x00, 0x00, // dst, v128.load src
  0xfd, 0xaa, 0x01, 0x41, 0x10, 0xfd, 0xab, 0x01, // i32x4.extend_high_i16x8_u, i32x4.shl 16
  0xfd, 0x0b, 0x00, 0x10, // v128.store dst+16
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x21, 0x00, // src += 16
  0x20, 0x01, 0x41, 0x20, 0x6a, 0x21, 0x01, // dst += 32
  0x20, 0x02, 0x41, 0x01, 0x6b, 0x22, 0x02, 0x0d, 0x00, // if (--groups) continue
  0x0b, 0x0b, 0x0b, // end loop, end block, end func
])

interface Kernel { u16: Uint16Array; u32: Uint32Array; bf16(src: number, dst: number, groups: number): void }

let kernel: Kernel | null | undefined

function load(): Kernel | null {
  if (kernel !== undefined) return kernel
  try {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(MODULE))
    const mem = inst.exports.mem as WebAssembly.Memory
    kernel = {
      u16: new Uint16Array(mem.buffer, IN_OFF, SIMD_CHUNK),
      u32: new Uint32Array(mem.buffer, OUT_OFF, SIMD_CHUNK),
      bf16: inst.exports.bf16 as Kernel['bf16'],
    }
  } catch {
    kernel = null
  }
  return kernel
}

/** Whether the SIMD kernel is usable on this host (for reports). */
export const simdAvailable = (): boolean => load() !== null

/** bf16 bits → f32 bits into `out`; returns false when SIMD is unavailable (caller falls back). */
export function bf16ToF32Simd(src: Uint16Array, out: Uint32Array): boolean {
  const k = load()
  if (!k) return false
  const n = src.length
  for (let start = 0; start < n; start += SIMD_CHUNK) {
    const len = Math.min(SIMD_CHUNK, n - start)
    const groups = len >>> 3
    k.u16.set(src.subarray(start, start + len))
    k.bf16(IN_OFF, OUT_OFF, groups)
    const done = groups << 3
    out.set(k.u32.subarray(0, done), start)
    for (let i = done; i < len; i++) out[start + i] = src[start + i] << 16
  }
  return true
}
