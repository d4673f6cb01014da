// Model pools (a base plus fine-tuned models, referenced in place, never copied) and the
// fingerprints of their files.
import type { PoolRecord } from '#common/types'
import { AmalgamError } from '#common/errors'
import type { Db } from './db'

export interface PoolFile { model: string; path: string; size: number; sha256: string | null }
export interface NewPool { id: string; name: string; base: string; models: string[]; benchmark?: string | null; config?: unknown; files?: PoolFile[] }

interface Row { id: string; name: string; base: string; models_json: string; benchmark: string | null; created_at: string; config_json: string | null }

export class PoolStore {
  constructor(private readonly db: Db) {}

  insert(p: NewPool): PoolRecord {
    const createdAt = new Date().toISOString()
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO pools (id, name, base, models_json, benchmark, created_at, config_json) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(p.id, p.name, p.base, JSON.stringify(p.models), p.benchmark ?? null, createdAt, p.config === undefined ? null : JSON.stringify(p.config))
      this.setFiles(p.id, p.files ?? [])
    })()
    return this.get(p.id)
  }

  get(id: string): PoolRecord {
    const r = this.db.prepare('SELECT * FROM pools WHERE id = ?').get(id) as Row | undefined
    if (!r) throw new AmalgamError('NOT_FOUND', `no model pool with id ${id}`)
    return toRecord(r)
  }

  list(): PoolRecord[] {
    return (this.db.prepare('SELECT * FROM pools ORDER BY created_at, id').all() as Row[]).map(toRecord)
  }

  /** A pool with exactly this base and model list (order matters: it is the task order). */
  findByMembers(base: string, models: string[]): PoolRecord | null {
    const r = this.db.prepare('SELECT * FROM pools WHERE base = ? AND models_json = ? ORDER BY created_at LIMIT 1').get(base, JSON.stringify(models)) as Row | undefined
    return r ? toRecord(r) : null
  }

  findByBenchmark(benchmark: string): PoolRecord | null {
    const r = this.db.prepare('SELECT * FROM pools WHERE benchmark = ? ORDER BY created_at LIMIT 1').get(benchmark) as Row | undefined
    return r ? toRecord(r) : null
  }

  config(id: string): unknown {
    const r = this.db.prepare('SELECT config_json FROM pools WHERE id = ?').get(id) as { config_json: string | null } | undefined
    return r?.config_json ? JSON.parse(r.config_json) : null
  }

  files(id: string): PoolFile[] {
    return this.db.prepare('SELECT model, path, size, sha256 FROM pool_files WHERE pool_id = ? ORDER BY rowid').all(id) as PoolFile[]
  }

  setFiles(id: string, files: PoolFile[]): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM pool_files WHERE pool_id = ?').run(id)
      const ins = this.db.prepare('INSERT OR REPLACE INTO pool_files (pool_id, model, path, size, sha256) VALUES (?, ?, ?, ?, ?)')
      for (const f of files) ins.run(id, f.model, f.path, f.size, f.sha256)
    })()
  }

  count(): number { return (this.db.prepare('SELECT count(*) AS n FROM pools').get() as { n: number }).n }
}

function toRecord(r: Row): PoolRecord {
  return { id: r.id, name: r.name, base: r.base, models: JSON.parse(r.models_json) as string[], createdAt: r.created_at, benchmark: r.benchmark }
}
