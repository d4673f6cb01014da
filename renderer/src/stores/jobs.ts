import { defineStore } from 'pinia'
import type { JobInfo } from '#common/types'
import type { EngineEvents, RunRequest } from '#common/contract'
import { desk, engine, errorText } from './client'

export interface JobView extends JobInfo {
  label: string
  message?: string
  log: string[]
  error?: string
  /** wall-clock ms of the last progress event, to show stalls honestly */
  lastUpdate: number
}

const MAX_LOG = 2000
type DoneListener = (e: EngineEvents['job.done']) => void

export const useJobsStore = defineStore('jobs', {
  state: () => ({
    jobs: {} as Record<string, JobView>,
    order: [] as string[],
    error: null as string | null,
    subscribed: false,
    doneListeners: [] as DoneListener[],
  }),
  getters: {
    list: (s) => s.order.map((id) => s.jobs[id]).filter(Boolean),
    active: (s) => s.order.map((id) => s.jobs[id]).filter((j) => j && (j.status === 'running' || j.status === 'queued')),
  },
  actions: {
    upsert(j: Partial<JobView> & { id: string }) {
      const prev = this.jobs[j.id]
      if (!prev) {
        this.jobs[j.id] = { kind: 'merge', status: 'queued', stage: 'queued', fraction: 0, label: j.id, log: [], lastUpdate: Date.now(), ...j } as JobView
        this.order.unshift(j.id)
      } else Object.assign(prev, j)
      return this.jobs[j.id]
    },
    /** Subscribe once to the engine's job events and load what is already running. */
    async init() {
      if (!this.subscribed) {
        this.subscribed = true
        const c = engine()
        c.on('job.progress', (e) => {
          const j = this.upsert({ id: e.jobId })
          if (j.status === 'queued') j.status = 'running'
          j.stage = e.stage
          j.fraction = e.fraction
          j.etaSeconds = e.etaSeconds ?? null
          if (e.message !== undefined) j.message = e.message
          if (e.experimentId) j.experimentId = e.experimentId
          j.lastUpdate = Date.now()
          this.syncTaskbar()
        })
        c.on('job.log', (e) => {
          const j = this.upsert({ id: e.jobId })
          j.log.push(e.line)
          if (j.log.length > MAX_LOG) j.log.splice(0, j.log.length - MAX_LOG)
        })
        c.on('job.done', (e) => {
          const j = this.upsert({ id: e.jobId })
          j.status = e.status
          if (e.status === 'done') j.fraction = 1
          j.stage = e.status
          j.message = undefined
          j.etaSeconds = null
          if (e.error) j.error = `${e.error.message} (${e.error.code})`
          if (e.experimentId) j.experimentId = e.experimentId
          this.syncTaskbar()
          for (const f of this.doneListeners) f(e)
        })
      }
      try {
        // the engine lists every job since it started; finished ones from before this page (or from
        // another workspace) belong to History, so only active or already-known jobs are shown
        for (const j of await engine().call('jobs.list')) {
          const prev = this.jobs[j.id]
          if (!prev && j.status !== 'running' && j.status !== 'queued') continue
          this.upsert({ ...j, label: prev?.label ?? labelFor(j) })
        }
      } catch (e) { this.error = errorText(e) }
      this.syncTaskbar()
    },
    onDone(fn: DoneListener) { this.doneListeners.push(fn) },
    /** forget finished jobs (another workspace was opened); active ones stay visible */
    resetFinished() {
      this.order = this.order.filter((id) => {
        const keep = this.jobs[id] && (this.jobs[id].status === 'running' || this.jobs[id].status === 'queued')
        if (!keep) delete this.jobs[id]
        return keep
      })
    },
    async start(req: RunRequest) {
      this.error = null
      try {
        const r = await engine().call('runs.start', req)
        this.upsert({ id: r.jobId, experimentId: r.experimentId, kind: 'merge', label: req.name || req.method, startedAt: new Date().toISOString() })
        return r
      } catch (e) { this.error = errorText(e); return null }
    },
    async sweep(req: RunRequest & { grid: Record<string, unknown[]> }) {
      this.error = null
      try {
        const rs = await engine().call('runs.sweep', req)
        const keys = Object.keys(req.grid)
        rs.forEach((r, i) => this.upsert({ id: r.jobId, experimentId: r.experimentId, kind: 'merge', label: `${req.name || req.method} · ${keys.join('×')} ${i + 1}/${rs.length}` }))
        return rs
      } catch (e) { this.error = errorText(e); return null }
    },
    async exportExperiment(p: { id: string; out: string; dtype?: 'f32' | 'bf16' | 'f16'; shardBytes?: number; task?: string }) {
      this.error = null
      try {
        const r = await engine().call('experiments.export', p)
        this.upsert({ id: r.jobId, kind: 'export', experimentId: p.id, label: `export${p.task ? ` ${p.task}` : ''} → ${p.out}` })
        return r
      } catch (e) { this.error = errorText(e); return null }
    },
    async cancel(jobId: string) {
      try {
        const r = await engine().call('jobs.cancel', { jobId })
        const j = this.jobs[jobId]
        if (r.cancelled && j && j.status !== 'done' && j.status !== 'failed') j.stage = 'cancelling…'
        return r.cancelled
      } catch (e) { this.error = errorText(e); return false }
    },
    syncTaskbar() {
      const act = this.active
      const f = act.length ? act.reduce((a, j) => a + (j.fraction || 0), 0) / act.length : null
      void desk().setProgress(f).catch(() => {})
    },
  },
})

function labelFor(j: JobInfo): string {
  return j.kind === 'export' ? `export ${j.experimentId ?? ''}` : j.experimentId ? `${j.kind} ${j.experimentId}` : `${j.kind} ${j.id}`
}
