// Shared state of the workspace services: the open workspace, the job queue, the task runner and
// the injected dependencies. One instance per engine host.
import { AmalgamError } from '#common/errors'
import { JobQueue, type Emit } from '../jobs/queue'
import { createTaskRunner, type RunnerKind, type TaskRunner } from '../jobs/runner'
import { defaultTaskRefs, defaultDeps, type ServiceDeps, type TaskRefs } from './deps'
import { openWorkspace, type Workspace } from '../workspace/workspace'
import { RecentWorkspaces } from '../workspace/recent'
import { appDataDir } from '../workspace/paths'
import type { IsAlive } from '../store/jobs'
import type { ChildProcess } from 'node:child_process'

export interface WorkspaceServicesOptions {
  emit: Emit
  /** open this workspace right away (the CLI's --workspace, AMALGAM_WORKSPACE or the default) */
  workspaceDir?: string
  /** create it when it does not exist (default true for workspaceDir) */
  create?: boolean
  /** where the recent-workspaces list lives (default: the OS app-data folder) */
  appDataDir?: string
  /** 'child' (default): heavy tasks run in a killable child process; 'inline': in this process */
  runner?: RunnerKind
  /** ms between a cancel message and SIGKILL of a job that ignores it */
  killGraceMs?: number
  /** heavy jobs at a time (default 1) */
  concurrency?: number
  deps?: Partial<ServiceDeps>
  tasks?: Partial<TaskRefs>
  /** tests: decide whether a recorded job owner is still alive */
  isAlive?: IsAlive
  /** tests: observe job processes */
  onSpawn?(child: ChildProcess): void
}

export class ServiceState {
  readonly emit: Emit
  readonly queue: JobQueue
  readonly runner: TaskRunner
  readonly deps: ServiceDeps
  readonly tasks: TaskRefs
  readonly recent: RecentWorkspaces
  private ws: Workspace | null = null

  constructor(readonly opts: WorkspaceServicesOptions) {
    this.emit = opts.emit
    this.queue = new JobQueue({ emit: opts.emit, concurrency: opts.concurrency })
    this.runner = createTaskRunner(opts.runner ?? 'child', { killGraceMs: opts.killGraceMs, onSpawn: opts.onSpawn })
    this.deps = { ...defaultDeps, ...opts.deps }
    this.tasks = { ...defaultTaskRefs(), ...opts.tasks }
    this.recent = new RecentWorkspaces(opts.appDataDir ?? appDataDir())
  }

  get current(): Workspace | null { return this.ws }

  workspace(): Workspace {
    if (!this.ws) throw new AmalgamError('BAD_REQUEST', 'no workspace is open; open or create one first (workspace.open)')
    return this.ws
  }

  /** Opens (or creates) a workspace, recovers what a dead process left, and makes it current. */
  async open(dir: string, create: boolean): Promise<Workspace> {
    if (this.queue.list().some((j) => j.status === 'running' || j.status === 'queued')) {
      throw new AmalgamError('BUSY', 'jobs are running in the current workspace; cancel them or wait before switching workspaces')
    }
    const ws = openWorkspace(dir, { create, hash: (p) => this.deps.hashFile(p) })
    let report
    try {
      report = ws.recover(this.opts.isAlive)
    } catch (e) {
      ws.close()
      throw e
    }
    this.ws?.close()
    this.ws = ws
    await this.recent.touch(ws.dir).catch(() => undefined)
    this.emit('workspace.changed', { dir: ws.dir })
    if (report.failedExperiments.length || report.failedJobs.length) {
      const n = report.failedExperiments.length
      this.emit('engine.restarted', {
        reason: `the engine stopped while ${n} experiment${n === 1 ? ' was' : 's were'} running (${report.failedJobs.length} job${report.failedJobs.length === 1 ? '' : 's'}); marked failed, ${report.removedPaths.length} partial folder${report.removedPaths.length === 1 ? '' : 's'} removed`,
      })
    }
    return ws
  }

  async close(): Promise<void> {
    await this.queue.shutdown()
    this.ws?.close()
    this.ws = null
  }
}
