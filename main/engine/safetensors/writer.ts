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

export type { PlannedTensor, LaidOutTensor } from './header'

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
    try { fh = await open(tmp, 'wx') } catch (e) {
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
   * (element i at bytes[i·size … (i+1)·size), already in the tensor's dtype). Consecutive indices
   * go out as one write.
   */
  async patch(name: string, index: Uint32Array, bytes: Uint8Array): Promise<void> {
    if (this.state !== 'open' || !this.fh) throw new AmalgamError('INTERNAL', `${this.path}: writer is ${this.state} (patching tensor "${name}")`)
    const t = this.entry(name)
    if (!this.written.has(name)) throw new AmalgamError('BAD_REQUEST', `${this.path}: tensor "${name}" is patched before it was written`)
    const count = index.length
    if (count === 0) return
    const size = bytes.byteLength / count
    const elems = (t.end - t.begin) / size
    if (!Number.isInteger(size) || size <= 0) throw new AmalgamError('BAD_REQUEST', `${this.path}: patch of "${name}" has ${bytes.byteLength} bytes for ${count} elements`)
    const order = Array.from(index.keys()).sort((a, b) => index[a] - index[b])
    // synchronous positioned writes: a patch is typically tens of thousands of runs of a few bytes
    // into the page cache, where a promise round trip through the thread pool per run costs 10×
    // the write itself
    const fd = this.fh.fd
    let i = 0
    while (i < count) {
      let j = i + 1
      while (j < count && index[order[j]] === index[order[j - 1]] + 1) j++
      const first = index[order[i]]
      if (first + (j - i) > elems) throw new AmalgamError('BAD_REQUEST', `${this.path}: patch of "${name}" reaches element ${first + (j - i) - 1} of ${elems}`)
      const run = new Uint8Array((j - i) * size)
      for (let k = i; k < j; k++) run.set(bytes.subarray(order[k] * size, (order[k] + 1) * size), (k - i) * size)
      let done = 0
      try {
        while (done < run.byteLength) done += writeSync(fd, run, done, run.byteLength - done, this.dataStart + t.begin + first * size + done)
      } catch (e) {
        throw new AmalgamError('IO', `${this.path}: cannot patch tensor "${name}" (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
      }
      i = j
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
