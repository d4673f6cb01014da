// Lazy safetensors reader: opening reads only the 8-byte length and the header; each tensor is
// then read by a positional read of its own byte range, so a 10 GB file costs a few KB to open.
import { readSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import type { DType } from '#common/types'
import { AmalgamError } from '#common/errors'
import { decodeIntoF32, DTYPE_BYTES } from './dtype'
import { parseHeader, parseHeaderLength, type TensorEntry } from './header'
import { blockLayout, sampleBlocksOf, type BlockSpec } from '../tensors/block-sample'
import { kernelAddon } from '../kernels/native-kernels'

export type { TensorEntry } from './header'

export interface SafetensorsFile {
  readonly path: string
  readonly metadata: Record<string, string>
  /**
   * Tensors by name. `begin`/`end` are offsets into the data buffer, exactly as in the header;
   * the absolute file offset of a tensor is `dataStart + begin`.
   */
  readonly tensors: Map<string, TensorEntry>
  /** absolute file offset of the data buffer (8 + header length) */
  readonly dataStart: number
  /** total file size in bytes */
  readonly size: number
  /** tensor names sorted lexicographically */
  names(): string[]
  /** the stored bytes of one tensor (a fresh buffer the caller owns) */
  readRaw(name: string): Promise<Uint8Array>
  /** read one tensor's bytes into `target` (at least `end − begin` bytes); returns the filled view */
  readRawInto(name: string, target: Uint8Array): Promise<Uint8Array>
  /** a floating tensor decoded to float32 (throws for integer dtypes, naming the tensor) */
  readF32(name: string): Promise<Float32Array>
  /** like readF32 but into a caller-owned buffer (reused across tensors by streaming loops); returns the filled view */
  readF32Into(name: string, out: Float32Array): Promise<Float32Array>
  /** TensorSource.sampleBlocks */
  sampleBlocks(name: string, spec: BlockSpec, out: Float32Array): void
  close(): Promise<void>
}

/** Open and validate a safetensors file; throws AmalgamError('BAD_FILE') naming file and tensor. */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  let fh: FileHandle
  try {
    fh = await open(path, 'r')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new AmalgamError(code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `${path}: cannot open (${code ?? (e as Error).message})`)
  }
  try {
    const { size } = await fh.stat()
    const prefix = new Uint8Array(8)
    if (size >= 8) await readFully(fh, prefix, 0, path)
    const n = parseHeaderLength(prefix, size, path)
    const headerBuf = new Uint8Array(n)
    await readFully(fh, headerBuf, 8, path)
    const header = parseHeader(headerBuf, size, path)
    return new File(path, fh, size, header.metadata, header.tensors, header.dataStart)
  } catch (e) {
    await fh.close().catch(() => undefined)
    throw e
  }
}

/** Positional read that loops over short reads (pread may return fewer bytes than asked). */
async function readFully(fh: FileHandle, target: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0
  while (done < target.byteLength) {
    const { bytesRead } = await fh.read(target, done, target.byteLength - done, position + done)
    if (bytesRead === 0) throw new AmalgamError('BAD_FILE', `${path}: file ended early at byte ${position + done} (was it truncated while open?)`)
    done += bytesRead
  }
}

/** readFully's synchronous twin, for positioned reads of page-cache data where a promise round trip would cost more than the copy. */
export function readFullySync(fd: number, target: Uint8Array, position: number, path: string): void {
  let done = 0
  while (done < target.byteLength) {
    const n = readSync(fd, target, done, target.byteLength - done, position + done)
    if (n === 0) throw new AmalgamError('BAD_FILE', `${path}: file ended early at byte ${position + done} (was it truncated while open?)`)
    done += n
  }
}

/** An unzeroed buffer with its own ArrayBuffer (never a slice of Node's shared pool). */
function freshBytes(n: number): Uint8Array {
  if (n < 4096) return new Uint8Array(n)
  const b = Buffer.allocUnsafeSlow(n)
  return new Uint8Array(b.buffer, b.byteOffset, n)
}

// Staging buffers for BF16/F16/F64 decode, shared by all open files. A buffer is taken while in
// use, so concurrent reads never share one; the pool is bounded (count and size) so that many open
// models do not pin memory.
const SCRATCH_POOL = 4
const SCRATCH_MAX_BYTES = 64 << 20
const scratchPool: Uint8Array[] = []

function takeScratch(n: number): Uint8Array {
  const i = scratchPool.findIndex((b) => b.byteLength >= n)
  if (i >= 0) return scratchPool.splice(i, 1)[0]
  return freshBytes(Math.max(n, 1 << 16))
}

function giveScratch(b: Uint8Array): void {
  if (b.byteLength > SCRATCH_MAX_BYTES) return
  if (scratchPool.length >= SCRATCH_POOL) {
    // keep the larger buffers: they serve every smaller request too
    const smallest = scratchPool.reduce((m, x, i) => (x.byteLength < scratchPool[m].byteLength ? i : m), 0)
    if (scratchPool[smallest].byteLength >= b.byteLength) return
    scratchPool.splice(smallest, 1)
  }
  scratchPool.push(b)
}

class File implements SafetensorsFile {
  private closed = false
  private readonly sorted: string[]

  constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly size: number,
    readonly metadata: Record<string, string>,
    readonly tensors: Map<string, TensorEntry>,
    readonly dataStart: number,
  ) {
    this.sorted = [...tensors.keys()].sort()
  }

  names(): string[] { return [...this.sorted] }

  private entry(name: string): TensorEntry {
    if (this.closed) throw new AmalgamError('IO', `${this.path}: file is closed (reading tensor "${name}")`)
    const t = this.tensors.get(name)
    if (!t) throw new AmalgamError('NOT_FOUND', `${this.path}: no tensor named "${name}"`)
    return t
  }

  async readRaw(name: string): Promise<Uint8Array> {
    const t = this.entry(name)
    const out = freshBytes(t.end - t.begin)
    await readFully(this.fh, out, this.dataStart + t.begin, this.path)
    return out
  }

  async readRawInto(name: string, target: Uint8Array): Promise<Uint8Array> {
    const t = this.entry(name)
    const n = t.end - t.begin
    if (target.byteLength < n) throw new AmalgamError('BAD_REQUEST', `${this.path}: tensor "${name}" needs ${n} bytes, target has ${target.byteLength}`)
    const view = target.subarray(0, n)
    await readFully(this.fh, view, this.dataStart + t.begin, this.path)
    return view
  }

  async readF32(name: string): Promise<Float32Array> {
    const t = this.floatEntry(name)
    return this.readF32Into(name, new Float32Array((t.end - t.begin) / DTYPE_BYTES[t.dtype]))
  }

  async readF32Into(name: string, out: Float32Array): Promise<Float32Array> {
    const t = this.floatEntry(name)
    const n = t.end - t.begin
    const count = n / DTYPE_BYTES[t.dtype]
    if (out.length < count) throw new AmalgamError('BAD_REQUEST', `${this.path}: tensor "${name}" has ${count} values, output buffer holds ${out.length}`)
    const dst = out.length === count ? out : out.subarray(0, count)
    if (t.dtype === 'F32') {
      // read straight into the result's memory: no staging copy
      await readFully(this.fh, new Uint8Array(dst.buffer, dst.byteOffset, n), this.dataStart + t.begin, this.path)
      return dst
    }
    // staging buffers are pooled so that consecutive reads do not fault in fresh memory each time
    const buf = takeScratch(n)
    try {
      const view = buf.subarray(0, n)
      await readFully(this.fh, view, this.dataStart + t.begin, this.path)
      return decodeIntoF32(view, t.dtype, dst)
    } finally {
      giveScratch(buf)
    }
  }

  sampleBlocks(name: string, spec: BlockSpec, out: Float32Array): void {
    const t = this.floatEntry(name)
    const count = (t.end - t.begin) / DTYPE_BYTES[t.dtype]
    const need = blockLayout(count, spec).total
    if (out.length < need) throw new AmalgamError('BAD_REQUEST', `${this.path}: the block sample of "${name}" needs ${need} values, output buffer holds ${out.length}`)
    const addon = kernelAddon()
    if (addon && (t.dtype === 'F32' || t.dtype === 'BF16')) {
      addon.sampleMapped(this.fh.fd, this.dataStart + t.begin, t.dtype === 'F32' ? 0 : 1, count, spec.block, spec.runs, spec.run, spec.seed, out)
      return
    }
    // without the addon (or for F16/F64): the whole tensor, read synchronously
    const bytes = freshBytes(t.end - t.begin)
    readFullySync(this.fh.fd, bytes, this.dataStart + t.begin, this.path)
    sampleBlocksOf(decodeIntoF32(bytes, t.dtype, new Float32Array(count)), spec, out)
  }

  private floatEntry(name: string): TensorEntry {
    const t = this.entry(name)
    if (!isFloatDType(t.dtype)) {
      throw new AmalgamError('BAD_REQUEST', `${this.path}: tensor "${name}" is ${t.dtype}; integer and bool tensors cannot be read as float32 (copy them with readRaw)`)
    }
    return t
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.fh.close()
  }
}

const isFloatDType = (d: DType): boolean => d === 'F32' || d === 'F16' || d === 'BF16' || d === 'F64'

/** Bytes of one stored tensor. */
export const tensorBytes = (t: { dtype: DType; shape: number[] }): number => t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype]
