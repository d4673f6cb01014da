// A workspace: one folder the user owns, holding the history database and the run folders.
// Checkpoints are referenced in place, never copied.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import type { WorkspaceInfo } from '#common/types'
import { AmalgamError } from '#common/errors'
import { openDb, schemaVersion, type Db } from '../store/db'
import { ExperimentStore } from '../store/experiments'
import { PoolStore } from '../store/pools'
import { JobStore, pidAlive, type IsAlive, type JobRow } from '../store/jobs'
import { FileHashCache, type HashFn } from '../store/file-hashes'
import { ContentCache } from './cache'
import { RUN_FILE_NAMES, runFiles, workspacePaths, type WorkspacePaths } from './paths'

export const INTERRUPTED_REASON = 'engine stopped while running'

export interface OpenWorkspaceOptions {
  create?: boolean
  hash: HashFn
  /** tests inject this to simulate "the process that owned the job is gone" */
  isAlive?: IsAlive
}

export interface RecoveryReport { failedExperiments: string[]; failedJobs: string[]; removedPaths: string[] }

export class Workspace {
  readonly paths: WorkspacePaths
  readonly experiments: ExperimentStore
  readonly pools: PoolStore
  readonly jobs: JobStore
  readonly hashes: FileHashCache
  readonly cache: ContentCache
  private closed = false

  constructor(readonly db: Db, paths: WorkspacePaths, hash: HashFn) {
    this.paths = paths
    this.experiments = new ExperimentStore(db)
    this.pools = new PoolStore(db)
    this.jobs = new JobStore(db)
    this.hashes = new FileHashCache(db, hash)
    this.cache = new ContentCache(paths.cache)
  }

  get dir(): string { return this.paths.dir }
  get name(): string { return basename(this.paths.dir) }
  run(id: string) { return runFiles(this.paths.runs, id) }

  async info(): Promise<WorkspaceInfo> {
    return {
      dir: this.dir, name: this.name, schemaVersion: schemaVersion(this.db),
      experiments: this.experiments.count(), pools: this.pools.count(), cacheBytes: await this.cache.sizeBytes(),
    }
  }

  /**
   * Ends what a dead process left behind: jobs and experiments still 'queued'/'running' whose owner
   * is gone are marked failed, their half-written model folders and temp dirs are removed. Jobs of a
   * live process (another Amalgam on the same workspace) are left alone.
   */
  recover(isAlive: IsAlive = pidAlive, reason = INTERRUPTED_REASON): RecoveryReport {
    const removedPaths: string[] = []
    const live = new Set<string>()
    const dead: JobRow[] = []
    for (const j of this.jobs.unfinished()) {
      if (j.ownerPid !== process.pid && !isAlive(j.ownerPid)) dead.push(j)
      else if (j.experimentId) live.add(j.experimentId)
    }
    for (const j of dead) this.jobs.setStatus(j.id, 'failed', reason)
    const failedExperiments = this.experiments.unfinishedIds().filter((id) => !live.has(id))
    this.experiments.markFailed(failedExperiments, reason)
    for (const j of dead) {
      if (j.kind === 'export' && j.target) removedPaths.push(...removePartialSiblings(j.target))
    }
    for (const id of failedExperiments) {
      const model = this.run(id).model
      if (existsSync(model)) { rmSync(model, { recursive: true, force: true }); removedPaths.push(model) }
    }
    removedPaths.push(...this.sweepRunTemps(live))
    return { failedExperiments, failedJobs: dead.map((j) => j.id), removedPaths }
  }

  /** Anything in runs/<id>/ that is not a known run file is a writer's temp dir left by a kill. */
  private sweepRunTemps(live: Set<string>): string[] {
    const removed: string[] = []
    if (!existsSync(this.paths.runs)) return removed
    for (const id of readdirSync(this.paths.runs)) {
      if (live.has(id)) continue
      const dir = join(this.paths.runs, id)
      if (!statSync(dir).isDirectory()) continue
      for (const name of readdirSync(dir)) {
        if (RUN_FILE_NAMES.has(name)) continue
        rmSync(join(dir, name), { recursive: true, force: true })
        removed.push(join(dir, name))
      }
    }
    return removed
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }
}

/**
 * Temp folders an atomic folder writer leaves beside `target` when killed before its rename.
 * Matches `.<name>.*`, `<name>.tmp*`, `<name>.partial*` and `.tmp-<name>*` so it does not depend on one
 * writer's exact naming; a completed `target` itself is kept (the rename is the commit).
 */
export function removePartialSiblings(target: string): string[] {
  const parent = dirname(target)
  const base = basename(target)
  const removed: string[] = []
  let names: string[]
  try {
    names = readdirSync(parent)
  } catch {
    return removed
  }
  for (const n of names) {
    if (n === base) continue
    if (n.startsWith(`.${base}.`) || n.startsWith(`${base}.tmp`) || n.startsWith(`${base}.partial`) || n.startsWith(`.tmp-${base}`)) {
      rmSync(join(parent, n), { recursive: true, force: true })
      removed.push(join(parent, n))
    }
  }
  return removed
}

export function openWorkspace(dir: string, opts: OpenWorkspaceOptions): Workspace {
  const paths = workspacePaths(dir)
  if (!existsSync(paths.db)) {
    if (!opts.create) throw new AmalgamError('NOT_FOUND', `${paths.dir} is not an Amalgam workspace (no amalgam.db); create it first`)
    if (existsSync(paths.dir) && !statSync(paths.dir).isDirectory()) throw new AmalgamError('BAD_REQUEST', `${paths.dir} exists and is not a folder`)
  }
  for (const d of [paths.dir, paths.models, paths.runs, paths.cache]) mkdirSync(d, { recursive: true })
  const db = openDb(paths.db)
  return new Workspace(db, paths, opts.hash)
}
