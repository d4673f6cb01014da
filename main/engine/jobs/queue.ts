// The job queue of the engine host: heavy jobs (merges, evaluations, exports) run one at a time
// by default because each can use all cores and several GB; light jobs start at once. Progress
// and log lines are forwarded as engine events; cancel aborts the job's signal (the job's runner
// decides whether that is cooperative or a kill).
import { randomUUID } from 'node:crypto'
import type { EngineEvents } from '#common/contract'
import type { JobInfo } from '#common/types'
import { AmalgamError, CancelledError, toWireError, type WireError } from '#common/errors'
import type { TaskCtx } from '../util/task'
import { StageEta } from './eta'

export type JobStatus = 'done' | 'failed' | 'cancelled'
export interface JobCtx extends TaskCtx { signal: AbortSignal; jobId: string }
export interface JobOutcome<T> { status: JobStatus; value?: T; error?: WireError }

export interface JobSpec<T> {
  kind: JobInfo['kind']
  experimentId?: string
  /** heavy jobs share the concurrency limit; light ones (similarity of a tiny pool …) do not */
  heavy?: boolean
  run(ctx: JobCtx): Promise<T>
  /** bookkeeping after the run settles (DB status, cleanup), awaited before job.done is emitted */
  finish?(outcome: JobOutcome<T>): Promise<void> | void
}

export type Emit = <E extends keyof EngineEvents>(name: E, payload: EngineEvents[E]) => void

interface Entry {
  info: JobInfo
  spec: JobSpec<unknown>
  ac: AbortController
  eta: StageEta
  lastEmit: number
  settled: Promise<JobOutcome<unknown>>
  resolve(o: JobOutcome<unknown>): void
}

export interface JobQueueOptions { emit: Emit; concurrency?: number; keepFinished?: number; progressIntervalMs?: number }

export class JobQueue {
  private readonly emit: Emit
  private readonly concurrency: number
  private readonly keepFinished: number
  private readonly progressIntervalMs: number
  private readonly waiting: Entry[] = []
  private readonly running = new Map<string, Entry>()
  private readonly finished: Entry[] = []
  private runningHeavy = 0

  constructor(o: JobQueueOptions) {
    this.emit = o.emit
    this.concurrency = o.concurrency ?? 1
    this.keepFinished = o.keepFinished ?? 50
    this.progressIntervalMs = o.progressIntervalMs ?? 100
  }

  enqueue<T>(spec: JobSpec<T>, id: string = randomUUID()): { jobId: string; done: Promise<JobOutcome<T>> } {
    let resolve!: (o: JobOutcome<unknown>) => void
    const settled = new Promise<JobOutcome<unknown>>((r) => { resolve = r })
    const e: Entry = {
      info: { id, kind: spec.kind, experimentId: spec.experimentId, status: 'queued', stage: 'queued', fraction: 0, etaSeconds: null },
      spec: spec as JobSpec<unknown>, ac: new AbortController(), eta: new StageEta(), lastEmit: 0, settled, resolve,
    }
    this.waiting.push(e)
    this.pump()
    return { jobId: id, done: settled as Promise<JobOutcome<T>> }
  }

  list(): JobInfo[] {
    return [...this.running.values(), ...this.waiting, ...this.finished].map((e) => ({ ...e.info }))
  }

  get(jobId: string): JobInfo | null {
    const e = this.find(jobId)
    return e ? { ...e.info } : null
  }

  /** Resolves when the job has settled and its finish() has run. */
  wait(jobId: string): Promise<JobOutcome<unknown>> {
    const e = this.find(jobId)
    if (!e) throw new AmalgamError('NOT_FOUND', `no job with id ${jobId}`)
    return e.settled
  }

  cancel(jobId: string): boolean {
    const e = this.find(jobId)
    if (!e) throw new AmalgamError('NOT_FOUND', `no job with id ${jobId}`)
    if (e.info.status === 'queued') {
      this.waiting.splice(this.waiting.indexOf(e), 1)
      e.ac.abort()
      void this.settle(e, { status: 'cancelled', error: new CancelledError(`job ${jobId}`).toWire() })
      return true
    }
    if (e.info.status !== 'running') return false
    e.ac.abort()
    this.setStage(e, 'cancelling', e.info.fraction, 'cancel requested', true)
    return true
  }

  /** Cancels everything (engine shutdown) and waits for the jobs to settle. */
  async shutdown(): Promise<void> {
    const all = [...this.waiting, ...this.running.values()]
    for (const e of all) this.cancel(e.info.id)
    await Promise.all(all.map((e) => e.settled))
  }

  async idle(): Promise<void> {
    while (this.waiting.length || this.running.size) {
      await Promise.race([...this.running.values(), ...this.waiting].map((e) => e.settled))
    }
  }

  private find(id: string): Entry | undefined {
    return this.running.get(id) ?? this.waiting.find((e) => e.info.id === id) ?? this.finished.find((e) => e.info.id === id)
  }

  private pump(): void {
    for (let i = 0; i < this.waiting.length;) {
      const e = this.waiting[i]!
      const heavy = e.spec.heavy ?? true
      if (heavy && this.runningHeavy >= this.concurrency) { i++; continue }
      this.waiting.splice(i, 1)
      if (heavy) this.runningHeavy++
      void this.start(e, heavy)
    }
  }

  private async start(e: Entry, heavy: boolean): Promise<void> {
    this.running.set(e.info.id, e)
    e.info.status = 'running'
    e.info.startedAt = new Date().toISOString()
    this.setStage(e, 'starting', 0, undefined, true)
    const ctx: JobCtx = {
      jobId: e.info.id,
      signal: e.ac.signal,
      progress: (stage, fraction, message) => this.setStage(e, stage, fraction, message, false),
      log: (line) => this.emit('job.log', { jobId: e.info.id, line }),
    }
    let outcome: JobOutcome<unknown>
    try {
      const value = await e.spec.run(ctx)
      // A job that finished while its cancel was in flight still honours the cancel: the user
      // asked for no result, and finish() removes what it wrote.
      outcome = e.ac.signal.aborted ? { status: 'cancelled', error: new CancelledError(`job ${e.info.id}`).toWire() } : { status: 'done', value }
    } catch (err) {
      outcome = e.ac.signal.aborted
        ? { status: 'cancelled', error: new CancelledError(`job ${e.info.id}`).toWire() }
        : { status: 'failed', error: toWireError(err) }
    }
    // still listed as running while finish() records the outcome, so cancel/get find it
    await this.settle(e, outcome)
    if (heavy) this.runningHeavy--
    this.pump()
  }

  private async settle(e: Entry, outcome: JobOutcome<unknown>): Promise<void> {
    try {
      await e.spec.finish?.(outcome)
    } catch (err) {
      // Bookkeeping failed (disk full while writing eval.json …): the job did not succeed.
      if (outcome.status === 'done') outcome = { status: 'failed', error: toWireError(err) }
      this.emit('job.log', { jobId: e.info.id, line: `finishing the job failed: ${toWireError(err).message}` })
    }
    this.running.delete(e.info.id)
    e.info.status = outcome.status
    e.info.stage = outcome.status
    e.info.fraction = outcome.status === 'done' ? 1 : e.info.fraction
    e.info.etaSeconds = null
    this.finished.unshift(e)
    if (this.finished.length > this.keepFinished) this.finished.length = this.keepFinished
    this.emit('job.done', { jobId: e.info.id, experimentId: e.info.experimentId, status: outcome.status, error: outcome.error })
    e.resolve(outcome)
  }

  private setStage(e: Entry, stage: string, fraction: number, message: string | undefined, force: boolean): void {
    const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0))
    const stageChanged = stage !== e.info.stage
    if (e.ac.signal.aborted && stage !== 'cancelling') stage = 'cancelling'
    e.info.stage = stage
    e.info.fraction = f
    e.info.etaSeconds = e.eta.update(stage, f)
    const now = performance.now()
    // Per-tensor progress can be thousands of calls a second; the UI needs ~10.
    if (!force && !stageChanged && f < 1 && now - e.lastEmit < this.progressIntervalMs) return
    e.lastEmit = now
    this.emit('job.progress', { jobId: e.info.id, experimentId: e.info.experimentId, stage, fraction: f, etaSeconds: e.info.etaSeconds, message })
  }
}
