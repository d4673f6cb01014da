import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import {
  axpyInto, taskArithmeticInto, weightedSumInto, maskedSumInto, clampInto, signElectInto,
  disjointMergeInto, subInto, scaleInto, KernelPool, sharedFloat32, sharedUint8,
  taskArithmeticParallel, PARALLEL_MIN_ELEMENTS,
  useKernelImplementation, availableKernelImplementations, setKernelThreads,
} from '../../../main/engine/kernels/index'

const f = (xs: number[]): Float32Array => Float32Array.from(xs)

describe.each(availableKernelImplementations())('kernels (%s)', (impl) => {
  beforeEach(() => useKernelImplementation(impl))

  describe('fused elementwise kernels', () => {
    it('axpy, sub, scale, clamp', () => {
      expect(Array.from(axpyInto(f([1, 2, 3]), 2, f([1, 0, -1])))).toEqual([3, 2, 1])
      expect(Array.from(subInto(new Float32Array(2), f([5, 1]), f([2, 3])))).toEqual([3, -2])
      expect(Array.from(scaleInto(f([1, -2]), 0.5))).toEqual([0.5, -1])
      const c = clampInto(new Float32Array(4), f([-5, 0.5, 9, NaN]), -1, 1)
      expect(Array.from(c.subarray(0, 3))).toEqual([-1, 0.5, 1]); expect(c[3]).toBeNaN()
    })

    it('taskArithmetic = base + λ Σ(θi − base), rounded once from float64', () => {
      const base = f([1, 2, 3, 0.1]), m1 = f([2, 2, 0, 0.2]), m2 = f([0, 4, 3, 0.3])
      const out = taskArithmeticInto(new Float32Array(4), base, [m1, m2], 0.3)
      for (let j = 0; j < 4; j++) {
        const ref = base[j] + 0.3 * ((m1[j] - base[j]) + (m2[j] - base[j]))
        expect(out[j]).toBe(Math.fround(ref))
      }
      expect(Array.from(taskArithmeticInto(new Float32Array(4), base, [], 0.3))).toEqual(Array.from(base))
      // in place on base
      const b2 = f([1, 2, 3, 0.1])
      taskArithmeticInto(b2, b2, [m1, m2], 0.3)
      expect(Array.from(b2)).toEqual(Array.from(out))
    })

    it('weighted and masked sums', () => {
      expect(Array.from(weightedSumInto(new Float32Array(2), [f([1, 2]), f([3, 4])], [0.5, 2]))).toEqual([6.5, 9])
      expect(Array.from(weightedSumInto(f([1, 1]), [f([1, 2])], [1], true))).toEqual([2, 3])
      const ms = maskedSumInto(new Float32Array(3), [f([1, 2, 3]), f([10, 20, 30])], [Uint8Array.from([1, 0, 1]), Uint8Array.from([0, 1, 1])], [1, 0.5])
      expect(Array.from(ms)).toEqual([1, 10, 18])
    })

    it('TIES sign election and disjoint mean', () => {
      const a = f([1, -2, 0, 3]), b = f([-3, -1, 0, 1]), c = f([1, 1, 0, -1])
      const sign = signElectInto(new Float32Array(4), [a, b, c])
      expect(Array.from(sign)).toEqual([-1, -1, 0, 1])
      expect(Array.from(disjointMergeInto(new Float32Array(4), [a, b, c], sign, true))).toEqual([-3, -1.5, 0, 2])
      expect(Array.from(disjointMergeInto(new Float32Array(4), [a, b, c], sign, false))).toEqual([-3, -3, 0, 4])
    })

    it('many inputs (grouped path beyond the fused arity) match a float64 reference', () => {
      const n = 1000, k = 15
      const arrays = Array.from({ length: k }, (_, i) => Float32Array.from({ length: n }, (_, j) => Math.sin(i * 31 + j) * (i + 1)))
      const base = Float32Array.from({ length: n }, (_, j) => Math.cos(j))
      const w = arrays.map((_, i) => 1 / (i + 2))
      const ta = taskArithmeticInto(new Float32Array(n), base, arrays, 0.3)
      const ws = weightedSumInto(new Float32Array(n), arrays, w)
      const sg = signElectInto(new Float32Array(n), arrays)
      for (let j = 0; j < n; j++) {
        let s = 0, sw = 0
        for (let i = 0; i < k; i++) { s += arrays[i][j]; sw += w[i] * arrays[i][j] }
        expect(ta[j]).toBeCloseTo(Math.fround(base[j] + 0.3 * (s - k * base[j])), 5)
        expect(ws[j]).toBeCloseTo(Math.fround(sw), 5)
        expect(sg[j]).toBe(Math.sign(s))
      }
    })

    it('length mismatches name the argument', () => {
      expect(() => taskArithmeticInto(new Float32Array(3), f([1, 2, 3]), [f([1, 2])], 1)).toThrow(/models\[0\] has 2 elements, out has 3/)
      expect(() => weightedSumInto(new Float32Array(1), [f([1])], [1, 2])).toThrow(/2 weights for 1 arrays/)
    })
  })
})

describe.runIf(availableKernelImplementations().includes('native'))('native and JS kernels', () => {
  it('are bit-identical on awkward data (−0, NaN, ±∞, subnormals, large and small magnitudes)', () => {
    const n = 70001, k = 5
    let seed = 12345
    const next = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
    const special = [-0, 0, NaN, Infinity, -Infinity, 1e-42, -3e38]
    const arr = (): Float32Array => Float32Array.from({ length: n }, () => { const r = next(); return r < 0.01 ? special[Math.floor(next() * special.length)] : (next() - 0.5) * 10 ** (next() * 8 - 4) })
    const base = arr(), models = Array.from({ length: k }, arr), w = [0.3, -1.5, 2, 1e-3, 7]
    const run = (impl: 'native' | 'js') => {
      useKernelImplementation(impl)
      return {
        ta: taskArithmeticInto(new Float32Array(n), base, models, 0.3),
        ws: weightedSumInto(new Float32Array(n), models, w),
        wsa: weightedSumInto(Float32Array.from(base), models, w, true),
      }
    }
    const a = run('native'), b = run('js')
    useKernelImplementation('auto')
    const bits = (x: Float32Array): Uint32Array => new Uint32Array(x.buffer)
    expect(bits(a.ta)).toEqual(bits(b.ta))
    expect(bits(a.ws)).toEqual(bits(b.ws))
    expect(bits(a.wsa)).toEqual(bits(b.wsa))
  })

  it('split across threads gives the same bits as one thread', () => {
    const n = 300_001
    const base = Float32Array.from({ length: n }, (_, j) => Math.sin(j)), models = [1, 2, 3].map((k) => Float32Array.from({ length: n }, (_, j) => Math.cos(j * k)))
    useKernelImplementation('native')
    setKernelThreads(1)
    const one = taskArithmeticInto(new Float32Array(n), base, models, 0.7)
    setKernelThreads(3)
    const three = taskArithmeticInto(new Float32Array(n), base, models, 0.7)
    setKernelThreads(1)
    useKernelImplementation('auto')
    expect(three).toEqual(one)
  })
})

describe('parallel kernels (worker_threads over SharedArrayBuffer)', () => {
  const pool = new KernelPool(2)
  afterAll(() => pool.close())

  it('gives bit-identical results to the single-threaded kernel, in place', async () => {
    const n = PARALLEL_MIN_ELEMENTS + 12345
    const base = sharedFloat32(n), m = [sharedFloat32(n), sharedFloat32(n), sharedFloat32(n)]
    for (let j = 0; j < n; j++) { base[j] = Math.sin(j); m[0][j] = Math.cos(j); m[1][j] = j % 7; m[2][j] = -(j % 3) }
    const out = sharedFloat32(n)
    await taskArithmeticParallel(out, base, m, 0.3, pool)
    const ref = taskArithmeticInto(new Float32Array(n), base, m, 0.3)
    expect(out).toEqual(ref)
    // masks on shared memory too
    const masks = [sharedUint8(n).fill(1), sharedUint8(n)]
    const ms = sharedFloat32(n)
    await pool.run('maskedSum', { out: ms, arrays: [m[0], m[1]], masks })
    expect(ms).toEqual(m[0])
  })

  it('runs non-shared inputs on the calling thread (no hidden copies) with the same result', async () => {
    const n = PARALLEL_MIN_ELEMENTS
    const x = new Float32Array(n).fill(1)
    const out = new Float32Array(n)
    await pool.run('axpy', { out, a: 2, x })
    expect(out[n - 1]).toBe(2)
  })
})
