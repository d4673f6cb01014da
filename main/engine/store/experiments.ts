// Experiment records: the history table, its tags, and the one query the history view runs.
import type { ExperimentRecord, ExperimentStatus, HistoryQuery } from '#common/types'
import { AmalgamError } from '#common/errors'
import type Database from 'better-sqlite3'
import type { Db } from './db'

export interface NewExperiment {
  id: string
  name: string
  method: string
  params: Record<string, unknown>
  seed: number
  poolId: string
  benchmark: string | null
  engineVersion: string
  backend: string
  recipeYaml: string
  tags?: string[]
  createdAt?: string
  artifactDir?: string | null
}

export interface ExperimentPatch {
  name?: string
  status?: ExperimentStatus
  error?: string | null
  params?: Record<string, unknown>
  startedAt?: string | null
  endedAt?: string | null
  durationMs?: number | null
  backend?: string
  metrics?: Record<string, number> | null
  average?: number | null
  normalized?: number | null
  peakRssBytes?: number | null
  note?: string
  starred?: boolean
  artifactDir?: string | null
  keptTasks?: string[] | null
  recipeYaml?: string
}

interface Row {
  id: string; name: string; method: string; params_json: string; seed: number; pool_id: string
  benchmark: string | null; status: ExperimentStatus; error: string | null; created_at: string
  started_at: string | null; ended_at: string | null; duration_ms: number | null; engine_version: string
  backend: string; metrics_json: string | null; average: number | null; normalized: number | null
  peak_rss_bytes: number | null; recipe_yaml: string; artifact_dir: string | null; note: string; starred: number
  tags: string | null; kept_tasks_json: string | null
}

/** Sortable columns by their ExperimentRecord name; `metric:<task>` sorts by one task's accuracy. */
const SORT_COLUMNS: Record<string, string> = {
  createdAt: 'e.created_at', name: 'e.name', method: 'e.method', status: 'e.status', seed: 'e.seed',
  average: 'e.average', normalized: 'e.normalized', durationMs: 'e.duration_ms', startedAt: 'e.started_at',
  endedAt: 'e.ended_at', peakRssBytes: 'e.peak_rss_bytes', starred: 'e.starred',
}
export const SORT_KEYS = Object.keys(SORT_COLUMNS)
const NOT_NULL_SORTS = new Set(['createdAt', 'name', 'method', 'status', 'seed', 'starred'])

const PATCH_COLUMNS: Record<keyof ExperimentPatch, [string, (v: unknown) => unknown]> = {
  name: ['name', (v) => v],
  status: ['status', (v) => v],
  error: ['error', (v) => v],
  params: ['params_json', (v) => JSON.stringify(v)],
  startedAt: ['started_at', (v) => v],
  endedAt: ['ended_at', (v) => v],
  durationMs: ['duration_ms', (v) => (v == null ? null : Math.round(v as number))],
  backend: ['backend', (v) => v],
  metrics: ['metrics_json', (v) => (v == null ? null : JSON.stringify(v))],
  average: ['average', (v) => v],
  normalized: ['normalized', (v) => v],
  peakRssBytes: ['peak_rss_bytes', (v) => v],
  note: ['note', (v) => v],
  starred: ['starred', (v) => (v ? 1 : 0)],
  artifactDir: ['artifact_dir', (v) => v],
  keptTasks: ['kept_tasks_json', (v) => (v == null ? null : JSON.stringify(v))],
  recipeYaml: ['recipe_yaml', (v) => v],
}

const SELECT = `SELECT e.*, (SELECT group_concat(tag, char(31)) FROM experiment_tags t WHERE t.experiment_id = e.id) AS tags FROM experiments e`

export class ExperimentStore {
  // better-sqlite3 compiles a statement on every prepare(); history queries reuse a handful.
  private readonly statements = new Map<string, Database.Statement>()
  constructor(private readonly db: Db) {}

  private st(sql: string): Database.Statement {
    let s = this.statements.get(sql)
    if (!s) {
      // search text with many words makes new shapes; keep the cache bounded
      if (this.statements.size > 256) this.statements.clear()
      s = this.db.prepare(sql)
      this.statements.set(sql, s)
    }
    return s
  }

  insert(x: NewExperiment): ExperimentRecord {
    const createdAt = x.createdAt ?? new Date().toISOString()
    this.db.transaction(() => {
      this.st(`INSERT INTO experiments (id, name, method, params_json, seed, pool_id, benchmark, status, created_at,
          engine_version, backend, recipe_yaml, artifact_dir) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)`)
        .run(x.id, x.name, x.method, JSON.stringify(x.params), x.seed, x.poolId, x.benchmark, createdAt,
          x.engineVersion, x.backend, x.recipeYaml, x.artifactDir ?? null)
      this.writeTags(x.id, x.tags ?? [])
    })()
    return this.get(x.id)
  }

  get(id: string): ExperimentRecord {
    const r = this.st(`${SELECT} WHERE e.id = ?`).get(id) as Row | undefined
    if (!r) throw new AmalgamError('NOT_FOUND', `no experiment with id ${id}`)
    return toRecord(r)
  }

  has(id: string): boolean { return this.st('SELECT 1 FROM experiments WHERE id = ?').get(id) !== undefined }

  recipe(id: string): string {
    const r = this.st('SELECT recipe_yaml FROM experiments WHERE id = ?').get(id) as { recipe_yaml: string } | undefined
    if (!r) throw new AmalgamError('NOT_FOUND', `no experiment with id ${id}`)
    return r.recipe_yaml
  }

  update(id: string, patch: ExperimentPatch, tags?: string[]): ExperimentRecord {
    const sets: string[] = []
    const values: unknown[] = []
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue
      const col = PATCH_COLUMNS[k as keyof ExperimentPatch]
      if (!col) throw new AmalgamError('BAD_REQUEST', `experiment field ${k} cannot be updated`)
      sets.push(`${col[0]} = ?`)
      values.push(col[1](v))
    }
    this.db.transaction(() => {
      if (!this.has(id)) throw new AmalgamError('NOT_FOUND', `no experiment with id ${id}`)
      if (sets.length) this.st(`UPDATE experiments SET ${sets.join(', ')} WHERE id = ?`).run(...values, id)
      if (tags) this.writeTags(id, tags)
    })()
    return this.get(id)
  }

  unfinishedIds(): string[] {
    return (this.st(`SELECT id FROM experiments WHERE status IN ('running','queued')`).all() as Array<{ id: string }>).map((r) => r.id)
  }

  /** Ends experiments that can never finish now (their process died), keeping any end time already set. */
  markFailed(ids: string[], reason: string): void {
    const now = new Date().toISOString()
    const st = this.st(`UPDATE experiments SET status = 'failed', error = ?, ended_at = coalesce(ended_at, ?) WHERE id = ? AND status IN ('running','queued')`)
    this.db.transaction(() => { for (const id of ids) st.run(reason, now, id) })()
  }

  count(): number { return (this.st('SELECT count(*) AS n FROM experiments').get() as { n: number }).n }

  list(q: HistoryQuery = {}): { total: number; rows: ExperimentRecord[] } {
    const where: string[] = []
    const args: unknown[] = []
    if (q.method) { where.push('e.method = ?'); args.push(q.method) }
    if (q.status) { where.push('e.status = ?'); args.push(q.status) }
    if (q.starred !== undefined) { where.push('e.starred = ?'); args.push(q.starred ? 1 : 0) }
    if (q.tag) { where.push('e.id IN (SELECT experiment_id FROM experiment_tags WHERE tag = ?)'); args.push(q.tag) }
    for (const token of (q.search ?? '').trim().split(/\s+/).filter(Boolean)) {
      const like = `%${token.replace(/[\\%_]/g, (c) => '\\' + c)}%`
      where.push(`(e.name LIKE ? ESCAPE '\\' OR e.method LIKE ? ESCAPE '\\' OR e.note LIKE ? ESCAPE '\\' OR e.id LIKE ? ESCAPE '\\'
        OR e.params_json LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM experiment_tags t WHERE t.experiment_id = e.id AND t.tag LIKE ? ESCAPE '\\'))`)
      args.push(like, like, like, like, like, like)
    }
    const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : ''
    const total = (this.st(`SELECT count(*) AS n FROM experiments e ${whereSql}`).get(...args) as { n: number }).n
    const order = orderBy(q.sort, q.desc)
    const limit = clampInt(q.limit ?? 100, 1, 10_000, 'limit')
    const offset = clampInt(q.offset ?? 0, 0, Number.MAX_SAFE_INTEGER, 'offset')
    const rows = this.st(`${SELECT} ${whereSql} ${order.sql} LIMIT ? OFFSET ?`).all(...args, ...order.args, limit, offset) as Row[]
    return { total, rows: rows.map(toRecord) }
  }

  private writeTags(id: string, tags: string[]): void {
    this.st('DELETE FROM experiment_tags WHERE experiment_id = ?').run(id)
    const ins = this.st('INSERT OR IGNORE INTO experiment_tags (experiment_id, tag) VALUES (?, ?)')
    for (const t of tags) {
      const tag = t.trim()
      if (!tag) continue
      if (tag.length > 100) throw new AmalgamError('BAD_PARAM', `tag "${tag.slice(0, 20)}…" is longer than 100 characters`)
      ins.run(id, tag)
    }
  }
}

function orderBy(sort: string | undefined, desc: boolean | undefined): { sql: string; args: unknown[] } {
  // Newest first unless asked otherwise; NULL metrics (failed runs) always sink to the bottom.
  const dir = (desc ?? sort === undefined) ? 'DESC' : 'ASC'
  const key = sort ?? 'createdAt'
  if (key.startsWith('metric:')) {
    const task = key.slice('metric:'.length)
    if (!task) throw new AmalgamError('BAD_PARAM', 'sort "metric:" needs a task name, e.g. metric:mnist')
    const expr = `json_extract(e.metrics_json, ?)`
    const path = `$."${task.replace(/"/g, '')}"`
    return { sql: `ORDER BY ${expr} IS NULL, ${expr} ${dir}, e.id`, args: [path, path] }
  }
  const col = SORT_COLUMNS[key]
  if (!col) throw new AmalgamError('BAD_PARAM', `sort key ${key} is not one of ${SORT_KEYS.join(', ')}, metric:<task>`)
  // NOT NULL columns skip the nulls-last term so SQLite can walk an index instead of sorting.
  if (NOT_NULL_SORTS.has(key)) return { sql: `ORDER BY ${col} ${dir}, e.id ${dir}`, args: [] }
  return { sql: `ORDER BY ${col} IS NULL, ${col} ${dir}, e.id ${dir}`, args: [] }
}

function clampInt(v: number, min: number, max: number, field: string): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new AmalgamError('BAD_PARAM', `${field} must be an integer in [${min}, ${max}], got ${v}`)
  return v
}

function toRecord(r: Row): ExperimentRecord {
  return {
    id: r.id, name: r.name, method: r.method, params: JSON.parse(r.params_json) as Record<string, unknown>, seed: r.seed,
    poolId: r.pool_id, benchmark: r.benchmark, status: r.status, error: r.error, createdAt: r.created_at,
    startedAt: r.started_at, endedAt: r.ended_at, durationMs: r.duration_ms, engineVersion: r.engine_version,
    backend: r.backend, metrics: r.metrics_json ? (JSON.parse(r.metrics_json) as Record<string, number>) : null,
    average: r.average, normalized: r.normalized, peakRssBytes: r.peak_rss_bytes,
    tags: r.tags ? r.tags.split('\u001f').sort() : [], note: r.note, starred: r.starred === 1, artifactDir: r.artifact_dir,
    keptTasks: r.kept_tasks_json ? (JSON.parse(r.kept_tasks_json) as string[]) : null,
  }
}
