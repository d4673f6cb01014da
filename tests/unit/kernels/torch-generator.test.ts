import { describe, expect, it } from 'vitest'
import { TorchGenerator, torchSeedToU32 } from '../../../main/engine/kernels/index'

/**
 * An independent MT19937 written from the reference definition (Matsumoto & Nishimura,
 * init_genrand + genrand_int32) in BigInt arithmetic, so it shares no code or tricks
 * (Math.imul, >>> 0) with the implementation under test.
 */
function referenceMT(seed: bigint): () => bigint {
  const n = 624, m = 397, mask32 = 0xffffffffn
  const mt: bigint[] = new Array(n)
  mt[0] = seed & mask32
  for (let i = 1; i < n; i++) mt[i] = (1812433253n * (mt[i - 1] ^ (mt[i - 1] >> 30n)) + BigInt(i)) & mask32
  let mti = n
  const mag01 = [0n, 0x9908b0dfn]
  return () => {
    if (mti >= n) {
      for (let kk = 0; kk < n; kk++) {
        const y = (mt[kk] & 0x80000000n) | (mt[(kk + 1) % n] & 0x7fffffffn)
        mt[kk] = mt[(kk + m) % n] ^ (y >> 1n) ^ mag01[Number(y & 1n)]
      }
      mti = 0
    }
    let y = mt[mti++]
    y ^= y >> 11n
    y ^= (y << 7n) & 0x9d2c5680n
    y ^= (y << 15n) & 0xefc60000n
    y ^= y >> 18n
    return y & mask32
  }
}

describe('TorchGenerator', () => {
  it('matches the published MT19937 check value (10000th output for seed 5489 = 4123659995)', () => {
    const g = new TorchGenerator(5489)
    let v = 0
    for (let i = 0; i < 10000; i++) v = g.nextU32()
    expect(v).toBe(4123659995)
  })

  it.each([0, 42, 1, 2 ** 32 - 1])('first 2000 u32 outputs for seed %i equal the BigInt reference', (seed) => {
    const g = new TorchGenerator(seed)
    const ref = referenceMT(BigInt(seed))
    for (let i = 0; i < 2000; i++) expect(g.nextU32()).toBe(Number(ref()))
  })

  it.each([0, 42])('randFloat32 for seed %i is (u32 & 0xFFFFFF)·2⁻²⁴ of the reference, in one stream', (seed) => {
    const g = new TorchGenerator(seed)
    const ref = referenceMT(BigInt(seed))
    const expected = (): number => Number(ref() & 0xffffffn) / 16777216
    // two tensors drawn back to back continue the same stream (model then parameter order)
    const a = g.randFloat32(5), b = g.randFloat32(700)
    for (let i = 0; i < a.length; i++) expect(a[i]).toBe(expected())
    for (let i = 0; i < b.length; i++) expect(b[i]).toBe(expected())
    for (const x of b) { expect(x).toBeGreaterThanOrEqual(0); expect(x).toBeLessThan(1) }
  })

  it('seed 0 and 42 first values have the familiar torch.rand look (4 decimals)', () => {
    // independently derived above; these printed values are what torch.manual_seed(s); torch.rand(3) shows
    expect(Array.from(new TorchGenerator(0).randFloat32(3), (x) => x.toFixed(4))).toEqual(['0.4963', '0.7682', '0.0885'])
    expect(Array.from(new TorchGenerator(42).randFloat32(3), (x) => x.toFixed(4))).toEqual(['0.8823', '0.9150', '0.3829'])
  })

  it('reduces 64-bit and negative seeds like manual_seed: uint64 wrap, then the low 32 bits', () => {
    expect(torchSeedToU32(2 ** 32 + 5)).toBe(5)
    expect(torchSeedToU32(-1)).toBe(0xffffffff)
    expect(torchSeedToU32(0xffffffffffffffffn)).toBe(0xffffffff)
    expect(new TorchGenerator(2 ** 32 + 42).nextU32()).toBe(new TorchGenerator(42).nextU32())
    expect(() => torchSeedToU32(1.5)).toThrow(/not an integer/)
    expect(() => torchSeedToU32(1n << 64n)).toThrow(/outside/)
  })

  it('nextDouble uses the low 53 bits of (u1 << 32 | u2)', () => {
    const g = new TorchGenerator(7), ref = referenceMT(7n)
    for (let i = 0; i < 10; i++) {
      const v = ((ref() << 32n) | ref()) & ((1n << 53n) - 1n)
      expect(g.nextDouble()).toBe(Number(v) / 2 ** 53)
    }
  })
})
