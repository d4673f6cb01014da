// safetensors writers. The header is fixed up front from a plan (names, dtypes, shapes), so tensor
// data can be streamed one tensor at a time into a temp file at known offsets, then fsynced and
// renamed into place (formats.md §6.2). Nothing half-written ever carries the final name.
import { writeSync } from 'node:fs'
import { open, rename, rm, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { DType } from '#common/types'
import { AmalgamError } from '#common/errors'
import { encodeFromF32 } from './dtype'
import { buildHeader, type LaidOutTensor, type PlannedTensor } from './header'
import { fsyncDir, tempSibling } from '../util/atomic'
import { kernelAddon } from '../kernels/native-kernels'
import { readFullySync } from './reader'

export type { PlannedTensor, LaidOutTensor } from './header'

/** patch(): indices at most this far apart are rewritten as one stretch (read back, then written) */
const PATCH_GAP_BYTES = 8192
/** …up to stretches of this size */
const PATCH_SPAN_BYTES = 16 << 20


/** The patch with strictly ascending indices (a repeated index keeps its last value). */
function ascendingPatch(index: Uint32Array, bytes: Uint8Array, size: number): { index: Uint32Array; bytes: Uint8Array } {
  let ascending = true
  for (let i = 1; i < index.length && ascending; i++) ascending = index[i] > index[i - 1]
  if (ascending) return { index, bytes }
  const order = Array.from(index.keys()).sort((a, b) => index[a] - index[b] || a - b)
  const keep = order.filter((k, i) => i + 1 === order.length || index[order[i + 1]] !== index[k])
  const out = new Uint8Array(keep.length * size)
  keep.forEach((k, i) => out.set(bytes.subarray(k * size, (k + 1) * size), i * size))
  return { index: Uint32Array.from(keep, (k) => index[k]), bytes: out }
}

/**
 * Synchronous positioned read-back and write of the stretches a patch spans (page-cache hits,
 * where a promise round trip each would cost several times the copy).
 */
function patchByStretches(fd: number, origin: number, size: number, index: Uint32Array, bytes: Uint8Array): void {
  const count = index.length
  const gap = Math.max(1, Math.floor(PATCH_GAP_BYTES / size)), maxSpan = Math.max(1, Math.floor(PATCH_SPAN_BYTES / size))
  let buf = new Uint8Array(0)
  let i = 0
  while (i < count) {
    const first = index[i]
    let j = i + 1
    while (j < count && index[j] - index[j - 1] <= gap && index[j] - first < maxSpan) j++
    const span = index[j - 1] - first + 1
    if (buf.byteLength < span * size) buf = new Uint8Array(Math.max(span * size, 1 << 16))
    const view = buf.subarray(0, span * size)
    // a stretch with every element patched needs no read-back
    if (span !== j - i) readFullySync(fd, view, origin + first * size, 'patch')
    for (let k = i; k < j; k++) view.set(bytes.subarray(k * size, (k + 1) * size), (index[k] - first) * size)
    let done = 0
    while (done < view.byteLength) done += writeSync(fd, view, done, view.byteLength - done, origin + first * size + done)
    i = j
  }
}

export interface TensorToWrite { dtype: DType; shape: number[]; data: Uint8Array | Float32Array }

/**
 * Streams tensors into `<path>.tmp-<pid>-<rand>` and renames it to `path` on commit. Each planned
 * tensor must be written exactly once; writes land at their own offsets, so the order is free
 * (plan order or file order both work).
 */
export class SafetensorsStreamWriter {
  readonly path: string
  readonly tmpPath: string
  /** tensors in file order with data-buffer offsets */
  readonly layout: readonly LaidOutTensor[]
  /** total file size once complete */
  readonly totalBytes: number
  private readonly byName: Map<string, LaidOutTensor>
  private readonly written = new Set<string>()
  private readonly dataStart: number
  private fh: FileHandle | null
  private state: 'open' | 'committed' | 'aborted' = 'open'

  private constructor(path: string, tmpPath: string, fh: FileHandle, layout: LaidOutTensor[], dataStart: number, dataBytes: number) {
    this.path = path
    this.tmpPath = tmpPath
    this.fh = fh
    this.layout = layout
    this.byName = new Map(layout.map((t) => [t.name, t]))
    this.dataStart = dataStart
    this.totalBytes = dataStart + dataBytes
  }

  /** Compute the header, create the temp file and write the header into it. */
  static async create(path: string, plan: readonly PlannedTensor[], metadata?: Record<string, string>): Promise<SafetensorsStreamWriter> {
    const header = buildHeader(plan, metadata, path)
    const tmp = tempSibling(path)
    let fh: FileHandle
    // read-write: patch() reads back the stretches it rewrites
    try { fh = await open(tmp, 'wx+') } catch (e) {
      throw new AmalgamError('IO', `${path}: cannot create temp file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
    }
    const w = new SafetensorsStreamWriter(path, tmp, fh, header.layout, header.bytes.byteLength, header.dataBytes)
    try {
      await writeFully(fh, header.bytes, 0, path)
      // size the file now so a full disk shows up at once rather than mid-stream on most filesystems
      await fh.truncate(w.totalBytes)
    } catch (e) {
      await w.abort()
      throw e
    }
    return w
  }

  /** Where a tensor sits (data-buffer offsets and dtype) — for callers that encode themselves. */
  entry(name: string): LaidOutTensor {
    const t = this.byName.get(name)
    if (!t) throw new AmalgamError('BAD_REQUEST', `${this.path}: tensor "${name}" is not in the write plan`)
    return t
  }

  /** Write one tensor's stored bytes (already in its planned dtype). */
  async write(name: string, bytes: Uint8Array): Promise<void> {
    if (this.state !== 'open' || !this.fh) throw new AmalgamError('INTERNAL', `${this.path}: writer is ${this.state} (writing tensor "${name}")`)
    const t = this.entry(name)
    if (this.written.has(name)) throw new AmalgamError('BAD_REQUEST', `${this.path}: tensor "${name}" was already written`)
    const want = t.end - t.begin
    if (bytes.byteLength !== want) {
      throw new AmalgamError('BAD_REQUEST', `${this.path}: tensor "${name}" is ${t.dtype}[${t.shape}] = ${want} bytes, got ${bytes.byteLength}`)
    }
    await writeFully(this.fh, bytes, this.dataStart + t.begin, this.path)
    this.written.add(name)
  }

  /**
   * Overwrite elements `index[i]` of an already written tensor with the stored bytes in `bytes`
   * (element i at bytes[i·size … (i+1)·size), already in the tensor's dtype; a repeated index takes
   * its last value). TIES's sampled plan patches ~2 % of every tensor, spread everywhere, so this
   * must cost about a copy of the touched pages, not a system call per element: the addon writes
   * through a shared mapping of the stretch; without it, indices closer than PATCH_GAP_BYTES go
   * out as one stretch, read back and rewritten.
   */
  async patch(name: string, index: Uint32Array, bytes: Uint8Array): Promise<void> {
    if (this.state !== 'open' || !this.fh) throw new AmalgamError('INTERNAL', `${this.path}: writer is ${this.state} (patching tensor "${name}")`)
    const t = this.entry(name)
    if (!this.written.has(name)) throw new AmalgamError('BAD_REQUEST', `${this.path}: tensor "${name}" is patched before it was written`)
    if (index.length === 0) return
    const size = bytes.byteLength / index.length
    const elems = (t.end - t.begin) / size
    if (!Number.isInteger(size) || size <= 0) throw new AmalgamError('BAD_REQUEST', `${this.path}: patch of "${name}" has ${bytes.byteLength} bytes for ${index.length} elements`)
    const sorted = ascendingPatch(index, bytes, size)
    const last = sorted.index[sorted.index.length - 1]
    if (last >= elems) throw new AmalgamError('BAD_REQUEST', `${this.path}: patch of "${name}" reaches element ${last} of ${elems}`)
    try {
      const addon = kernelAddon()
      if (addon) addon.patchMapped(this.fh.fd, this.dataStart + t.begin, size, sorted.index, sorted.bytes)
      else patchByStretches(this.fh.fd, this.dataStart + t.begin, size, sorted.index, sorted.bytes)
    } catch (e) {
      throw new AmalgamError('IO', `${this.path}: cannot patch tensor "${name}" (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
    }
  }

  get bytesWritten(): number {
    let n = this.dataStart
    for (const name of this.written) { const t = this.byName.get(name)!; n += t.end - t.begin }
    return n
  }

  /** Check every tensor arrived, fsync, close and rename into place (then fsync the folder). */
  async commit(): Promise<void> {
    if (this.state !== 'open' || !this.fh) throw new AmalgamError('INTERNAL', `${this.path}: writer is ${this.state}`)
    const missing = this.layout.filter((t) => !this.written.has(t.name)).map((t) => t.name)
    if (missing.length) {
      await this.abort()
      throw new AmalgamError('INTERNAL', `${this.path}: ${missing.length} planned tensor(s) never written: ${missing.slice(0, 5).map((n) => `"${n}"`).join(', ')}${missing.length > 5 ? ', …' : ''}`)
    }
    try {
      await this.fh.sync()
      await this.fh.close()
      this.fh = null
      await rename(this.tmpPath, this.path)
    } catch (e) {
      await this.abort()
      throw new AmalgamError('IO', `${this.path}: cannot finish writing (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
    }
    this.state = 'committed'
    await fsyncDir(dirname(this.path))
  }

  /** Close and delete the temp file; safe to call repeatedly. */
  async abort(): Promise<void> {
    if (this.state === 'committed') return
    this.state = 'aborted'
    const fh = this.fh
    this.fh = null
    if (fh) await fh.close().catch(() => undefined)
    await rm(this.tmpPath, { force: true })
  }
}

async function writeFully(fh: FileHandle, bytes: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0
  try {
    while (done < bytes.byteLength) {
      const { bytesWritten } = await fh.write(bytes, done, bytes.byteLength - done, position + done)
      done += bytesWritten
    }
  } catch (e) {
    throw new AmalgamError('IO', `${path}: write failed at byte ${position + done} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
}

/** Stored bytes for one tensor: Float32Array data is encoded to the tensor's float dtype. */
function storedBytes(name: string, t: TensorToWrite, path: string): Uint8Array {
  if (t.data instanceof Float32Array) {
    if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') {
      throw new AmalgamError('BAD_REQUEST', `${path}: tensor "${name}" is ${t.dtype} but was given float32 data (pass the stored bytes)`)
    }
    return encodeFromF32(t.data, t.dtype)
  }
  return t.data
}

/** Write a whole safetensors file atomically (temp + fsync + rename + fsync dir). */
export async function writeSafetensors(path: string, tensors: Map<string, TensorToWrite>, metadata?: Record<string, string>): Promise<void> {
  const plan = [...tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }))
  const w = await SafetensorsStreamWriter.create(path, plan, metadata)
  try {
    for (const t of w.layout) await w.write(t.name, storedBytes(t.name, tensors.get(t.name)!, path))
    await w.commit()
  } catch (e) {
    await w.abort()
    throw e
  }
}
