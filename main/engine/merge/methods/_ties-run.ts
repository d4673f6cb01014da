// The TIES pipeline over a pool, parameterised by how a tensor's task vectors are obtained
// (plain τ for ties_merging, DARE-dropped τ̃ for dare_ties_merging).
//   FusionBench: pass 1–2 thresholds by selection, pass 3 merges and writes.
//   mergekit variant: one pass, per-tensor exact top-k.
import type { MergeJob } from '../types'
import { paramError } from '../schema'
import { kthAbs } from './_select'
import { addScaled, addScaledInPlace, inKeys, Scratch, writeHeld, writeTensors, type Slice } from './_stream'
import {
  disjointMerge, disjointMergeInto, exactTopKInPlace, globalThresholds, keepFraction, mergekitDisjoint, tiesMergeFused, trimAndMass,
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
 */
export async function runTies(job: MergeJob<TiesParams>, vectorsInto: TiesVectors, removeKeys: string[] = [], plainTaskVectors = false): Promise<void> {
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
  const { thresholds, d, rank } = await globalThresholds(job, keep, vectors, notRemoved)
  // The majority sign only matters where the mass is exactly 0 while some trimmed entry is not
  // (exact cancellation: a handful of coordinates in a real model). Instead of a whole extra
  // read pass for it, the merge pass accumulates the balance and holds back only the tensors
  // containing such coordinates, with those coordinates' trimmed values; they are patched with
  // the final majority and written at the end (sinks accept any order).
  let balance = 0
  const kept = new Float64Array(N)
  // tensors with zero-mass coordinates: their output, and θ0 and the trimmed τ at those coordinates
  const held: Array<{ name: string; shape: number[]; out: Float32Array; idx: number[]; base: Float32Array; vals: Float32Array[] }> = []
  let mass = new Float32Array(0), nonzero = new Uint8Array(0), count = new Uint16Array(0)
  await writeTensors(job, 'merge', (s) => {
    const n = s.base.length
    const idx: number[] = []
    let out: Float32Array
    let v: Float32Array[]
    if (p.merge_func === 'sum' || p.merge_func === 'mean') {
      out = new Float32Array(n)
      if (plainTaskVectors) {
        balance += tiesMergeFused(out, s.base, s.models, thresholds, lambda, p.merge_func, kept, idx, true)
        v = idx.length ? vectors(s) : []
      } else {
        v = vectors(s)
        balance += tiesMergeFused(out, s.base, v, thresholds, lambda, p.merge_func, kept, idx)
      }
      for (const k of idx) for (let t = 0; t < N; t++) if (!(Math.abs(v[t][k]) >= thresholds[t])) v[t][k] = 0 // trimmed values for the re-merge below
    } else {
      v = vectors(s)
      if (mass.length < n) { mass = new Float32Array(n); nonzero = new Uint8Array(n); count = new Uint16Array(n) }
      const m = mass.subarray(0, n), nz = nonzero.subarray(0, n)
      trimAndMass(v, thresholds, m, nz).forEach((c, t) => { kept[t] += c })
      for (let k = 0; k < n; k++) { const x = m[k]; if (x > 0) balance++; else if (x < 0) balance--; else if (x === 0 && nz[k]) idx.push(k) }
      // the output array doubles as the accumulator: merged first, then θ0 + λ·merged in place
      out = addScaledInPlace(disjointMergeInto(new Float32Array(n), v, m, 1, p.merge_func, count), s.base, lambda)
    }
    if (idx.length === 0) return out
    // held until the majority sign is known (the input buffers are recycled: copy what is needed)
    held.push({ name: s.name, shape: s.shape, out, idx, base: Float32Array.from(idx, (k) => s.base[k]), vals: idx.map((k) => Float32Array.from(v, (x) => x[k])) })
    return null
  }, removed, { reuseInputs: true })
  const majority = Math.sign(balance)
  const l = Math.fround(lambda)
  for (const h of held) {
    h.idx.forEach((k, i) => {
      const merged = disjointMerge(Array.from(h.vals[i], (x) => Float32Array.of(x)), Float32Array.of(0), majority, p.merge_func)[0]
      h.out[k] = h.base[i] + Math.fround(l * merged)
    })
    await writeHeld(job, h.name, h.shape, h.out)
  }
  job.diag.set('heldTensors', held.length)
  job.diag.set('thresholds', thresholds)
  job.diag.set('rank', rank)
  job.diag.set('flattenedLength', d)
  job.diag.set('majoritySign', majority)
  job.diag.set('keptFraction', Array.from(kept, (k) => k / Math.max(d, 1)))
}
