// The safetensors header: strict parsing (formats.md §1.3) and byte-compatible building (§1.2).
// Kept apart from file I/O so the reader, the streaming writer and the tests share one definition.
import type { DType } from '#common/types'
import { AmalgamError } from '#common/errors'
import { DTYPE_BYTES, isDType } from './dtype'

/** Reference readers refuse headers above this (safetensors `MAX_HEADER_SIZE`). */
export const MAX_HEADER_BYTES = 100_000_000

/** One tensor of a header; begin/end are offsets into the data buffer (as in the file). */
export interface TensorEntry { dtype: DType; shape: number[]; begin: number; end: number }

export interface ParsedHeader {
  metadata: Record<string, string>
  /** whether the file had a `__metadata__` key at all */
  hasMetadata: boolean
  tensors: Map<string, TensorEntry>
  /** header length N (the JSON plus its padding) */
  headerBytes: number
  /** absolute file offset of the data buffer: 8 + N */
  dataStart: number
}

const bad = (file: string, what: string): AmalgamError => new AmalgamError('BAD_FILE', `${file}: ${what}`)

/**
 * Check the 8-byte prefix against the file size and return N. Everything that can be decided
 * before reading the header is decided here, so a corrupt length never triggers a huge read.
 */
export function parseHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.byteLength < 8) throw bad(file, `not a safetensors file: ${fileSize} bytes is shorter than the 8-byte header length`)
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true)
  if (n > BigInt(MAX_HEADER_BYTES)) throw bad(file, `header length ${n} bytes is over the 100 MB cap (${MAX_HEADER_BYTES} bytes)`)
  const len = Number(n)
  if (8 + len > fileSize) throw bad(file, `header length ${len} bytes runs beyond the end of the file (${fileSize} bytes)`)
  return len
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Parse and validate the N header bytes of a file of `fileSize` bytes. */
export function parseHeader(headerBuf: Uint8Array, fileSize: number, file: string): ParsedHeader {
  const headerBytes = headerBuf.byteLength
  const dataStart = 8 + headerBytes
  if (headerBytes === 0 || headerBuf[0] !== 0x7b /* { */) throw bad(file, 'header does not start with "{" (not a JSON object)')
  let text: string
  try { text = utf8.decode(headerBuf) } catch { throw bad(file, 'header is not valid UTF-8') }
  let json: unknown
  try { json = JSON.parse(text) } catch (e) { throw bad(file, `header is not valid JSON (${(e as Error).message})`) }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw bad(file, 'header is not a JSON object')
  const dup = firstDuplicateTopLevelKey(text)
  if (dup !== null) throw bad(file, `tensor "${dup}" appears twice in the header (duplicate names are not allowed)`)

  const obj = json as Record<string, unknown>
  let metadata: Record<string, string> = {}
  const hasMetadata = Object.hasOwn(obj, '__metadata__')
  if (hasMetadata) metadata = parseMetadata(obj.__metadata__, file)

  const tensors = new Map<string, TensorEntry>()
  for (const [name, raw] of Object.entries(obj)) {
    if (name === '__metadata__') continue
    tensors.set(name, parseEntry(name, raw, file))
  }
  checkLayout(tensors, fileSize - dataStart, file)
  return { metadata, hasMetadata, tensors, headerBytes, dataStart }
}

function parseMetadata(raw: unknown, file: string): Record<string, string> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad(file, '__metadata__ is not a string → string object')
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string') throw bad(file, `__metadata__ value for key "${k}" is a ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}, not a string`)
    out[k] = v
  }
  return out
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

function parseEntry(name: string, raw: unknown, file: string): TensorEntry {
  const where = `tensor "${name}"`
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad(file, `${where}: entry is not an object`)
  const e = raw as Record<string, unknown>
  if (!isDType(e.dtype)) {
    throw bad(file, `${where}: unknown or unsupported dtype ${JSON.stringify(e.dtype)} (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)`)
  }
  if (!Array.isArray(e.shape) || !e.shape.every(isCount)) throw bad(file, `${where}: shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`)
  const off = e.data_offsets
  if (!Array.isArray(off) || off.length !== 2 || !isCount(off[0]) || !isCount(off[1])) {
    throw bad(file, `${where}: data_offsets ${JSON.stringify(off)} is not a pair of non-negative integers`)
  }
  const [begin, end] = off as [number, number]
  if (end < begin) throw bad(file, `${where}: data_offsets [${begin}, ${end}] end before they begin`)
  const shape = e.shape as number[]
  const want = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[e.dtype]
  if (!Number.isSafeInteger(want)) throw bad(file, `${where}: shape [${shape}] is too large`)
  if (want !== end - begin) {
    throw bad(file, `${where}: shape [${shape}] × ${DTYPE_BYTES[e.dtype]} bytes (${e.dtype}) = ${want} bytes, but data_offsets span ${end - begin} bytes`)
  }
  return { dtype: e.dtype, shape: [...shape], begin, end }
}

/** Offsets must tile the data buffer exactly: from 0, no overlap, no hole, nothing after the last. */
function checkLayout(tensors: Map<string, TensorEntry>, dataBytes: number, file: string): void {
  const order = [...tensors.entries()].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end)
  let prevEnd = 0
  let prevName: string | null = null
  for (const [name, t] of order) {
    if (t.begin < prevEnd) throw bad(file, `tensor "${name}" (bytes ${t.begin}–${t.end}) overlaps tensor "${prevName}" (ends at ${prevEnd})`)
    if (t.begin > prevEnd) {
      throw bad(file, prevName === null
        ? `tensor "${name}" starts at byte ${t.begin} of the data buffer, leaving a hole before it (the first tensor must start at 0)`
        : `hole of ${t.begin - prevEnd} bytes between tensor "${prevName}" (ends at ${prevEnd}) and tensor "${name}" (starts at ${t.begin})`)
    }
    if (t.end > dataBytes) throw bad(file, `tensor "${name}" ends at byte ${t.end} of the data buffer, beyond the end of the file (data buffer is ${dataBytes} bytes)`)
    prevEnd = t.end
    prevName = name
  }
  if (prevEnd < dataBytes) {
    throw bad(file, `${dataBytes - prevEnd} trailing bytes after the last tensor${prevName === null ? '' : ` "${prevName}"`} (data buffer is ${dataBytes} bytes, tensors cover ${prevEnd})`)
  }
}

/**
 * JSON.parse keeps the last of duplicate keys silently, so duplicates are found by scanning the
 * (already validated) JSON text for the keys of the top-level object.
 */
function firstDuplicateTopLevelKey(text: string): string | null {
  const seen = new Set<string>()
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      const start = i
      i++
      while (i < text.length) {
        const d = text.charCodeAt(i)
        if (d === 0x5c /* \ */) i += 2
        else if (d === 0x22) break
        else i++
      }
      if (depth === 1) {
        let j = i + 1
        while (j < text.length && (text.charCodeAt(j) === 0x20 || text.charCodeAt(j) === 0x0a || text.charCodeAt(j) === 0x0d || text.charCodeAt(j) === 0x09)) j++
        if (text.charCodeAt(j) === 0x3a /* : */) {
          const key = JSON.parse(text.slice(start, i + 1)) as string
          if (seen.has(key)) return key
          seen.add(key)
        }
      }
    } else if (c === 0x7b || c === 0x5b) depth++
    else if (c === 0x7d || c === 0x5d) depth--
  }
  return null
}

// ---- building -------------------------------------------------------------------------------

export interface PlannedTensor { name: string; dtype: DType; shape: number[] }
export interface LaidOutTensor extends PlannedTensor { begin: number; end: number }

/** Rank of each dtype in the reference `Dtype` enum; layout sorts by it descending. */
const DTYPE_RANK: Record<DType, number> = { BOOL: 0, U8: 1, I8: 2, I16: 5, F16: 7, BF16: 8, I32: 9, F32: 11, F64: 12, I64: 13 }

/** Rust `String` ordering is by UTF-8 bytes; JS `<` is by UTF-16 units. They differ above U+FFFF. */
const utf8Compare = (a: string, b: string): number => (a === b ? 0 : Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')))

export interface BuiltHeader {
  /** 8-byte little-endian N followed by the padded JSON: the first 8 + N bytes of the file */
  bytes: Uint8Array
  /** tensors in file order with data-buffer offsets */
  layout: LaidOutTensor[]
  /** total size of the data buffer */
  dataBytes: number
}

/**
 * Lay out and serialise a header exactly as the reference writer (`prepare` in tensor.rs) does:
 * descending dtype rank then name, contiguous offsets from 0, compact JSON with `__metadata__`
 * first (omitted when `metadata` is undefined), padded with spaces to a multiple of 8.
 */
export function buildHeader(plan: readonly PlannedTensor[], metadata: Record<string, string> | undefined, file = 'safetensors'): BuiltHeader {
  const names = new Set<string>()
  for (const t of plan) {
    if (t.name === '__metadata__') throw bad(file, 'a tensor cannot be named "__metadata__"')
    if (names.has(t.name)) throw bad(file, `tensor "${t.name}" is listed twice`)
    names.add(t.name)
    if (!isDType(t.dtype)) throw bad(file, `tensor "${t.name}": unknown dtype ${JSON.stringify(t.dtype)}`)
    if (!Array.isArray(t.shape) || !t.shape.every(isCount)) throw bad(file, `tensor "${t.name}": shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`)
  }
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw bad(file, `__metadata__ value for key "${k}" is a ${typeof v}, not a string (JSON-encode structured values)`)
    }
  }
  const sorted = [...plan].sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || utf8Compare(a.name, b.name))
  let offset = 0
  const layout: LaidOutTensor[] = sorted.map((t) => {
    const n = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype]
    const e: LaidOutTensor = { name: t.name, dtype: t.dtype, shape: [...t.shape], begin: offset, end: offset + n }
    offset += n
    return e
  })
  // Object keys that look like array indices ("0", "12") would be reordered by JS, so the JSON is
  // assembled piece by piece instead of stringifying one object.
  const parts: string[] = []
  if (metadata !== undefined) {
    parts.push(`"__metadata__":{${Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`)
  }
  for (const t of layout) {
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${t.begin},${t.end}]}`)
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8')
  const n = Math.ceil(json.byteLength / 8) * 8
  if (n > MAX_HEADER_BYTES) throw bad(file, `header would be ${n} bytes, over the 100 MB cap`)
  const bytes = new Uint8Array(8 + n)
  new DataView(bytes.buffer).setBigUint64(0, BigInt(n), true)
  bytes.set(json, 8)
  bytes.fill(0x20, 8 + json.byteLength)
  return { bytes, layout, dataBytes: offset }
}
