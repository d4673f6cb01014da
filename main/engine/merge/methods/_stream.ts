// Tensor-by-tensor passes over a pool. Only θ0 and the N slices of the tensor in flight are held,
// so memory stays bounded by the largest tensor × (N + a few), whatever the model size.
import { AmalgamError } from '#common/errors'
import { copyOnWrite, isFloat, numel, type TensorSource } from '../../tensors/source'
import { throwIfCancelled, tick } from '../../util/task'
import type { MergeJob } from '../types'
import { weightedSumInto } from '../../kernels/elementwise'

export interface Slice {
  name: string
  shape: number[]
  /** position of the tensor among the pass's tensors */
  index: number
  base: Float32Array
  /** θ_1..θ_N of this tensor (read-only: sources may hand out their own storage) */
  models: Float32Array[]
  /**
   * An array of the tensor's length for the method's output (writeTensors only): recycled across
   * tensors when every sink copies on write, else fresh. Only for the array the callback returns.
   */
  output?: () => Float32Array
}

export type TensorFilter = (name: string, shape: number[]) => boolean

/** Names of the base's floating tensors (sorted, the flat() order of methods.md §0.1). */
export function floatNames(job: MergeJob, filter?: TensorFilter): string[] {
  const b = job.pool.base
  return b.names().filter((n) => { const m = b.meta(n); return isFloat(m.dtype) && (!filter || filter(n, m.shape)) })
}

/** Number of entries of flat(·) over the selected floating tensors (methods.md §0.1). */
export function flatLength(job: MergeJob, filter?: TensorFilter): number {
  return floatNames(job, filter).reduce((a, n) => a + numel(job.pool.base.meta(n).shape), 0)
}

/** Every model has `name` with the base's shape (throws POOL_MISMATCH naming model and tensor). */
export function checkShapes(job: MergeJob, name: string, shape: number[]): void {
  job.pool.models.forEach((m, i) => {
    if (!m.has(name)) throw new AmalgamError('POOL_MISMATCH', `model ${i + 1} (${m.label}) has no tensor ${name} (present in the base ${job.pool.base.label})`)
    const s = m.meta(name).shape
    if (s.length !== shape.length || s.some((d, k) => d !== shape[k])) {
      throw new AmalgamError('POOL_MISMATCH', `tensor ${name}: model ${i + 1} (${m.label}) has shape [${s}] but the base has [${shape}]`)
    }
  })
}

/** A source that can decode into a caller-owned buffer (ModelSource, SafetensorsFile). */
type IntoSource = TensorSource & { readF32Into(name: string, out: Float32Array): Promise<Float32Array> }
const canReadInto = (s: unknown): s is IntoSource => typeof (s as Partial<IntoSource>).readF32Into === 'function'

/**
 * Input buffers recycled across tensors: a pass holds at most two slices (the one being merged
 * and the one being prefetched), so two sets of N + 1 arrays sized to the largest tensor replace
 * 2·(N + 1) fresh multi-megabyte allocations per tensor — whose external memory otherwise drives
 * V8 into a mark-compact every few tensors (a third of a Task Arithmetic run was GC).
 * Only for passes whose callback keeps no reference to the slice's arrays after it returns.
 */
class InputBuffers {
  private free: Float32Array[][] = []
  constructor(private readonly count: number, private readonly capacity: number) {}
  take(): Float32Array[] { return this.free.pop() ?? Array.from({ length: this.count }, () => new Float32Array(this.capacity)) }
  give(set: Float32Array[]): void { this.free.push(set) }
}

function maxFloatNumel(job: MergeJob, names: string[]): number {
  let max = 0
  for (const n of names) { const m = job.pool.base.meta(n); if (isFloat(m.dtype)) max = Math.max(max, numel(m.shape)) }
  return max
}

interface HeldSlice extends Slice { release(): void }

async function readSlice(job: MergeJob, name: string, index: number, withModels: boolean, bufs?: InputBuffers): Promise<HeldSlice> {
  const shape = job.pool.base.meta(name).shape
  checkShapes(job, name, shape)
  const sources = [job.pool.base, ...(withModels ? job.pool.models : [])]
  // in-memory sources hand out their own storage: recycling only pays for sources that decode
  const set = bufs && sources.every(canReadInto) ? bufs.take() : undefined
  const n = numel(shape)
  try {
    const [base, ...models] = await Promise.all(sources.map((src, i) =>
      set ? (src as IntoSource).readF32Into(name, set[i].subarray(0, n)) : src.readF32(name)))
    return { name, shape, index, base, models, release: () => { if (set) bufs!.give(set) } }
  } catch (e) {
    if (set) bufs!.give(set)
    throw e
  }
}

/** Options of the streaming passes. */
export interface PassOptions {
  /**
   * Recycle the input arrays (θ0 and θ_t) of each slice once the callback has returned (and, in
   * writeTensors, its outputs are written). The callback must not keep references to them.
   */
  reuseInputs?: boolean
  /**
   * writeTensors: whether a merged tensor needs the models (default yes). A tensor whose result
   * comes from elsewhere (a cache) is read from θ0 only and its slice has no models.
   */
  needsModels?: (name: string) => boolean
  /**
   * writeTensors: write tensor i while tensor i + 1 is computed. Pays for compute-bound passes
   * (TIES: −0.5 s of 3.4 s on ViT-B/32 × 8); an I/O-bound pass (Task Arithmetic) was slower with
   * it (bench:merge median 1.46× vs 1.18× the read floor), so it is opt-in.
   */
  overlapWrites?: boolean
}

/** A read-only pass over the selected floating tensors (statistics, thresholds). */
export async function scanTensors(
  job: MergeJob, stage: string, fn: (s: Slice) => void | Promise<void>, filter?: TensorFilter, opts: PassOptions = {},
): Promise<void> {
  const names = floatNames(job, filter)
  const bufs = opts.reuseInputs ? new InputBuffers(job.pool.models.length + 1, maxFloatNumel(job, names)) : undefined
  // read the next tensors while tensor i is being processed: I/O and compute overlap (two ahead
  // with recycled buffers, see writeTensors)
  const ahead = opts.reuseInputs ? 2 : 1
  const pending: Array<Promise<HeldSlice>> = []
  const start = (j: number): void => {
    if (j >= names.length) return
    const p = readSlice(job, names[j], j, true, bufs)
    p.catch(() => undefined) // surfaced when awaited
    pending.push(p)
  }
  for (let j = 0; j < ahead; j++) start(j)
  for (let i = 0; i < names.length; i++) {
    throwIfCancelled(job.ctx, `${job.method} (${stage})`)
    job.ctx.progress?.(stage, i / names.length, names[i])
    const cur = await pending.shift()!
    start(i + ahead)
    await fn(cur)
    cur.release()
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
  keepBase?: TensorFilter, opts: PassOptions = {},
): Promise<void> {
  const base = job.pool.base
  const names = base.names()
  const merges = (n: string): boolean => { const m = base.meta(n); return isFloat(m.dtype) && !keepBase?.(n, m.shape) }
  const bufs = opts.reuseInputs ? new InputBuffers(job.pool.models.length + 1, maxFloatNumel(job, names.filter(merges))) : undefined
  // output arrays recycled when the sinks are done with them on write (fewer multi-megabyte
  // allocations, whose external memory otherwise drives V8 into frequent mark-compacts)
  const recycle = copyOnWrite(job.sinks)
  const outCapacity = recycle ? maxFloatNumel(job, names.filter(merges)) : 0
  const outFree: Float32Array[] = []
  // prefetch the next tensor that will be merged while the current one is computed
  const prefetch = new Map<number, Promise<HeldSlice>>()
  // how many merged tensors are read ahead of the one being computed: with recycled buffers the
  // reads are cheap to keep in flight, and two ahead keeps the disk busy through a long tensor
  const ahead = opts.reuseInputs ? 2 : 1
  const want = (from: number, count = 1): void => {
    for (let j = from; j < names.length && count > 0; j++) {
      if (!merges(names[j])) continue
      if (!prefetch.has(j)) { const p = readSlice(job, names[j], j, opts.needsModels?.(names[j]) ?? true, bufs); p.catch(() => undefined); prefetch.set(j, p) }
      count--
    }
  }
  // With overlapWrites the write of tensor i runs while tensor i + 1 is computed (one write in
  // flight); either way its output array and input slice go back to their pools when it resolves.
  let pending: Promise<void> | null = null
  const settle = async (): Promise<void> => { const p = pending; pending = null; if (p) await p }
  try {
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
      want(i + 1, ahead)
      let lent: Float32Array | null = null
      slice.output = () => {
        const n = numel(meta.shape)
        if (!recycle) return new Float32Array(n)
        lent = (outFree.pop() ?? new Float32Array(outCapacity)).subarray(0, n)
        return lent
      }
      const out = await fn(slice)
      job.stats.merged++
      if (out === null) { slice.release(); continue } // held back by the method, which writes it itself (writeHeld)
      const outs = Array.isArray(out) ? out : [out]
      if (outs.length !== job.sinks.length) throw new AmalgamError('INTERNAL', `${job.method}: produced ${outs.length} outputs for ${name} but ${job.sinks.length} sinks were given`)
      const n = numel(meta.shape)
      for (const o of outs) if (o.length !== n) throw new AmalgamError('INTERNAL', `${job.method}: output for ${name} has ${o.length} values, expected ${n}`)
      await settle()
      const done = lent as Float32Array | null
      pending = (async () => {
        for (let k = 0; k < outs.length; k++) await job.sinks[k].write(name, meta.shape, outs[k])
        if (done) outFree.push(new Float32Array(done.buffer))
        slice.release()
      })()
      pending.catch(() => undefined) // surfaced by settle()
      if (!opts.overlapWrites) await settle()
      await tick()
    }
    await settle()
  } finally {
    // never leave a write running behind an error or a cancellation
    await pending?.catch(() => undefined)
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
    // 1·θ_i + (−1)·θ0 in float64, rounded once: exactly float32(θ_i − θ0) (native loop when loaded)
    weightedSumInto(t, [m, b], SUB_WEIGHTS)
    return t
  })
}

const SUB_WEIGHTS = [1, -1]

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

/** v ← θ0 + λ·v in place (float32, the same values as addScaled); returns v. */
export function addScaledInPlace(v: Float32Array, base: Float32Array, lambda: number): Float32Array {
  const l = Math.fround(lambda)
  for (let k = 0; k < v.length; k++) v[k] = base[k] + Math.fround(l * v[k])
  return v
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
