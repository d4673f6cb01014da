// TIES's sampled plan: the trim bands of every task from a sample of the pool instead of a full
// read pass (kernels/sampled-select.ts explains the statistics). Each tensor gives its block
// sample (tensors/block-sample.ts: runs × run of every `block` values, every page touched once,
// read through a mapping of the page cache by the addon) for θ0 and each θ_t; the values past the
// last whole block are read in full. The sample's `runs` sub-samples each cover every block; their
// spread measures the sample's error.
import { AmalgamError } from '#common/errors'
import { canSampleBlocks, numel, type SamplingSource } from '../../tensors/source'
import { blockLayout, type BlockSpec } from '../../tensors/block-sample'
import { SampledBandSelect, type SampledBand } from '../../kernels/sampled-select'
import { throwIfCancelled, tick } from '../../util/task'
import type { MergeJob } from '../types'
import { checkShapes, floatNames, type TensorFilter } from './_stream'

export interface TiesSampling {
  /** values per block (1024 f32 = one 4 KiB page) */
  block: number
  /** parts of a block, one run read from each; also the number of sub-samples (≥ 2) */
  runs: number
  /** values per run */
  run: number
  /** band half-width in standard errors of the estimated rank */
  z: number
  /** use the sampled plan only when the bands are expected to hold at most this share of coordinates */
  maxDeferred: number
  /** …and only for pools of at least this many selected values per task (smaller ones gain nothing) */
  minLength: number
  /** tests only: replaces task t's band (to exercise the recovery from a band that misses) */
  bandOverride?: (t: number, band: SampledBand) => SampledBand
}

/** bench:merge (ViT-B/32 × 8) tuning: 1/16 of every page; the bands then hold ≈ 0.25 % of each task's entries. */
const DEFAULT_SAMPLING: Readonly<TiesSampling> = { block: 1024, runs: 8, run: 8, z: 6, maxDeferred: 0.05, minLength: 1 << 22 }
let sampling: Readonly<TiesSampling> = DEFAULT_SAMPLING

export function tiesSampling(): Readonly<TiesSampling> { return sampling }

/** Changes the sampled plan's settings (tests, benchmarks); returns a function that restores them. */
export function setTiesSampling(change: Partial<TiesSampling>): () => void {
  const before = sampling
  sampling = { ...sampling, ...change }
  return () => { sampling = before }
}

/** Whether the pool's sources can give block samples. */
export const canSamplePool = (job: MergeJob): boolean => canSampleBlocks([job.pool.base, ...job.pool.models])

/** Per-task bands [lo, hi) and their selectors, or null when the bands would defer too much. */
export interface SampledBounds { lo: Float32Array; hi: Float32Array; selectors: SampledBandSelect[] }

/** `threads`: for the sample's histograms (spread over the tasks). */
export async function sampledBounds(
  job: MergeJob, rank: number, d: number, filter: TensorFilter, threads: number, opts: Readonly<TiesSampling> = sampling,
): Promise<SampledBounds | null> {
  const N = job.pool.models.length
  const sources = [job.pool.base, ...job.pool.models] as SamplingSource[]
  const names = floatNames(job, filter)
  const G = opts.runs
  const spec = (i: number): BlockSpec => ({ block: opts.block, runs: opts.runs, run: opts.run, seed: i })
  const sels = Array.from({ length: N }, () => new SampledBandSelect(rank, d, G))
  let cap = 0
  names.forEach((n, i) => { cap = Math.max(cap, blockLayout(numel(job.pool.base.meta(n).shape), spec(i)).total) })
  const bufs = sources.map(() => new Float32Array(cap))
  const stage = 'thresholds (sample)'
  for (let i = 0; i < names.length; i++) {
    const name = names[i]
    throwIfCancelled(job.ctx, `${job.method} (${stage})`)
    job.ctx.progress?.(stage, i / names.length, name)
    const shape = job.pool.base.meta(name).shape
    checkShapes(job, name, shape)
    const s = spec(i)
    const layout = blockLayout(numel(shape), s)
    sources.forEach((src, k) => src.sampleBlocks(name, s, bufs[k]))
    const check = (nan: ArrayLike<number>): void => {
      for (let t = 0; t < N; t++) if (nan[t] > 0) throw new AmalgamError('BAD_FILE', `task vector ${t + 1} (${job.pool.models[t].label}): NaN values in tensor ${name}`)
    }
    const sampledLen = G * layout.groupLength
    if (sampledLen > 0) {
      const offsets = Uint32Array.from({ length: G + 1 }, (_, g) => g * layout.groupLength)
      // each sub-sample stands for the whole of the blocks' region, shared out between them
      const represents = new Array(G).fill(layout.blocks * opts.block / G)
      check(SampledBandSelect.addSample(sels, Array.from({ length: N }, (_, t) => bufs[t + 1].subarray(0, sampledLen)), offsets, represents, bufs[0].subarray(0, sampledLen), threads))
    }
    if (layout.tail > 0) {
      const tail = (k: number): Float32Array => bufs[k].subarray(sampledLen, layout.total)
      check(SampledBandSelect.addFull(sels, Array.from({ length: N }, (_, t) => tail(t + 1)), tail(0), threads))
    }
    await tick()
  }
  job.ctx.progress?.(stage, 1)
  const bands = sels.map((s, t) => opts.bandOverride ? s.override(opts.bandOverride(t, s.bounds(opts.z))) : s.bounds(opts.z))
  const deferredEstimate = 1 - bands.reduce((a, b) => a * (1 - b.inBandFraction), 1)
  if (deferredEstimate > opts.maxDeferred) return null
  return { lo: Float32Array.from(bands, (b) => b.lo), hi: Float32Array.from(bands, (b) => b.hi), selectors: sels }
}
