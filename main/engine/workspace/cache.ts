// Content-addressed cache under <workspace>/cache/: statistics that are expensive to recompute
// (task-vector similarity and norms, per-tensor statistics) keyed by the sha256 of the inputs'
// content, never by path, so a renamed folder still hits and a re-saved model misses.
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../util/atomic'

export class ContentCache {
  constructor(readonly dir: string) {}

  static key(...parts: Array<string | number>): string {
    const h = createHash('sha256')
    for (const p of parts) h.update(String(p)).update('\u0000')
    return h.digest('hex')
  }

  private file(ns: string, key: string, ext: string): string {
    if (!/^[a-z0-9-]+$/.test(ns)) throw new Error(`cache namespace ${ns} must be lowercase letters, digits and dashes`)
    return join(this.dir, ns, `${key}.${ext}`)
  }

  async getJson<T>(ns: string, key: string): Promise<T | null> {
    try {
      return JSON.parse(await readFile(this.file(ns, key, 'json'), 'utf8')) as T
    } catch {
      return null
    }
  }

  async putJson(ns: string, key: string, value: unknown): Promise<void> {
    await mkdir(join(this.dir, ns), { recursive: true })
    await writeFileAtomic(this.file(ns, key, 'json'), JSON.stringify(value))
  }

  async getF32(ns: string, key: string): Promise<Float32Array | null> {
    try {
      const b = await readFile(this.file(ns, key, 'f32'))
      const out = new Float32Array(b.byteLength / 4)
      new Uint8Array(out.buffer).set(b)
      return out
    } catch {
      return null
    }
  }

  async putF32(ns: string, key: string, data: Float32Array): Promise<void> {
    await mkdir(join(this.dir, ns), { recursive: true })
    await writeFileAtomic(this.file(ns, key, 'f32'), new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
  }

  /** Raw bytes of `<ns>/<key>.<ext>`, or null when absent or unreadable (callers check the content). */
  async getBytes(ns: string, key: string, ext: string): Promise<Uint8Array | null> {
    try {
      return await readFile(this.file(ns, key, ext))
    } catch {
      return null
    }
  }

  async putBytes(ns: string, key: string, ext: string, data: Uint8Array): Promise<void> {
    await mkdir(join(this.dir, ns), { recursive: true })
    await writeFileAtomic(this.file(ns, key, ext), data)
  }

  async sizeBytes(): Promise<number> { return dirSize(this.dir) }

  async clear(): Promise<{ freedBytes: number }> {
    const freedBytes = await this.sizeBytes()
    await rm(this.dir, { recursive: true, force: true })
    await mkdir(this.dir, { recursive: true })
    return { freedBytes }
  }
}

async function dirSize(dir: string): Promise<number> {
  let total = 0
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  for (const e of entries) {
    const p = join(dir, e.name)
    if (e.isDirectory()) total += await dirSize(p)
    else if (e.isFile()) total += (await stat(p).catch(() => ({ size: 0 }))).size
  }
  return total
}
