// TIES's sampled plan: the trim bands of every task from a sample of the pool instead of a full
// read pass (kernels/sampled-select.ts explains the statistics). Each tensor is cut into strides
// of `chunk · ratio` values; one chunk at a pseudo-random place in every stride is read (θ0 and
// each θ_t, positioned reads served by the page cache), and the tail that does not fill a stride
// is read in full. Chunks go to `groups` interleaved sub-samples whose spread measures the
// sample's error.
import { AmalgamError } from '#common/errors'
import { numel, type TensorSource } from '../../tensors/source'
import { SampledBandSelect, type SampledBand } from '../../kernels/sampled-select'
import { throwIfCancelled, tick } from '../../util/task'
import type { MergeJob } from '../types'
import { checkShapes, floatNames, type TensorFilter } from './_stream'

export interface TiesSampling {
  /** values per chunk read (1024 f32 = one 4 KiB page) */
  chunk: number
  /** one chunk read per `ratio` chunks */
  ratio: number
  /** interleaved sub-samples (≥ 2) whose spread estimates the sample's error */
  groups: number
  /** band half-width in standard errors of the estimated rank */
  z: number
  /** use the sampled plan only when the bands are expected to hold at most this share of coordinates */
  maxDeferred: number
  /** …and only for pools of at least this many selected values per task (smaller ones gain nothing) */
  minLength: number
  /** tests only: replaces task t's band (to exercise the recovery from a band that misses) */
  bandOverride?: (t: number, band: SampledBand) => SampledBand
}

/**
 * bench:merge (ViT-B/32 × 8) tuning. Reading 1/16 of the pool in 4 KiB chunks costs ≈ 0.07 s here;
 * the bands then hold ≈ 0.2 % of each task's entries.
 */
const DEFAULT_SAMPLING: Readonly<TiesSampling> = { chunk: 1024, ratio: 16, groups: 8, z: 6, maxDeferred: 0.05, minLength: 1 << 22 }
let sampling: Readonly<TiesSampling> = DEFAULT_SAMPLING

export function tiesSampling(): Readonly<TiesSampling> { return sampling }

/** Changes the sampled plan's settings (tests, benchmarks); returns a function that restores them. */
export function setTiesSampling(change: Partial<TiesSampling>): () => void {
  const before = sampling
  sampling = { ...sampling, ...change }
  return () => { sampling = before }
}

/** Per-task bands [lo, hi) and their selectors, or null when the bands would defer too much. */
export interface SampledBounds { lo: Float32Array; hi: Float32Array; selectors: SampledBandSelect[]; deferredEstimate: number }

/** Which chunk of stride `stride` of the pass's tensor `tensor` is read: a fixed hash, so runs are reproducible. */
export function chunkPhase(tensor: number, stride: number, ratio: number): number {
  let h = Math.imul(tensor + 1, 0x9e3779b1) ^ Math.imul(stride + 1, 0x85ebca6b)
  h ^= h >>> 15; h = Math.imul(h, 0x2c1b3c6d); h ^= h >>> 12
  return (h >>> 0) % ratio
}

type ChunkSource = TensorSource & Required<Pick<TensorSource, 'readF32Chunks'>>

export async function sampledBounds(
  job: MergeJob, rank: number, d: number, filter: TensorFilter, opts: Readonly<TiesSampling> = sampling,
): Promise<SampledBounds | null> {
  const N = job.pool.models.length
  const sources = [job.pool.base, ...job.pool.models] as ChunkSource[]
  const names = floatNames(job, filter)
  const stride = opts.chunk * opts.ratio
  const G = opts.groups
  const sels = Array.from({ length: N }, () => new SampledBandSelect(rank, d, G))
  let cap = 0
  for (const n of names) { const len = numel(job.pool.base.meta(n).shape); cap = Math.max(cap, Math.floor(len / stride) * opts.chunk, len % stride) }
  const bufs = sources.map(() => new Float32Array(cap))
  let chunkCounter = 0
  const stage = 'thresholds (sample)'
  for (let i = 0; i < names.length; i++) {
    const name = names[i]
    throwIfCancelled(job.ctx, `${job.method} (${stage})`)
    job.ctx.progress?.(stage, i / names.length, name)
    const shape = job.pool.base.meta(name).shape
    checkShapes(job, name, shape)
    const n = numel(shape)
    const strides = Math.floor(n / stride)
    const check = (nan: ArrayLike<number>): void => {
      for (let t = 0; t < N; t++) if (nan[t] > 0) throw new AmalgamError('BAD_FILE', `task vector ${t + 1} (${job.pool.models[t].label}): NaN values in tensor ${name}`)
    }
    if (strides > 0) {
      // chunk c of this tensor goes to sub-sample (counter + c) mod G; read group by group so
      // that each sub-sample is one contiguous run of the buffers
      const byGroup: number[][] = Array.from({ length: G }, () => [])
      for (let c = 0; c < strides; c++) byGroup[(chunkCounter + c) % G].push(c * stride + chunkPhase(i, c, opts.ratio) * opts.chunk)
      chunkCounter += strides
      const starts = byGroup.flat()
      sources.forEach((src, k) => src.readF32Chunks(name, starts, opts.chunk, bufs[k]))
      const offsets = new Uint32Array(G + 1)
      for (let g = 0; g < G; g++) offsets[g + 1] = offsets[g] + byGroup[g].length * opts.chunk
      const len = offsets[G]
      check(SampledBandSelect.addSample(sels, Array.from({ length: N }, (_, t) => bufs[t + 1].subarray(0, len)), offsets, byGroup.map((c) => c.length * stride), bufs[0].subarray(0, len)))
    }
    const tail = n - strides * stride
    if (tail > 0) {
      sources.forEach((src, k) => src.readF32Chunks(name, [strides * stride], tail, bufs[k]))
      check(SampledBandSelect.addFull(sels, Array.from({ length: N }, (_, t) => bufs[t + 1].subarray(0, tail)), bufs[0].subarray(0, tail)))
    }
    await tick()
  }
  job.ctx.progress?.(stage, 1)
  const bands = sels.map((s, t) => opts.bandOverride ? s.override(opts.bandOverride(t, s.bounds(opts.z))) : s.bounds(opts.z))
  const deferredEstimate = 1 - bands.reduce((a, b) => a * (1 - b.inBandFraction), 1)
  if (deferredEstimate > opts.maxDeferred) return null
  return { lo: Float32Array.from(bands, (b) => b.lo), hi: Float32Array.from(bands, (b) => b.hi), selectors: sels, deferredEstimate }
}
