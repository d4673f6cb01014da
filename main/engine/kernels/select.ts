// Exact order statistics of |v| over float32 data by radix selection on the IEEE-754 bits.
// For non-negative floats the bit pattern (bits & 0x7fffffff) orders exactly like the value, so
// two 16-bit histogram passes (high half, then low half inside the chosen high bucket) find the
// j-th smallest magnitude exactly, in O(N) and with 2 × 256 KiB of state — never a sort.
// NaN (abs bits > 0x7f800000) is excluded; +∞ and −∞ count as the largest magnitude; −0 = +0.
import { AmalgamError } from '#common/errors'
import { kernelAddon, kernelThreads } from './native-kernels'

const ABS_MASK = 0x7fffffff
export const INF_BITS = 0x7f800000
const BINS = 65536

export type F32Chunks = Float32Array | readonly Float32Array[]

function asList(chunks: F32Chunks): readonly Float32Array[] {
  return chunks instanceof Float32Array ? [chunks] : chunks
}

function bitsOf(chunk: Float32Array): Uint32Array {
  return new Uint32Array(chunk.buffer, chunk.byteOffset, chunk.length)
}

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)
export function floatFromBits(b: number): number { u32[0] = b; return f32[0] }

/**
 * A Uint32 histogram that spills into float64 totals before it could overflow, so counts stay
 * exact beyond 2³² values without paying a 65536-entry flush per small chunk.
 */
class Histogram {
  readonly hot = new Uint32Array(BINS)
  private readonly total = new Float64Array(BINS)
  private pending = 0
  reserve(n: number): void {
    if (this.pending + n > 0xffff0000) this.flush()
    this.pending += n
  }
  flush(): void {
    const h = this.hot, t = this.total
    for (let i = 0; i < BINS; i++) { t[i] += h[i]; h[i] = 0 }
    this.pending = 0
  }
  totals(): Float64Array { this.flush(); return this.total }
  reset(): void { this.hot.fill(0); this.total.fill(0); this.pending = 0 }
}

/**
 * Streaming two-pass exact selection of the j-th smallest |v| (1-indexed, NaN excluded):
 *   const s = new AbsRadixSelect(j)          // or (validCount) => j, resolved after pass 1
 *   for (chunk of stream) s.pass1(chunk)
 *   s.beginPass2()
 *   if (s.needsPass2) for (chunk of the same stream again) s.pass2(chunk)
 *   s.result()
 * The second pass must see the same values (any chunking, any order). State: two 65536-bin
 * histograms, so a method can find one global threshold over a whole model read from disk twice.
 */
export class AbsRadixSelect {
  private readonly want: number | ((validCount: number) => number)
  private readonly hist = new Histogram()
  private phase: 'pass1' | 'pass2' | 'done' = 'pass1'
  private high = 0
  private rank = 0 // rank of the answer inside the chosen high bucket (1-indexed)
  private answer = NaN
  /** non-NaN values seen in pass 1 */
  count = 0
  /** the resolved 1-indexed rank j (after beginPass2) */
  j = 0

  constructor(j: number | ((validCount: number) => number)) { this.want = j }

  get needsPass2(): boolean { return this.phase === 'pass2' }

  pass1(chunk: Float32Array): void {
    if (this.phase !== 'pass1') throw new AmalgamError('INTERNAL', 'AbsRadixSelect.pass1 called after beginPass2')
    this.hist.reserve(chunk.length)
    const addon = kernelAddon()
    if (addon) { this.count += chunk.length - addon.absHistHigh(chunk, this.hist.hot); return }
    const h = this.hist.hot, bits = bitsOf(chunk)
    let nan = 0
    for (let i = 0; i < bits.length; i++) {
      const u = bits[i] & ABS_MASK
      if (u > INF_BITS) { nan++; continue }
      h[u >>> 16]++
    }
    this.count += bits.length - nan
  }

  beginPass2(): void {
    if (this.phase !== 'pass1') throw new AmalgamError('INTERNAL', 'AbsRadixSelect.beginPass2 called twice')
    const j = typeof this.want === 'function' ? this.want(this.count) : this.want
    if (!Number.isInteger(j) || j < 1 || j > this.count) {
      throw new AmalgamError('BAD_PARAM', `k-th magnitude: rank ${j} is outside 1..${this.count} (the number of non-NaN values)`)
    }
    this.j = j
    const t = this.hist.totals()
    let cum = 0, b = 0
    for (; b < BINS; b++) { if (cum + t[b] >= j) break; cum += t[b] }
    this.high = b
    this.rank = j - cum
    this.hist.reset()
    // the +∞ bucket holds a single value (NaN is excluded), no second pass needed
    if (b === INF_BITS >>> 16) { this.answer = Infinity; this.phase = 'done' } else this.phase = 'pass2'
  }

  pass2(chunk: Float32Array): void {
    if (this.phase !== 'pass2') throw new AmalgamError('INTERNAL', 'AbsRadixSelect.pass2 called outside pass 2')
    this.hist.reserve(chunk.length)
    const addon = kernelAddon()
    if (addon) { addon.absHistLow(chunk, this.hist.hot, this.high); return }
    const h = this.hist.hot, bits = bitsOf(chunk), hi = this.high
    for (let i = 0; i < bits.length; i++) {
      const u = bits[i] & ABS_MASK
      if (u >>> 16 === hi && u <= INF_BITS) h[u & 0xffff]++
    }
  }

  result(): number {
    if (this.phase === 'done') return this.answer
    if (this.phase !== 'pass2') throw new AmalgamError('INTERNAL', 'AbsRadixSelect.result called before beginPass2')
    const t = this.hist.totals()
    let cum = 0
    for (let b = 0; b < BINS; b++) {
      cum += t[b]
      if (cum >= this.rank) {
        this.answer = floatFromBits(((this.high << 16) | b) >>> 0)
        this.phase = 'done'
        return this.answer
      }
    }
    throw new AmalgamError('INTERNAL', 'k-th magnitude: pass 2 saw different data than pass 1')
  }
}

/** Exact j-th smallest |v| (1-indexed, NaN excluded) over the concatenation of the chunks. */
export function kthSmallestAbs(chunks: F32Chunks, j: number): number {
  const list = asList(chunks)
  const s = new AbsRadixSelect(j)
  for (const c of list) s.pass1(c)
  s.beginPass2()
  if (s.needsPass2) for (const c of list) s.pass2(c)
  return s.result()
}

/** Exact k-th largest |v| (1-indexed, NaN excluded): kthSmallestAbs with j = count − k + 1. */
export function kthLargestAbs(chunks: F32Chunks, k: number): number {
  const list = asList(chunks)
  const s = new AbsRadixSelect((count) => count - k + 1)
  for (const c of list) s.pass1(c)
  if (!Number.isInteger(k) || k < 1 || k > s.count) {
    throw new AmalgamError('BAD_PARAM', `k-th largest magnitude: k = ${k} is outside 1..${s.count} (the number of non-NaN values)`)
  }
  s.beginPass2()
  if (s.needsPass2) for (const c of list) s.pass2(c)
  return s.result()
}

/** Number of values with |v| ≥ q (NaN never counts). With q from kthSmallestAbs this includes ties. */
export function countAbsGreaterEqual(chunks: F32Chunks, q: number): number {
  let n = 0
  for (const c of asList(chunks)) for (let i = 0; i < c.length; i++) if (Math.abs(c[i]) >= q) n++
  return n
}

/** Number of NaN values. */
export function countNaN(chunks: F32Chunks): number {
  let n = 0
  for (const c of asList(chunks)) { const b = bitsOf(c); for (let i = 0; i < b.length; i++) if ((b[i] & ABS_MASK) > INF_BITS) n++ }
  return n
}

/** Number of exact zeros (±0). */
export function countZeros(chunks: F32Chunks): number {
  let n = 0
  for (const c of asList(chunks)) for (let i = 0; i < c.length; i++) if (c[i] === 0) n++
  return n
}

/** Total number of elements over the chunks. */
export function totalLength(chunks: F32Chunks): number {
  let n = 0
  for (const c of asList(chunks)) n += c.length
  return n
}

/**
 * hists[t] += histogram of the top log2(hists[t].length) bits of |chunks[t]| — or, with `base`, of
 * |fround(chunks[t] − base)| — for several equal-length chunks at once (the addon spreads them over
 * `threads`). Histograms have 2^16 … 2^24 bins; NaN is not counted. Returns the NaN count per chunk.
 */
export function absHistograms(chunks: readonly Float32Array[], hists: readonly Uint32Array[], base?: Float32Array, threads = kernelThreads()): ArrayLike<number> {
  const addon = kernelAddon()
  if (addon) return addon.absHistFine(chunks as Float32Array[], hists as Uint32Array[], base ?? null, threads)
  let scratch = new Float32Array(0)
  return chunks.map((chunk, t) => {
    const h = hists[t]
    const shift = 32 - Math.log2(h.length) - 1
    let v = chunk
    if (base) {
      if (scratch.length < chunk.length) scratch = new Float32Array(chunk.length)
      v = scratch.subarray(0, chunk.length)
      for (let i = 0; i < v.length; i++) v[i] = chunk[i] - base[i]
    }
    const bits = bitsOf(v)
    let nan = 0
    for (let i = 0; i < bits.length; i++) {
      const u = bits[i] & ABS_MASK
      if (u > INF_BITS) { nan++; continue }
      h[u >>> shift]++
    }
    return nan
  })
}

/**
 * absHistograms over segments: chunk t is cut at offsets[0 … G] and segment g goes into
 * hists[t·G + g]. One call for all of a tensor's sub-samples (the sampled TIES plan). Returns the
 * NaN count per (t, g) at t·G + g.
 */
export function absHistogramSegments(chunks: readonly Float32Array[], base: Float32Array | undefined, offsets: Uint32Array, hists: readonly Uint32Array[], threads = kernelThreads()): ArrayLike<number> {
  const addon = kernelAddon()
  if (addon) return addon.absHistSegments(chunks as Float32Array[], base ?? null, offsets, hists as Uint32Array[], threads)
  const G = offsets.length - 1, N = chunks.length
  const nan = new Float64Array(N * G)
  for (let g = 0; g < G; g++) {
    const cut = (c: Float32Array): Float32Array => c.subarray(offsets[g], offsets[g + 1])
    const r = absHistograms(chunks.map(cut), chunks.map((_, t) => hists[t * G + g]), base && cut(base), threads)
    for (let t = 0; t < N; t++) nan[t * G + g] = r[t]
  }
  return nan
}

/** histogram resolution of AbsBucketSelect: the top FINE_BITS bits of |v| (8 exponent bits + the rest mantissa) */
const FINE_BITS = 21
const FINE_SHIFT = 31 - FINE_BITS
const FINE_BINS = 1 << FINE_BITS
const INF_BUCKET = INF_BITS >>> FINE_SHIFT

/**
 * The first half of an exact j-th smallest |v| that needs only ONE pass of its own: a 2^21-bin
 * histogram of the top bits of |v| (exponent + 13 mantissa bits) finds the bucket [lo, hi) that
 * holds the answer, 2^-13 of a binade wide (bench:merge, TIES on ViT-B/32 × 8: 2^20 bins leave
 * ≈ 74k coordinates to settle and patch, 2^22 bins make the histogram pass cache-bound; 2^21
 * was fastest overall). A caller that reads the same stream again anyway
 * (TIES's merge pass) decides every value outside the bucket at once and hands the few inside it
 * to settle(), which finishes the selection exactly:
 *   const s = new AbsBucketSelect(j); for (chunk) s.pass1(chunk); const { lo, hi } = s.bounds()
 *   … later: s.settle(every |v| with lo ≤ |v| < hi, in any order)
 * When lo === hi the answer is already exact (the +∞ bucket). NaN is excluded, as in AbsRadixSelect.
 */
export class AbsBucketSelect {
  private hot: Uint32Array | null = new Uint32Array(FINE_BINS)
  private total: Float64Array | null = null
  private pending = 0
  private rank = 0
  private expectInBucket = 0
  private range: { lo: number; hi: number } | null = null
  /** non-NaN values seen in pass 1 */
  count = 0

  constructor(readonly j: number) {}

  /** Adds |chunk| — or, with `base`, |fround(chunk − base)| — to the histogram. */
  pass1(chunk: Float32Array, base?: Float32Array): void { AbsBucketSelect.pass1All([this], [chunk], base) }

  /**
   * pass1 of several selectors at once (one chunk each, same length): the addon spreads them over
   * the kernel threads (kernels/native-kernels.ts setKernelThreads, or `threads`).
   */
  static pass1All(sels: AbsBucketSelect[], chunks: Float32Array[], base?: Float32Array, threads = kernelThreads()): void {
    const hists = sels.map((s, i) => {
      if (!s.hot || s.range) throw new AmalgamError('INTERNAL', 'AbsBucketSelect.pass1 called after bounds()')
      if (s.pending + chunks[i].length > 0xffff0000) s.flush()
      s.pending += chunks[i].length
      return s.hot
    })
    const nan = absHistograms(chunks, hists, base, threads)
    sels.forEach((s, i) => { s.count += chunks[i].length - nan[i] })
  }

  private flush(): void {
    const h = this.hot!
    const t = (this.total ??= new Float64Array(FINE_BINS))
    for (let i = 0; i < FINE_BINS; i++) { t[i] += h[i]; h[i] = 0 }
    this.pending = 0
  }

  /** The bucket holding the answer; ends pass 1 and frees the histogram. */
  bounds(): { lo: number; hi: number } {
    if (this.range) return this.range
    const j = this.j
    if (!Number.isInteger(j) || j < 1 || j > this.count) {
      throw new AmalgamError('BAD_PARAM', `k-th magnitude: rank ${j} is outside 1..${this.count} (the number of non-NaN values)`)
    }
    if (this.total) this.flush()
    const counts: ArrayLike<number> = this.total ?? this.hot!
    let cum = 0, b = 0
    for (; b < FINE_BINS; b++) { if (cum + counts[b] >= j) break; cum += counts[b] }
    this.rank = j - cum
    this.expectInBucket = counts[b]
    this.hot = null; this.total = null
    this.range = b === INF_BUCKET
      ? { lo: Infinity, hi: Infinity } // only +∞ lives there: exact already
      : { lo: floatFromBits((b << FINE_SHIFT) >>> 0), hi: floatFromBits(((b + 1) << FINE_SHIFT) >>> 0) }
    return this.range
  }

  /** The exact j-th smallest |v|, from the magnitudes that fell inside the bucket on the second read. */
  settle(inBucket: Float32Array): number {
    const r = this.bounds()
    if (r.lo === r.hi) return r.lo
    if (inBucket.length !== this.expectInBucket) {
      throw new AmalgamError('INTERNAL', `k-th magnitude: the second read saw ${inBucket.length} values in the threshold bucket, the first counted ${this.expectInBucket} (did the inputs change between passes?)`)
    }
    return Float32Array.from(inBucket).sort()[this.rank - 1]
  }
}
