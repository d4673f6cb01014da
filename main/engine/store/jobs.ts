// Durable job records. The queue itself lives in memory; this table exists so that after a crash
// the engine knows which jobs were in flight and which folders they may have left half-written
// (an export's target lies outside the workspace, so startup cleanup must be told where to look).
// owner_pid lets a second process (the CLI beside the app) open the same workspace without
// declaring the first one's live jobs dead.
import type { Db } from './db'

export interface JobRow { id: string; kind: string; experimentId: string | null; status: string; target: string | null; ownerPid: number; error: string | null; createdAt: string; endedAt: string | null }

export type IsAlive = (pid: number) => boolean

export const pidAlive: IsAlive = (pid) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export class JobStore {
  constructor(private readonly db: Db) {}

  insert(id: string, kind: string, experimentId: string | null, target: string | null, ownerPid = process.pid): void {
    this.db.prepare(`INSERT INTO jobs (id, kind, experiment_id, status, target, owner_pid, created_at) VALUES (?, ?, ?, 'queued', ?, ?, ?)`)
      .run(id, kind, experimentId, target, ownerPid, new Date().toISOString())
  }

  setStatus(id: string, status: string, error: string | null = null): void {
    const ended = status === 'done' || status === 'failed' || status === 'cancelled' ? new Date().toISOString() : null
    this.db.prepare('UPDATE jobs SET status = ?, error = ?, ended_at = coalesce(?, ended_at) WHERE id = ?').run(status, error, ended, id)
  }

  get(id: string): JobRow | null {
    const r = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Record<string, unknown> | undefined
    return r ? toRow(r) : null
  }

  unfinished(): JobRow[] {
    return (this.db.prepare(`SELECT * FROM jobs WHERE status IN ('queued','running') ORDER BY created_at`).all() as Array<Record<string, unknown>>).map(toRow)
  }
}

function toRow(r: Record<string, unknown>): JobRow {
  return {
    id: r.id as string, kind: r.kind as string, experimentId: (r.experiment_id as string | null) ?? null, status: r.status as string,
    target: (r.target as string | null) ?? null, ownerPid: r.owner_pid as number, error: (r.error as string | null) ?? null,
    createdAt: r.created_at as string, endedAt: (r.ended_at as string | null) ?? null,
  }
}
