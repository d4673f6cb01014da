// Opening the workspace database: WAL (readers never block the single writer, and a killed
// process leaves a consistent file), foreign keys on, migrations applied in one transaction each.
import Database from 'better-sqlite3'
import { AmalgamError } from '#common/errors'
import { MIGRATIONS, SCHEMA_VERSION, type Migration } from './migrations'

export type Db = Database.Database

export interface OpenDbOptions {
  readonly?: boolean
  /** stop at this schema version (tests build "older" databases with it) */
  migrateTo?: number
  migrations?: readonly Migration[]
}

export function openDb(file: string, opts: OpenDbOptions = {}): Db {
  let db: Db
  try {
    db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false })
  } catch (e) {
    throw new AmalgamError('IO', `cannot open workspace database ${file}: ${(e as Error).message}`)
  }
  try {
    // busy_timeout: a second process (CLI next to the app) waits for the writer instead of failing.
    db.pragma('busy_timeout = 5000')
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL')
      // NORMAL in WAL mode is still crash-safe (no corruption); a power cut may lose the last commit.
      db.pragma('synchronous = NORMAL')
    }
    db.pragma('foreign_keys = ON')
    if (!opts.readonly) migrate(db, file, opts.migrateTo ?? SCHEMA_VERSION, opts.migrations ?? MIGRATIONS)
    else checkVersion(db, file, opts.migrations ?? MIGRATIONS)
    return db
  } catch (e) {
    db.close()
    throw e
  }
}

export function schemaVersion(db: Db): number { return db.pragma('user_version', { simple: true }) as number }

function checkVersion(db: Db, file: string, migrations: readonly Migration[]): void {
  const v = schemaVersion(db)
  const latest = migrations[migrations.length - 1]!.version
  if (v > latest) {
    throw new AmalgamError('BAD_FILE', `${file} has schema version ${v}, newer than this Amalgam supports (${latest}); update Amalgam to open it`)
  }
}

function migrate(db: Db, file: string, target: number, migrations: readonly Migration[]): void {
  checkVersion(db, file, migrations)
  const current = schemaVersion(db)
  for (const m of migrations) {
    if (m.version <= current || m.version > target) continue
    const step = db.transaction(() => {
      db.exec(m.sql)
      db.pragma(`user_version = ${m.version}`)
    })
    try {
      step.immediate()
    } catch (e) {
      throw new AmalgamError('BAD_FILE', `${file}: migration to schema version ${m.version} (${m.description}) failed: ${(e as Error).message}`)
    }
  }
}

export function integrityCheck(db: Db): string {
  const rows = db.pragma('integrity_check') as Array<{ integrity_check: string }>
  return rows.map((r) => r.integrity_check).join('; ')
}
