// PyTorch's CPU random stream, reproduced bit for bit: at::mt19937 (aten/src/ATen/core/
// MT19937RNGEngine.h) seeded the way torch.manual_seed(s) seeds CPUGeneratorImpl, and the float32
// uniform of aten/src/ATen/core/TransformationHelper.h (uniform_real).
//
// Seeding: manual_seed takes a Python int in [−2⁶³, 2⁶⁴); negative values wrap to uint64
// (s mod 2⁶⁴). CPUGeneratorImpl::set_current_seed builds mt19937(uint64 seed), whose
// init_with_uint32 stores state[0] = seed & 0xffffffff and fills the rest with the reference
// init_genrand recurrence state[j] = 1812433253·(state[j−1] ^ (state[j−1] >> 30)) + j (mod 2³²).
// So only the low 32 bits of the seed matter (manual_seed(2³² + 5) ≡ manual_seed(5)).
//
// Draws: CPUGeneratorImpl::random() returns one engine output (tempered u32). For float32,
// uniform_real_distribution<float> uses random() and keeps the low 24 bits (digits of float):
// x = (u32 & 0xFFFFFF) · 2⁻²⁴, exact in float32, one draw per element, elements in row-major
// order (the CPU uniform kernel is a serial loop). float64 uses random64() = (u1 << 32) | u2 and
// keeps the low 53 bits.
import { AmalgamError } from '#common/errors'

const N = 624
const M = 397
const MATRIX_A = 0x9908b0df | 0
const TWO_POW_M24 = 2 ** -24
const TWO_POW_M53 = 2 ** -53

/** Reduces a torch.manual_seed argument to the 32-bit word MT19937 is initialised with. */
export function torchSeedToU32(seed: number | bigint): number {
  let b: bigint
  if (typeof seed === 'bigint') b = seed
  else {
    if (!Number.isInteger(seed)) throw new AmalgamError('BAD_PARAM', `seed ${seed} is not an integer`)
    b = BigInt(seed)
  }
  if (b < -(1n << 63n) || b >= (1n << 64n)) throw new AmalgamError('BAD_PARAM', `seed ${seed} is outside torch.manual_seed's range [−2⁶³, 2⁶⁴)`)
  return Number(BigInt.asUintN(64, b) & 0xffffffffn)
}

export class TorchGenerator {
  // Int32Array keeps every intermediate in V8's int32 range (no heap-number doubles); the bit
  // patterns are the same as uint32
  private readonly mt = new Int32Array(N)
  private idx = N

  constructor(seed: number | bigint = 5489) { this.manualSeed(seed) }

  manualSeed(seed: number | bigint): this {
    const mt = this.mt
    mt[0] = torchSeedToU32(seed)
    for (let j = 1; j < N; j++) {
      const prev = mt[j - 1] ^ (mt[j - 1] >>> 30)
      mt[j] = (Math.imul(1812433253, prev) + j) | 0
    }
    this.idx = N
    return this
  }

  private twist(): void {
    const mt = this.mt
    let k = 0
    for (; k < N - M; k++) {
      const y = (mt[k] & 0x80000000) | (mt[k + 1] & 0x7fffffff)
      mt[k] = mt[k + M] ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A)
    }
    for (; k < N - 1; k++) {
      const y = (mt[k] & 0x80000000) | (mt[k + 1] & 0x7fffffff)
      mt[k] = mt[k + M - N] ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A)
    }
    const y = (mt[N - 1] & 0x80000000) | (mt[0] & 0x7fffffff)
    mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A)
    this.idx = 0
  }

  /** next tempered 32-bit output (unsigned) */
  nextU32(): number {
    if (this.idx >= N) this.twist()
    let y = this.mt[this.idx++]
    y ^= y >>> 11
    y ^= (y << 7) & 0x9d2c5680
    y ^= (y << 15) & 0xefc60000
    y ^= y >>> 18
    return y >>> 0
  }

  /** torch.rand(dtype=float64)'s draw: low 53 bits of random64() · 2⁻⁵³, in [0, 1) */
  nextDouble(): number {
    const hi = this.nextU32(), lo = this.nextU32()
    return ((hi & 0x1fffff) * 4294967296 + lo) * TWO_POW_M53
  }

  /** torch.rand(n) (float32) continuing this stream */
  randFloat32(n: number): Float32Array {
    const out = new Float32Array(n)
    this.fillRandFloat32(out)
    return out
  }

  /** fills `out` in index order, as torch.rand(shape) fills a contiguous tensor */
  fillRandFloat32(out: Float32Array): Float32Array {
    const mt = this.mt
    let idx = this.idx
    for (let i = 0; i < out.length; i++) {
      if (idx >= N) { this.twist(); idx = 0 }
      let y = mt[idx++]
      y ^= y >>> 11
      y ^= (y << 7) & 0x9d2c5680
      y ^= (y << 15) & 0xefc60000
      y ^= y >>> 18
      out[i] = (y & 0xffffff) * TWO_POW_M24
    }
    this.idx = idx
    return out
  }
}
