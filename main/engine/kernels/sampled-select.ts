// Bounds on an exact j-th smallest |v| from a stratified sample, settled exactly by a later full
// read that the caller makes anyway.
//
// TIES trims each task vector at its exact k-th magnitude over the whole model, which took a read
// pass of its own (AbsBucketSelect: a histogram of every value). A sample (TIES's block sample of
// every page, tensors/block-sample.ts; values it does not sample, such as a tensor's tail, are
// added in full) places the j-th value within a narrow band of ranks. The merge pass then decides
// every entry outside the band at once, counts the entries below it and keeps the few inside it;
// settle() finds the exact j-th value among those, or reports that the band missed it (a rare
// event the caller recovers from by selecting exactly and merging again), so the answer never
// depends on the sample, only the speed does.
//
// Band width: the rank error of the sample's estimate is taken as the larger of the binomial
// (independent draws) error and the spread between G sub-samples — neighbouring values are
// correlated, which the binomial error alone would understate.
import { AmalgamError } from '#common/errors'
import { absHistograms, absHistogramSegments, floatFromBits, INF_BITS, kthSmallestAbs } from './select'
import { kernelThreads } from './native-kernels'

/** histogram resolution: the top 18 bits of |v| (8 exponent bits, 10 mantissa bits: 0.1 % wide bins) */
const BITS = 18
const SHIFT = 31 - BITS
const BINS = 1 << BITS

/** lower edge of histogram bin b (bins past +∞ hold only NaN, which is never counted) */
function edge(b: number): number {
  const bits = b * (1 << SHIFT)
  return bits > INF_BITS ? Infinity : floatFromBits(bits >>> 0)
}

function addInto(acc: Float64Array, h: Uint32Array): void { for (let b = 0; b < acc.length; b++) acc[b] += h[b] }
function prefixSum(h: Uint32Array, last: number): number { let c = 0; for (let b = 0; b <= last; b++) c += h[b]; return c }

/** What the merge pass needs from a band: trim bounds and the expected share of entries inside. */
export interface SampledBand { lo: number; hi: number; inBandFraction: number }

export class SampledBandSelect {
  private full: Uint32Array | null = new Uint32Array(BINS)
  private groups: Uint32Array[] | null
  private readonly groupCount: Float64Array
  /** entries the sampled values stand for (the sampled regions' total length) */
  private represented = 0
  private band: SampledBand | null = null

  /**
   * j: the wanted 1-indexed rank among `total` values (NaN excluded); groups: the number of
   * interleaved sub-samples the caller spreads its chunks over (≥ 2).
   */
  constructor(readonly j: number, readonly total: number, readonly groupsCount = 8) {
    if (!(groupsCount >= 2)) throw new AmalgamError('INTERNAL', 'SampledBandSelect needs at least 2 sub-samples')
    this.groups = Array.from({ length: groupsCount }, () => new Uint32Array(BINS))
    this.groupCount = new Float64Array(groupsCount)
  }

  /**
   * Values read in full, one chunk per selector (same length): |chunk|, or |fround(chunk − base)|
   * with `base`. Returns the NaN count per selector.
   */
  static addFull(sels: SampledBandSelect[], chunks: Float32Array[], base?: Float32Array, threads = kernelThreads()): ArrayLike<number> {
    return absHistograms(chunks, sels.map((s) => s.open().full!), base, threads)
  }

  /**
   * Sampled values, one chunk per selector (same length), cut at `offsets` into the G sub-samples
   * (segment g = sub-sample g, standing for represents[g] entries: the sampled region's length
   * shared out by the number of chunks each sub-sample got). Returns the NaN count per selector.
   */
  static addSample(sels: SampledBandSelect[], chunks: Float32Array[], offsets: Uint32Array, represents: ArrayLike<number>, base?: Float32Array, threads = kernelThreads()): number[] {
    const G = offsets.length - 1
    const hists = sels.flatMap((s) => { s.open(); if (s.groups!.length !== G) throw new AmalgamError('INTERNAL', `SampledBandSelect: ${G} segments for ${s.groups!.length} sub-samples`); return s.groups! })
    const nan = absHistogramSegments(chunks, base, offsets, hists, threads)
    return sels.map((s, t) => {
      let bad = 0
      for (let g = 0; g < G; g++) {
        const k = nan[t * G + g]
        bad += k
        s.groupCount[g] += offsets[g + 1] - offsets[g] - k
        s.represented += represents[g]
      }
      return bad
    })
  }

  private open(): this {
    if (!this.full || this.band) throw new AmalgamError('INTERNAL', 'SampledBandSelect: values added after bounds()')
    return this
  }

  /**
   * The band [lo, hi) that holds the j-th value unless the sample erred by more than z standard
   * errors, and the share of all entries expected inside it. Ends the sampling and frees the histograms.
   */
  bounds(z: number): SampledBand {
    if (this.band) return this.band
    const j = this.j
    const groups = this.groups!, full = this.full!
    const sampled = this.groupCount.reduce((a, b) => a + b, 0)
    const w = sampled > 0 ? this.represented / sampled : 0
    // cumulative counts ≤ the top of bin b, full and sampled (tight loops over one array at a time)
    const sample = new Float64Array(BINS)
    for (const g of groups) addInto(sample, g)
    const cumF = new Float64Array(BINS), cumS = new Float64Array(BINS)
    let cf = 0, cs = 0
    for (let b = 0; b < BINS; b++) { cf += full[b]; cs += sample[b]; cumF[b] = cf; cumS[b] = cs }
    const F = (b: number): number => (b < 0 ? 0 : cumF[b] + w * cumS[b])
    const firstAtLeast = (r: number): number => {
      let lo = 0, hi = BINS - 1
      while (lo < hi) { const m = (lo + hi) >>> 1; if (F(m) >= r) hi = m; else lo = m + 1 }
      return lo
    }
    const b0 = firstAtLeast(j)
    // standard error of the estimated fraction of sampled values ≤ bin b0
    let sigma = 0
    if (sampled > 0) {
      const p = cumS[b0] / sampled
      const iid = (p * (1 - p)) / sampled
      const frac: number[] = []
      groups.forEach((g, i) => {
        if (this.groupCount[i] === 0) return
        frac.push(prefixSum(g, b0) / this.groupCount[i])
      })
      let split = 0
      if (frac.length >= 2) {
        const mean = frac.reduce((a, b) => a + b, 0) / frac.length
        split = frac.reduce((a, f) => a + (f - mean) ** 2, 0) / (frac.length - 1) / frac.length
      }
      sigma = this.represented * Math.sqrt(Math.max(iid, split))
    }
    const margin = z * sigma + w
    const bLo = j - margin <= 0 ? 0 : firstAtLeast(j - margin)
    // past the sample's largest values the band must stay open: unsampled ones may lie above them
    const top = j + margin >= F(BINS - 1)
    const bHi = top ? BINS - 1 : firstAtLeast(j + margin)
    const lo = edge(bLo), hi = top ? Infinity : edge(bHi + 1)
    this.band = { lo, hi, inBandFraction: Math.min(1, (F(bHi) - F(bLo - 1)) / Math.max(this.total, 1)) }
    this.full = null; this.groups = null
    return this.band
  }

  /** Replaces the band (tests: a band that misses the answer must be reported by settle()). */
  override(band: SampledBand): SampledBand { this.bounds(0); this.band = band; return band }

  /**
   * The exact j-th smallest |v| from the full read: `below` = how many |v| < lo, `inBand` = every
   * |v| with lo ≤ |v| < hi (any order). null when the band missed it.
   */
  settle(below: number, inBand: Float32Array): number | null {
    const { hi } = this.bounds(0)
    if (this.j <= below) return null
    if (this.j > below + inBand.length) return hi === Infinity ? Infinity : null // only +∞ lies at or above an infinite hi
    return kthSmallestAbs(inBand, this.j - below) // radix selection: sorting the ~0.2 % in a band cost 10× more
  }
}
