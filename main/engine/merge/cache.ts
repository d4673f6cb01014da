// The cache a merge method sees (MergeJob.cache): values that are expensive to compute from the
// pool and do not depend on the method's own parameters — activation statistics, task-vector
// statistics, global thresholds — stored under content keys so that a second method (or a second
// run) on the same pool reuses them.
//
// How a method builds a key: cacheKey(<namespace version>, <content keys of the inputs>, <every
// setting the value depends on>). The first part is a version string owned by the code that writes
// the namespace ('ties-thresholds-v1'); bump it when the computation changes and old entries are
// never read again. The inputs are named by content, never by path: cache.poolKey() for a value
// of the whole ordered pool, cache.baseKey() / cache.modelKey(i) for one member (these come from
// the sha256 of the model files). Then every parameter, seed and data identity (MergeData
// .fingerprint) that changes the value, and nothing that does not, so methods with different
// parameters still share. A value is JSON (putJson) or one typed array (putF64 / putF32); a value
// made of several arrays is one entry: a JSON index under the key plus arrays under (key, part),
// read after the index. Every stored item carries a header with a checksum, so a truncated or
// damaged item reads as a miss (and the method recomputes and overwrites it); a failed write never
// fails the merge. runMerge counts lookups per entry into the run's diagnostics ('cache').
import { createHash } from 'node:crypto'
import { AmalgamError } from '#common/errors'

export type CachedArray = Float64Array | Float32Array

/** Content keys of the pool members, in pool order (hex strings from modelContentKey). */
export interface PoolContentKeys { base: string; models: string[] }

export interface MergeCache {
  /** key of the ordered pool: base then models in order */
  poolKey(): string
  /** key of the base model θ0 */
  baseKey(): string
  /** key of fine-tuned model i (0-based, pool order) */
  modelKey(i: number): string
  getJson<T>(ns: string, key: string): Promise<T | null>
  putJson(ns: string, key: string, value: unknown): Promise<void>
  /** `part` names one array of a multi-array entry whose index is the JSON under (ns, key) */
  getF64(ns: string, key: string, part?: string): Promise<Float64Array | null>
  putF64(ns: string, key: string, data: Float64Array, part?: string): Promise<void>
  getF32(ns: string, key: string, part?: string): Promise<Float32Array | null>
  putF32(ns: string, key: string, data: Float32Array, part?: string): Promise<void>
}

/** sha256 over the parts, each followed by a NUL (the same scheme as the workspace ContentCache). */
export function cacheKey(...parts: Array<string | number | boolean>): string {
  const h = createHash('sha256')
  for (const p of parts) h.update(String(p)).update('\u0000')
  return h.digest('hex')
}

/** A model's content key from the sha256 of its weight files (order-free, paths never enter). */
export function modelContentKey(fileSha256: string[]): string {
  if (fileSha256.length === 0) throw new AmalgamError('BAD_REQUEST', 'a model content key needs the sha256 of at least one file')
  for (const s of fileSha256) if (!/^[0-9a-f]{64}$/.test(s)) throw new AmalgamError('BAD_REQUEST', `model content key: ${JSON.stringify(s)} is not a sha256 hex digest`)
  return cacheKey('model-content-v1', ...[...fileSha256].sort())
}

// ---- bytes on a store -------------------------------------------------------------------------

/** Where encoded items live: the workspace ContentCache (disk) or a memory map. */
export interface ByteStore {
  getBytes(ns: string, name: string, ext: string): Promise<Uint8Array | null>
  putBytes(ns: string, name: string, ext: string, data: Uint8Array): Promise<void>
}

const NS_RE = /^[a-z0-9-]+$/
const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/
const PART_RE = /^[a-z0-9-]{1,64}$/

function itemName(ns: string, key: string, part?: string): string {
  if (!NS_RE.test(ns)) throw new AmalgamError('INTERNAL', `merge cache: namespace ${JSON.stringify(ns)} must be lowercase letters, digits and dashes`)
  if (!KEY_RE.test(key)) throw new AmalgamError('INTERNAL', `merge cache: key ${JSON.stringify(key)} must be letters, digits, _ and - (use cacheKey())`)
  if (part === undefined) return key
  if (!PART_RE.test(part)) throw new AmalgamError('INTERNAL', `merge cache: part ${JSON.stringify(part)} must be lowercase letters, digits and dashes`)
  return `${key}.${part}`
}

// Blob layout: 64-byte header — magic "AMLGBLOB", u32 format 1, u32 dtype (1 f32, 2 f64), f64
// element count, 8 zero bytes, sha256 of the payload — then the little-endian payload.
const MAGIC = 'AMLGBLOB'
const HEADER = 64
const DTYPE = { f32: 1, f64: 2 } as const
type Dt = keyof typeof DTYPE

export function encodeBlob(data: CachedArray): Uint8Array {
  const payload = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  const out = new Uint8Array(HEADER + payload.byteLength)
  const dv = new DataView(out.buffer)
  for (let i = 0; i < 8; i++) out[i] = MAGIC.charCodeAt(i)
  dv.setUint32(8, 1, true)
  dv.setUint32(12, data instanceof Float64Array ? DTYPE.f64 : DTYPE.f32, true)
  dv.setFloat64(16, data.length, true)
  out.set(createHash('sha256').update(payload).digest(), 32)
  out.set(payload, HEADER)
  return out
}

/** The array, or null for anything that is not an intact blob of that dtype. */
export function decodeBlob(bytes: Uint8Array, dt: 'f64'): Float64Array | null
export function decodeBlob(bytes: Uint8Array, dt: 'f32'): Float32Array | null
export function decodeBlob(bytes: Uint8Array, dt: Dt): CachedArray | null {
  if (bytes.byteLength < HEADER) return null
  for (let i = 0; i < 8; i++) if (bytes[i] !== MAGIC.charCodeAt(i)) return null
  const dv = new DataView(bytes.buffer, bytes.byteOffset, HEADER)
  if (dv.getUint32(8, true) !== 1 || dv.getUint32(12, true) !== DTYPE[dt]) return null
  const n = dv.getFloat64(16, true), width = dt === 'f64' ? 8 : 4
  if (!Number.isSafeInteger(n) || n < 0 || bytes.byteLength !== HEADER + n * width) return null
  const payload = bytes.subarray(HEADER)
  const sum = createHash('sha256').update(payload).digest()
  for (let i = 0; i < 32; i++) if (sum[i] !== bytes[32 + i]) return null
  const copy = new Uint8Array(payload.byteLength)
  copy.set(payload)
  return dt === 'f64' ? new Float64Array(copy.buffer) : new Float32Array(copy.buffer)
}

// JSON layout: one line "amalgam-cache-json-1 <sha256 of the JSON text>", then the JSON text.
const JSON_TAG = 'amalgam-cache-json-1'

export function encodeJson(value: unknown): Uint8Array {
  const text = JSON.stringify(value)
  if (text === undefined) throw new AmalgamError('INTERNAL', 'merge cache: value is not JSON-serialisable')
  return Buffer.from(`${JSON_TAG} ${createHash('sha256').update(text).digest('hex')}\n${text}`, 'utf8')
}

export function decodeJson<T>(bytes: Uint8Array): T | null {
  const s = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
  const nl = s.indexOf('\n')
  if (nl < 0) return null
  const [tag, sum] = s.slice(0, nl).split(' ')
  const text = s.slice(nl + 1)
  if (tag !== JSON_TAG || sum !== createHash('sha256').update(text).digest('hex')) return null
  try { return JSON.parse(text) as T } catch { return null }
}

// ---- the cache over a store -------------------------------------------------------------------

class StoreMergeCache implements MergeCache {
  constructor(private readonly store: ByteStore, private readonly keys: PoolContentKeys) {
    for (const k of [keys.base, ...keys.models]) if (!/^[0-9a-f]{64}$/.test(k)) throw new AmalgamError('BAD_REQUEST', `merge cache: pool content key ${JSON.stringify(k)} is not a hex sha256 (use modelContentKey)`)
  }
  poolKey(): string { return cacheKey('pool-content-v1', this.keys.base, ...this.keys.models) }
  baseKey(): string { return this.keys.base }
  modelKey(i: number): string {
    const k = this.keys.models[i]
    if (k === undefined) throw new AmalgamError('INTERNAL', `merge cache: no model ${i} in a pool of ${this.keys.models.length}`)
    return k
  }
  async getJson<T>(ns: string, key: string): Promise<T | null> {
    const b = await this.store.getBytes(ns, itemName(ns, key), 'mjson')
    return b ? decodeJson<T>(b) : null
  }
  async putJson(ns: string, key: string, value: unknown): Promise<void> { await this.store.putBytes(ns, itemName(ns, key), 'mjson', encodeJson(value)) }
  async getF64(ns: string, key: string, part?: string): Promise<Float64Array | null> {
    const b = await this.store.getBytes(ns, itemName(ns, key, part), 'f64')
    return b ? decodeBlob(b, 'f64') : null
  }
  async putF64(ns: string, key: string, data: Float64Array, part?: string): Promise<void> { await this.store.putBytes(ns, itemName(ns, key, part), 'f64', encodeBlob(data)) }
  async getF32(ns: string, key: string, part?: string): Promise<Float32Array | null> {
    const b = await this.store.getBytes(ns, itemName(ns, key, part), 'f32')
    return b ? decodeBlob(b, 'f32') : null
  }
  async putF32(ns: string, key: string, data: Float32Array, part?: string): Promise<void> { await this.store.putBytes(ns, itemName(ns, key, part), 'f32', encodeBlob(data)) }
}

/** The workspace's cache folder (any ContentCache: <dir>/<ns>/<key>[.<part>].<ext>, atomic writes). */
export function diskMergeCache(store: ByteStore, keys: PoolContentKeys): MergeCache {
  return new StoreMergeCache(store, keys)
}

/** Items in memory, least recently used dropped beyond `maxBytes` (default 1 GiB). */
export class MemoryByteStore implements ByteStore {
  private readonly items = new Map<string, Uint8Array>()
  private bytes = 0
  constructor(readonly maxBytes = 1 << 30) {}
  async getBytes(ns: string, name: string, ext: string): Promise<Uint8Array | null> {
    const id = `${ns}/${name}.${ext}`
    const b = this.items.get(id)
    if (!b) return null
    this.items.delete(id); this.items.set(id, b)
    return b
  }
  async putBytes(ns: string, name: string, ext: string, data: Uint8Array): Promise<void> {
    const id = `${ns}/${name}.${ext}`
    const old = this.items.get(id)
    if (old) { this.items.delete(id); this.bytes -= old.byteLength }
    if (data.byteLength > this.maxBytes) return
    // a private copy: the caller's buffer may be reused or mutated after the put
    this.items.set(id, Uint8Array.from(data))
    this.bytes += data.byteLength
    for (const [k, v] of this.items) {
      if (this.bytes <= this.maxBytes) break
      this.items.delete(k); this.bytes -= v.byteLength
    }
  }
  sizeBytes(): number { return this.bytes }
}

/** An in-process cache (amalgam bench: many methods on one pool in one process). */
export function memoryMergeCache(keys: PoolContentKeys, opts: { maxBytes?: number } = {}): MergeCache {
  return new StoreMergeCache(new MemoryByteStore(opts.maxBytes), keys)
}

// ---- per-run counting -------------------------------------------------------------------------

export interface CacheCounts { hits: number; misses: number }
export interface CacheReport extends CacheCounts {
  byNamespace: Record<string, CacheCounts>
  /** writes that failed (the run went on without caching those values) */
  writeFailures?: number
  firstWriteError?: string
}

/**
 * The view runMerge hands a method: lookups counted per entry (a JSON or array under (ns, key));
 * a part (ns, key, part) belongs to the entry looked up last under (ns, key), and a missing part
 * turns that entry's hit into a miss. Write errors are counted, never thrown.
 */
export class CountingMergeCache implements MergeCache {
  private readonly ns = new Map<string, CacheCounts>()
  private readonly entries = new Map<string, boolean>()
  private writeFailures = 0
  private firstWriteError: string | undefined
  constructor(private readonly inner: MergeCache) {}
  poolKey(): string { return this.inner.poolKey() }
  baseKey(): string { return this.inner.baseKey() }
  modelKey(i: number): string { return this.inner.modelKey(i) }

  private counts(ns: string): CacheCounts {
    let c = this.ns.get(ns)
    if (!c) { c = { hits: 0, misses: 0 }; this.ns.set(ns, c) }
    return c
  }
  private note<T>(ns: string, key: string, part: string | undefined, v: T | null): T | null {
    const id = `${ns}\u0000${key}`, c = this.counts(ns)
    const prior = part === undefined ? undefined : this.entries.get(id)
    if (prior === undefined) {
      if (v === null) c.misses++
      else c.hits++
      this.entries.set(id, v !== null)
    } else if (prior && v === null) {
      c.hits--; c.misses++
      this.entries.set(id, false)
    }
    return v
  }
  private async write(what: string, f: () => Promise<void>): Promise<void> {
    try { await f() } catch (e) {
      this.writeFailures++
      this.firstWriteError ??= `${what}: ${e instanceof Error ? e.message : String(e)}`
    }
  }

  async getJson<T>(ns: string, key: string): Promise<T | null> { return this.note(ns, key, undefined, await this.inner.getJson<T>(ns, key)) }
  async getF64(ns: string, key: string, part?: string): Promise<Float64Array | null> { return this.note(ns, key, part, await this.inner.getF64(ns, key, part)) }
  async getF32(ns: string, key: string, part?: string): Promise<Float32Array | null> { return this.note(ns, key, part, await this.inner.getF32(ns, key, part)) }
  putJson(ns: string, key: string, value: unknown): Promise<void> { return this.write(`${ns}/${key}`, () => this.inner.putJson(ns, key, value)) }
  putF64(ns: string, key: string, data: Float64Array, part?: string): Promise<void> { return this.write(`${ns}/${key}`, () => this.inner.putF64(ns, key, data, part)) }
  putF32(ns: string, key: string, data: Float32Array, part?: string): Promise<void> { return this.write(`${ns}/${key}`, () => this.inner.putF32(ns, key, data, part)) }

  report(): CacheReport {
    let hits = 0, misses = 0
    for (const c of this.ns.values()) { hits += c.hits; misses += c.misses }
    const r: CacheReport = { hits, misses, byNamespace: Object.fromEntries([...this.ns].map(([k, v]) => [k, { ...v }])) }
    if (this.writeFailures) { r.writeFailures = this.writeFailures; r.firstWriteError = this.firstWriteError }
    return r
  }
}
