// SHA-256 of checkpoint files, computed lazily and remembered by (path, size, mtime): hashing a
// 7B model is tens of seconds, and recipes need the hash of every input on every run.
import { stat } from 'node:fs/promises'
import { AmalgamError } from '#common/errors'
import type { Db } from './db'

export type HashFn = (path: string) => Promise<string>

export class FileHashCache {
  constructor(private readonly db: Db, private readonly hash: HashFn) {}

  async sha256(path: string): Promise<{ sha256: string; size: number }> {
    let st
    try {
      st = await stat(path)
    } catch (e) {
      throw new AmalgamError('NOT_FOUND', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
    }
    const hit = this.db.prepare('SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ms = ?').get(path, st.size, st.mtimeMs) as { sha256: string } | undefined
    if (hit) return { sha256: hit.sha256, size: st.size }
    const sha256 = await this.hash(path)
    this.db.prepare('INSERT OR REPLACE INTO file_hashes (path, size, mtime_ms, sha256) VALUES (?, ?, ?, ?)').run(path, st.size, st.mtimeMs, sha256)
    return { sha256, size: st.size }
  }

  cached(path: string): string | null {
    const hit = this.db.prepare('SELECT sha256 FROM file_hashes WHERE path = ?').get(path) as { sha256: string } | undefined
    return hit?.sha256 ?? null
  }
}
