// Tensor-by-tensor passes over a pool. Only θ0 and the N slices of the tensor in flight are held,
// so memory stays bounded by the largest tensor × (N + a few), whatever the model size.
import { AmalgamError } from '#common/errors'
import { isFloat, numel } from '../../tensors/source'
import { throwIfCancelled, tick } from '../../util/task'
import type { MergeJob } from '../types'

export interface Slice {
  name: string
  shape: number[]
  /** position of the tensor among the pass's tensors */
  index: number
  base: Float32Array
  /** θ_1..θ_N of this tensor (read-only: sources may hand out their own storage) */
  models: Float32Array[]
}

export type TensorFilter = (name: string, shape: number[]) => boolean

/** Names of the base's floating tensors (sorted, the flat() order of methods.md §0.1). */
export function floatNames(job: MergeJob, filter?: TensorFilter): string[] {
  const b = job.pool.base
  return b.names().filter((n) => { const m = b.meta(n); return isFloat(m.dtype) && (!filter || filter(n, m.shape)) })
}

function checkShapes(job: MergeJob, name: string, shape: number[]): void {
  job.pool.models.forEach((m, i) => {
    if (!m.has(name)) throw new AmalgamError('POOL_MISMATCH', `model ${i + 1} (${m.label}) has no tensor ${name} (present in the base ${job.pool.base.label})`)
    const s = m.meta(name).shape
    if (s.length !== shape.length || s.some((d, k) => d !== shape[k])) {
      throw new AmalgamError('POOL_MISMATCH', `tensor ${name}: model ${i + 1} (${m.label}) has shape [${s}] but the base has [${shape}]`)
    }
  })
}

async function readSlice(job: MergeJob, name: string, index: number, withModels: boolean): Promise<Slice> {
  const shape = job.pool.base.meta(name).shape
  checkShapes(job, name, shape)
  const [base, ...models] = await Promise.all([
    job.pool.base.readF32(name),
    ...(withModels ? job.pool.models.map((m) => m.readF32(name)) : []),
  ])
  return { name, shape, index, base, models }
}

/** A read-only pass over the selected floating tensors (statistics, thresholds). */
export async function scanTensors(
  job: MergeJob, stage: string, fn: (s: Slice) => void | Promise<void>, filter?: TensorFilter,
): Promise<void> {
  const names = floatNames(job, filter)
  // read tensor i + 1 while tensor i is being processed: I/O and compute overlap
  let next = names.length ? readSlice(job, names[0], 0, true) : null
  for (let i = 0; i < names.length; i++) {
    throwIfCancelled(job.ctx, `${job.method} (${stage})`)
    job.ctx.progress?.(stage, i / names.length, names[i])
    const cur = await next!
    next = i + 1 < names.length ? readSlice(job, names[i + 1], i + 1, true) : null
    next?.catch(() => undefined) // surfaced when awaited
    await fn(cur)
    await tick()
  }
  job.ctx.progress?.(stage, 1)
}

/**
 * The output pass: every tensor of the base in order. Integer buffers are copied byte for byte
 * to every sink; floating tensors go through `fn`, which returns one array (single output) or one
 * per sink (per-task methods). `skip(name)` tensors are copied from θ0 without reading the models.
 */
export async function writeTensors(
  job: MergeJob, stage: string,
  fn: (s: Slice) => Float32Array | Float32Array[] | null | Promise<Float32Array | Float32Array[] | null>,
  keepBase?: TensorFilter,
): Promise<void> {
  const base = job.pool.base
  const names = base.names()
  const merges = (n: string): boolean => { const m = base.meta(n); return isFloat(m.dtype) && !keepBase?.(n, m.shape) }
  // prefetch the next tensor that will be merged while the current one is computed
  const prefetch = new Map<number, Promise<Slice>>()
  const want = (from: number): void => {
    for (let j = from; j < names.length; j++) {
      if (merges(names[j])) { if (!prefetch.has(j)) { const p = readSlice(job, names[j], j, true); p.catch(() => undefined); prefetch.set(j, p) } return }
    }
  }
  for (let i = 0; i < names.length; i++) {
    const name = names[i]
    throwIfCancelled(job.ctx, `${job.method} (${stage})`)
    job.ctx.progress?.(stage, i / names.length, name)
    const meta = base.meta(name)
    if (!isFloat(meta.dtype)) {
      const raw = await base.readRaw(name)
      for (const s of job.sinks) await s.writeRaw(name, meta, raw)
      job.stats.copied++
      continue
    }
    if (keepBase?.(name, meta.shape)) {
      const b = await base.readF32(name)
      for (const s of job.sinks) await s.write(name, meta.shape, b)
      job.stats.copied++
      continue
    }
    want(i)
    const slice = await prefetch.get(i)!
    prefetch.delete(i)
    want(i + 1)
    const out = await fn(slice)
    job.stats.merged++
    if (out === null) continue // held back by the method, which writes it itself (writeHeld)
    const outs = Array.isArray(out) ? out : [out]
    if (outs.length !== job.sinks.length) throw new AmalgamError('INTERNAL', `${job.method}: produced ${outs.length} outputs for ${name} but ${job.sinks.length} sinks were given`)
    const n = numel(meta.shape)
    for (let k = 0; k < outs.length; k++) {
      if (outs[k].length !== n) throw new AmalgamError('INTERNAL', `${job.method}: output for ${name} has ${outs[k].length} values, expected ${n}`)
      await job.sinks[k].write(name, meta.shape, outs[k])
    }
    await tick()
  }
  job.ctx.progress?.(stage, 1)
}

/** Writes a tensor a method held back from writeTensors (sinks accept any write order). */
export async function writeHeld(job: MergeJob, name: string, shape: number[], data: Float32Array): Promise<void> {
  for (const s of job.sinks) await s.write(name, shape, data)
}

/**
 * τ_i = θ_i − θ0 in float32. Inputs are never modified. With `into` (scratch arrays of at least
 * the tensor's length, see Scratch) the results are views into them, avoiding per-tensor
 * allocations in multi-pass methods.
 */
export function taskVectors(s: Slice, into?: Float32Array[]): Float32Array[] {
  const b = s.base, n = b.length
  return s.models.map((m, i) => {
    const t = into ? into[i].subarray(0, n) : new Float32Array(n)
    subInto(t, m, b)
    return t
  })
}

function subInto(t: Float32Array, m: Float32Array, b: Float32Array): void {
  for (let k = 0; k < t.length; k++) t[k] = m[k] - b[k]
}

/** Reusable per-task scratch buffers, grown to the largest tensor seen. */
export class Scratch {
  private bufs: Float32Array[] = []
  get(count: number, length: number): Float32Array[] {
    if (this.bufs.length !== count || this.bufs[0].length < length) this.bufs = Array.from({ length: count }, () => new Float32Array(length))
    return this.bufs
  }
}

/** θ0 + λ·v in float32. */
export function addScaled(base: Float32Array, v: Float32Array, lambda: number): Float32Array {
  const out = new Float32Array(base.length)
  const l = Math.fround(lambda)
  for (let k = 0; k < out.length; k++) out[k] = base[k] + Math.fround(l * v[k])
  return out
}

/** Running mean of task vectors as FusionBench computes it: m ← τ_1; m ← m + (τ_i − m)/i. */
export function runningMean(taus: Float32Array[]): Float32Array {
  const m = Float32Array.from(taus[0])
  for (let i = 1; i < taus.length; i++) {
    const t = taus[i]
    const d = i + 1
    for (let k = 0; k < m.length; k++) m[k] = m[k] + Math.fround(Math.fround(t[k] - m[k]) / d)
  }
  return m
}

/** `nn.Linear` weights in HF models: 2-D `.weight` tensors that are not embeddings. */
export const isLinearWeight: TensorFilter = (name, shape) =>
  shape.length === 2 && name.endsWith('.weight') && !/embed/i.test(name)

export const is2D: TensorFilter = (_n, shape) => shape.length === 2

/** Exact key-name match against a comma-separated list parameter. */
export function inKeys(keys: string[]): TensorFilter { const s = new Set(keys); return (n) => s.has(n) }
