// The TIES pipeline over a pool, parameterised by how a tensor's task vectors are obtained
// (plain τ for ties_merging, DARE-dropped τ̃ for dare_ties_merging).
//   FusionBench: the trim bounds come from a sample of the pool (or a full selection pass), the
//   merge pass settles the exact thresholds from the few entries inside the bounds and finishes
//   those coordinates (three passes when the merged output is too large to hold and cannot be
//   patched: two selection passes, then the merge). See thresholdBounds.
//   mergekit variant: one pass, per-tensor exact top-k.
import { totalmem } from 'node:os'
import { AmalgamError } from '#common/errors'
import type { MergeJob } from '../types'
import { cacheKey as makeCacheKey } from '../cache'
import { paramError } from '../schema'
import { kthAbs } from './_select'
import { AbsBucketSelect } from '../../kernels/select'
import { kernelThreads } from '../../kernels/native-kernels'
import { canPatch } from '../../tensors/source'
import type { SampledBandSelect } from '../../kernels/sampled-select'
import { canSamplePool, sampledBounds, tiesSampling } from './_ties-sample'
import { addScaled, addScaledInPlace, flatLength, inKeys, scanTensors, Scratch, writeHeld, writeTensors, type Slice, type TensorFilter } from './_stream'
import {
  disjointMerge, disjointMergeInto, exactTopKInPlace, globalThresholds, keepFraction, mergekitDisjoint, tiesMergeSplit, trimAndMass, trimRank,
  type MergeFunc,
} from './_ties-core'

export interface TiesParams {
  scaling_factor: number
  threshold: number
  merge_func: MergeFunc
  variant: 'fusion_bench' | 'mergekit'
  [k: string]: unknown
}

export function tiesCheck(method: string, p: TiesParams): void {
  const k = keepFraction(method, p.threshold)
  if (p.variant === 'mergekit' && k === 0) throw paramError(method, 'threshold', 'must be > 0 with variant=mergekit (mergekit asserts k > 0)')
}

/** `vectors(s, into)` returns the tensor's task vectors, written into the scratch arrays `into`. */
export type TiesVectors = (s: Slice, into: Float32Array[]) => Float32Array[]

/**
 * `plainTaskVectors`: the vectors are exactly τ_t = fround(θ_t − θ0) (ties_merging), so the merge
 * pass forms them inside its fused loop instead of materialising them.
 * `vectorsTag`: what the vectors are, for the merge cache (every setting they depend on, e.g. the
 * DARE drop rate and seed); with it and a cache, the exact thresholds of an earlier run on the
 * same pool are reused and the merge is a single read pass (a λ sweep pays the selection once).
 */
export async function runTies(
  job: MergeJob<TiesParams>, vectorsInto: TiesVectors, removeKeys: string[] = [], plainTaskVectors = false, vectorsTag?: string,
): Promise<void> {
  const p = job.params
  const keep = keepFraction(job.method, p.threshold)
  const removed = inKeys(removeKeys)
  const N = job.pool.models.length
  const lambda = p.scaling_factor
  const scratch = new Scratch()
  const vectors = (s: Slice): Float32Array[] => vectorsInto(s, scratch.get(N, s.base.length))
  if (p.variant === 'mergekit') {
    const kept = new Array(N).fill(0)
    let total = 0
    await writeTensors(job, 'merge', (s) => {
      const v = vectors(s)
      for (let t = 0; t < N; t++) kept[t] += exactTopKInPlace(v[t], keep, kthAbs)
      total += s.base.length
      return addScaled(s.base, mergekitDisjoint(v, p.merge_func), lambda)
    }, removed, { reuseInputs: true })
    job.diag.set('keptFraction', kept.map((k) => k / Math.max(total, 1)))
    return
  }
  const notRemoved = (n: string): boolean => !removed(n, [])
  if (p.merge_func === 'max') return runTiesMax(job, vectors, removed, notRemoved, keep)
  const cacheKey = job.cache && vectorsTag !== undefined
    ? makeCacheKey(THRESHOLDS_NS, job.cache.poolKey(), vectorsTag, keep, [...removeKeys].sort().join(','))
    : null
  const cached = cacheKey ? await job.cache!.getJson<{ thresholds: number[]; d: number }>(THRESHOLDS_NS, cacheKey) : null
  // sinks that accept patches take each tensor at once and get its few late values at the end;
  // otherwise tensors with late values are held (which needs the output to fit the hold budget)
  const patch = canPatch(job.sinks)
  const plan = cached && cached.thresholds.length === N
    ? exactBounds(job, keep, notRemoved, cached.thresholds, 'cached')
    : await thresholdBounds(job, keep, vectors, notRemoved, plainTaskVectors, patch)
  const merge = { lambda, func: p.merge_func as 'sum' | 'mean', plain: plainTaskVectors, vectors }
  let pass = await mergePass(job, 'write', plan.lo, plan.hi, merge, removed, patch)
  // exact thresholds: from the held magnitudes inside each task's bucket or band, or already exact (lo = hi)
  let q = settleThresholds(job, plan, pass)
  let passes = plan.kind === 'cached' ? 1 : plan.kind === 'sampled' ? 1 : plan.kind === 'bucket' ? 2 : 3
  let bandMisses = 0
  if (!q) {
    // the sample erred past its band for some task (rare by design): select exactly, then merge
    // again over the written tensors (patched in full), so the result never depends on the sample
    bandMisses = 1
    const exact = exactBounds(job, keep, notRemoved, (await globalThresholds(job, keep, vectors, notRemoved)).thresholds, 'exact')
    pass = await mergePass(job, 'rewrite', exact.lo, exact.hi, merge, removed, patch)
    q = exact.lo
    passes += 3
  }
  const { held, kept } = pass
  let balance = pass.balance
  // finish the set-aside coordinates with the exact thresholds; what is still zero-mass waits for the majority
  const late: Array<{ h: Held; i: number }> = []
  for (const h of held) {
    h.final = new Float32Array(h.idx.length)
    const r = tiesMergeSplit(h.final, h.base, h.vals, q, q, lambda, merge.func, kept)
    balance += r.balance
    for (let z = 0; z < r.zero.length; z++) late.push({ h, i: r.zero[z] })
  }
  const majority = Math.sign(balance)
  const l = Math.fround(lambda)
  for (const { h, i } of late) {
    const trimmed = h.vals.map((v, t) => { const x = v[i]; const keepIt = Math.abs(x) >= q[t]; kept[t] += keepIt ? 1 : 0; return Float32Array.of(keepIt ? x : 0) })
    h.final![i] = h.base[i] + Math.fround(l * disjointMerge(trimmed, Float32Array.of(0), majority, p.merge_func)[0])
  }
  for (const h of held) {
    if (h.out) {
      for (let i = 0; i < h.idx.length; i++) h.out[h.idx[i]] = h.final![i]
      await writeHeld(job, h.name, h.shape, h.out)
    } else for (const sink of job.sinks) await sink.patch!(h.name, h.idx, h.final!)
  }
  const d = plan.d
  if (cacheKey && !cached) await job.cache!.putJson(THRESHOLDS_NS, cacheKey, { thresholds: Array.from(q), d })
  job.diag.set('plan', plan.kind)
  job.diag.set('passes', passes)
  if (plan.kind === 'sampled') {
    job.diag.set('sampledFraction', (tiesSampling().runs * tiesSampling().run) / tiesSampling().block)
    job.diag.set('bandMisses', bandMisses)
  }
  job.diag.set(patch ? 'patchedTensors' : 'heldTensors', held.length)
  job.diag.set('deferredCoordinates', pass.deferredCount)
  job.diag.set('zeroMassCoordinates', late.length)
  job.diag.set('thresholds', Array.from(q))
  job.diag.set('rank', plan.rank)
  job.diag.set('flattenedLength', d)
  job.diag.set('majoritySign', majority)
  job.diag.set('keptFraction', Array.from(kept, (k) => k / Math.max(d, 1)))
}

interface MergeSettings { lambda: number; func: 'sum' | 'mean'; plain: boolean; vectors: (s: Slice) => Float32Array[] }

interface MergePassResult {
  held: Held[]
  balance: number
  /** |τ_t| ≥ hi_t over the finished coordinates */
  kept: Float64Array
  /** [t]: |τ_t| < lo_t, [N + t]: |τ_t| ≥ hi_t, over every coordinate */
  counts: Float64Array
  /** per task, the |τ_t| inside [lo_t, hi_t), one array per tensor */
  band: Float32Array[][]
  deferredCount: number
}

/**
 * The merge pass finishes every coordinate whose trim is already certain and sets aside the
 * others — undecided ones (some |τ_t| inside task t's bucket or band) and zero-mass ones (exact
 * cancellation: their sign needs the global majority, known only at the end) — with θ0 and τ at
 * just those coordinates. Their tensors are written with provisional values and patched (or held
 * back and written last: sinks accept any write order).
 * 'rewrite': the tensors were written by an earlier pass; each is patched in full instead.
 */
async function mergePass(
  job: MergeJob<TiesParams>, mode: 'write' | 'rewrite', lo: Float32Array, hi: Float32Array, m: MergeSettings,
  removed: TensorFilter, patch: boolean,
): Promise<MergePassResult> {
  const N = job.pool.models.length
  const res: MergePassResult = { held: [], balance: 0, kept: new Float64Array(N), counts: new Float64Array(2 * N), band: Array.from({ length: N }, () => []), deferredCount: 0 }
  const mergeOne = (s: Slice, out: Float32Array): { out: Float32Array; held: boolean } => {
    const src = m.plain ? s.models : m.vectors(s)
    // held values are gathered (copied: the input buffers are recycled after the callback)
    const r = tiesMergeSplit(out, s.base, src, lo, hi, m.lambda, m.func, res.kept, { fromModels: m.plain, threads: TIES_THREADS, counts: res.counts, gather: true })
    res.balance += r.balance
    res.deferredCount += r.deferred.length
    r.band!.forEach((b, t) => { if (b.length) res.band[t].push(b) })
    const h = r.held!
    if (h.idx.length === 0) return { out, held: false }
    res.held.push({ name: s.name, shape: s.shape, out: patch ? null : out, idx: h.idx, base: h.base, vals: h.vals })
    return { out, held: true }
  }
  if (mode === 'write') {
    await writeTensors(job, 'merge', (s) => {
      // a held tensor keeps its own array; a streamed (patched) one may use a recycled one
      const r = mergeOne(s, patch ? s.output!() : new Float32Array(s.base.length))
      return r.held && !patch ? null : r.out
    }, removed, { reuseInputs: true, overlapWrites: true })
    return res
  }
  if (!patch) throw new AmalgamError('INTERNAL', `${job.method}: a rewrite pass needs sinks that accept patches`)
  let out = new Float32Array(0)
  await scanTensors(job, 'merge (exact thresholds)', async (s) => {
    if (out.length < s.base.length) out = new Float32Array(s.base.length)
    const o = out.subarray(0, s.base.length)
    mergeOne(s, o)
    const all = new Uint32Array(o.length)
    for (let i = 0; i < all.length; i++) all[i] = i
    for (const sink of job.sinks) await sink.patch!(s.name, all, o)
  }, (n) => !removed(n, []), { reuseInputs: true })
  return res
}

/** Each task's exact threshold after a merge pass, or null when a sampled band missed it. */
function settleThresholds(job: MergeJob<TiesParams>, plan: Bounds, pass: MergePassResult): Float32Array | null {
  if (plan.kind === 'cached' || plan.kind === 'exact') return plan.lo
  const N = plan.selectors.length
  const band = (t: number): Float32Array => concat(pass.band[t])
  if (plan.kind === 'bucket') return Float32Array.from(plan.selectors, (sel, t) => sel.settle(band(t)))
  const q = new Float32Array(N)
  for (let t = 0; t < N; t++) {
    const values = band(t), below = pass.counts[t]
    // every value is below the band, inside it or at or above it: the rest are NaN
    const nan = plan.d - below - values.length - pass.counts[N + t]
    if (nan !== 0) throw new AmalgamError('BAD_FILE', `task vector ${t + 1} (${job.pool.models[t].label}): ${nan} NaN values among its entries`)
    const x = plan.selectors[t].settle(below, values)
    if (x === null) return null
    q[t] = x
  }
  return q
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

/**
 * Threads for the two TIES kernels (selection histograms, merge loop). Both passes are bound by
 * these loops rather than the read (bench:merge: the histograms and the merge each cost more than
 * reading the 9 models once), and the reads run on libuv's threads, so 2 pays even on 2 cores.
 */
const TIES_THREADS = Math.max(2, kernelThreads())

const THRESHOLDS_NS = 'ties-thresholds-v1'

/** How the merge pass gets its trim bounds (see thresholdBounds). */
interface BoundsBase { lo: Float32Array; hi: Float32Array; d: number; rank: number }
type Bounds =
  | (BoundsBase & { kind: 'cached' })
  | (BoundsBase & { kind: 'exact' })
  | (BoundsBase & { kind: 'bucket'; selectors: AbsBucketSelect[] })
  | (BoundsBase & { kind: 'sampled'; selectors: SampledBandSelect[] })

/** Bounds from already exact thresholds (lo = hi = q): no selection pass. */
function exactBounds(job: MergeJob<TiesParams>, keep: number, filter: (n: string) => boolean, thresholds: number[], kind: 'cached' | 'exact'): Bounds {
  const d = flatLength(job, filter)
  const q = Float32Array.from(thresholds)
  return { kind, lo: q, hi: q, d, rank: trimRank(d, keep) }
}

/** A tensor's set-aside coordinates: θ0 and τ there, their final values, and the output when held back (null: patched). */
interface Held { name: string; shape: number[]; out: Float32Array | null; idx: Uint32Array; base: Float32Array; vals: Float32Array[]; final?: Float32Array }

/**
 * Bytes of merged output TIES may hold in memory to save a read pass when its sinks cannot be
 * patched (AMALGAM_MERGE_HOLD_BYTES, default a quarter of RAM). The two-pass plan may then have to
 * hold every merged tensor until the end, so a larger output takes the three-pass plan, whose
 * memory is bounded by the tensors in flight. With patchable sinks (HF folders, memory) the
 * two-pass plan holds only the set-aside coordinates, whatever the model size.
 */
export function tiesHoldBudget(): number {
  const env = process.env.AMALGAM_MERGE_HOLD_BYTES
  if (env !== undefined && env !== '' && Number.isFinite(Number(env))) return Number(env)
  return totalmem() / 4
}

/**
 * Per-task trim bounds for the merge pass, by the cheapest plan the pool and sinks allow:
 * - sampled (plain task vectors, patchable sinks, sources that take block samples, a large
 *   pool): a sample of 1/16 of every page of the pool gives a narrow band per task, settled
 *   exactly in the merge pass — one full read in all (_ties-sample.ts);
 * - bucket: one selection pass finds each task's threshold bucket [lo, hi) (AbsBucketSelect),
 *   settled exactly during the merge pass — two full reads;
 * - exact (sinks without patch and output over the hold budget): globalThresholds' two selection
 *   passes, lo = hi = q — three full reads, memory bounded by the tensors in flight.
 */
async function thresholdBounds(
  job: MergeJob<TiesParams>, keep: number, vectors: (s: Slice) => Float32Array[], filter: (n: string) => boolean, plain: boolean, patch: boolean,
): Promise<Bounds> {
  const N = job.pool.models.length
  const d = flatLength(job, filter)
  const rank = trimRank(d, keep)
  if (d === 0 || (!patch && 4 * d > tiesHoldBudget())) {
    const { thresholds } = await globalThresholds(job, keep, vectors, filter)
    return exactBounds(job, keep, filter, thresholds, 'exact')
  }
  if (plain && patch && d >= tiesSampling().minLength && canSamplePool(job)) {
    const s = await sampledBounds(job, rank, d, filter, TIES_THREADS)
    if (s) return { kind: 'sampled', lo: s.lo, hi: s.hi, selectors: s.selectors, d, rank }
  }
  const selectors = Array.from({ length: N }, () => new AbsBucketSelect(rank))
  await scanTensors(job, 'thresholds', (s) => {
    if (plain) AbsBucketSelect.pass1All(selectors, s.models, s.base, TIES_THREADS)
    else AbsBucketSelect.pass1All(selectors, vectors(s), undefined, TIES_THREADS)
  }, filter, { reuseInputs: true })
  selectors.forEach((sel, t) => {
    if (sel.count !== d) throw new AmalgamError('BAD_FILE', `task vector ${t + 1} (${job.pool.models[t].label}): ${d - sel.count} NaN values among its entries`)
  })
  const bounds = selectors.map((sel) => sel.bounds())
  return { kind: 'bucket', lo: Float32Array.from(bounds, (b) => b.lo), hi: Float32Array.from(bounds, (b) => b.hi), selectors, d, rank }
}

/** merge_func = max: exact thresholds first (two selection passes), then the branchy merge. */
async function runTiesMax(job: MergeJob<TiesParams>, vectors: (s: Slice) => Float32Array[], removed: TensorFilter, notRemoved: (n: string) => boolean, keep: number): Promise<void> {
  const N = job.pool.models.length
  const lambda = job.params.scaling_factor
  const { thresholds, d, rank } = await globalThresholds(job, keep, vectors, notRemoved)
  let balance = 0
  const kept = new Float64Array(N)
  const held: Array<{ name: string; shape: number[]; out: Float32Array; idx: number[]; base: Float32Array; vals: Float32Array[] }> = []
  let mass = new Float32Array(0), nonzero = new Uint8Array(0)
  await writeTensors(job, 'merge', (s) => {
    const n = s.base.length
    const idx: number[] = []
    const v = vectors(s)
    if (mass.length < n) { mass = new Float32Array(n); nonzero = new Uint8Array(n) }
    const m = mass.subarray(0, n), nz = nonzero.subarray(0, n)
    trimAndMass(v, thresholds, m, nz).forEach((c, t) => { kept[t] += c })
    for (let k = 0; k < n; k++) { const x = m[k]; if (x > 0) balance++; else if (x < 0) balance--; else if (x === 0 && nz[k]) idx.push(k) }
    // the output array doubles as the accumulator: merged first, then θ0 + λ·merged in place
    const out = addScaledInPlace(disjointMergeInto(new Float32Array(n), v, m, 1, 'max'), s.base, lambda)
    if (idx.length === 0) return out
    held.push({ name: s.name, shape: s.shape, out, idx, base: Float32Array.from(idx, (k) => s.base[k]), vals: idx.map((k) => Float32Array.from(v, (x) => x[k])) })
    return null
  }, removed, { reuseInputs: true })
  const majority = Math.sign(balance)
  const l = Math.fround(lambda)
  for (const h of held) {
    h.idx.forEach((k, i) => {
      const merged = disjointMerge(Array.from(h.vals[i], (x) => Float32Array.of(x)), Float32Array.of(0), majority, 'max')[0]
      h.out[k] = h.base[i] + Math.fround(l * merged)
    })
    await writeHeld(job, h.name, h.shape, h.out)
  }
  job.diag.set('passes', 3)
  job.diag.set('heldTensors', held.length)
  job.diag.set('thresholds', thresholds)
  job.diag.set('rank', rank)
  job.diag.set('flattenedLength', d)
  job.diag.set('majoritySign', majority)
  job.diag.set('keptFraction', Array.from(kept, (k) => k / Math.max(d, 1)))
}
