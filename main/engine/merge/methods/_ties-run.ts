// The TIES pipeline over a pool, parameterised by how a tensor's task vectors are obtained
// (plain τ for ties_merging, DARE-dropped τ̃ for dare_ties_merging).
//   FusionBench: pass 1–2 thresholds by selection, pass 3 merges and writes.
//   mergekit variant: one pass, per-tensor exact top-k.
import type { MergeJob } from '../types'
import { paramError } from '../schema'
import { kthAbs } from './_select'
import { addScaled, inKeys, Scratch, writeHeld, writeTensors, type Slice } from './_stream'
import {
  disjointMerge, exactTopKInPlace, globalThresholds, keepFraction, massSum, mergekitDisjoint, signBalance, trimInPlace,
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

export async function runTies(job: MergeJob<TiesParams>, vectorsInto: TiesVectors, removeKeys: string[] = []): Promise<void> {
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
    }, removed)
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
  const kept = new Array(N).fill(0)
  const held: Array<{ name: string; shape: number[]; base: Float32Array; merged: Float32Array; idx: number[]; vals: Float32Array[] }> = []
  await writeTensors(job, 'merge', (s) => {
    const v = vectors(s)
    for (let t = 0; t < N; t++) kept[t] += trimInPlace(v[t], thresholds[t])
    const mass = massSum(v)
    balance += signBalance(mass)
    const idx: number[] = []
    const nonzero = new Uint8Array(mass.length)
    for (const x of v) for (let k = 0; k < x.length; k++) nonzero[k] |= x[k] !== 0 ? 1 : 0
    for (let k = 0; k < mass.length; k++) if (mass[k] === 0 && nonzero[k]) idx.push(k)
    const merged = disjointMerge(v, mass, 1, p.merge_func)
    if (idx.length === 0) return addScaled(s.base, merged, lambda)
    held.push({ name: s.name, shape: s.shape, base: s.base, merged, idx, vals: idx.map((k) => Float32Array.from(v, (x) => x[k])) })
    return null
  }, removed)
  const majority = Math.sign(balance)
  for (const h of held) {
    h.idx.forEach((k, i) => { h.merged[k] = disjointMerge(Array.from(h.vals[i], (x) => Float32Array.of(x)), Float32Array.of(0), majority, p.merge_func)[0] })
    await writeHeld(job, h.name, h.shape, addScaled(h.base, h.merged, lambda))
  }
  job.diag.set('heldTensors', held.length)
  job.diag.set('thresholds', thresholds)
  job.diag.set('rank', rank)
  job.diag.set('flattenedLength', d)
  job.diag.set('majoritySign', majority)
  job.diag.set('keptFraction', kept.map((k) => k / Math.max(d, 1)))
}
