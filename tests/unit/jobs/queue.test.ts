import { describe, expect, it } from 'vitest'
import { fileURLToPath } from 'node:url'
import type { EngineEvents } from '#common/contract'
import { JobQueue } from '../../../main/engine/jobs/queue'
import { StageEta } from '../../../main/engine/jobs/eta'
import { createTaskRunner } from '../../../main/engine/jobs/runner'
import { throwIfCancelled } from '../../../main/engine/util/task'

const TASKS = fileURLToPath(new URL('./fixtures/tasks.ts', import.meta.url))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function recorder() {
  const events: Array<{ name: keyof EngineEvents; payload: any }> = []
  const emit = (name: keyof EngineEvents, payload: any) => { events.push({ name, payload }) }
  return { events, emit: emit as ConstructorParameters<typeof JobQueue>[0]['emit'] }
}

describe('JobQueue', () => {
  it('runs one heavy job at a time, light jobs beside them', async () => {
    const { emit } = recorder()
    const q = new JobQueue({ emit })
    let active = 0
    let maxActive = 0
    const heavy = () => ({ kind: 'merge' as const, run: async () => { active++; maxActive = Math.max(maxActive, active); await sleep(30); active-- } })
    const a = q.enqueue(heavy())
    const b = q.enqueue(heavy())
    let lightRanDuringHeavy = false
    const c = q.enqueue({ kind: 'bench', heavy: false, run: async () => { lightRanDuringHeavy = active > 0 } })
    expect(q.get(b.jobId)!.status).toBe('queued')
    await Promise.all([a.done, b.done, c.done])
    expect(maxActive).toBe(1)
    expect(lightRanDuringHeavy).toBe(true)
    expect(q.list().every((j) => j.status === 'done')).toBe(true)
  })

  it('emits progress with stage, fraction and an ETA, streams logs, reports failures', async () => {
    const { events, emit } = recorder()
    const q = new JobQueue({ emit, progressIntervalMs: 0 })
    const { jobId, done } = q.enqueue({
      kind: 'merge', experimentId: 'e1',
      run: async (ctx) => {
        ctx.log?.('hello')
        for (let i = 1; i <= 4; i++) { ctx.progress?.('merge', i / 4); await sleep(300) }
        throw new Error('disk full')
      },
    })
    const o = await done
    expect(o.status).toBe('failed')
    expect(o.error!.message).toBe('disk full')
    const progress = events.filter((e) => e.name === 'job.progress').map((e) => e.payload)
    expect(progress.map((p) => p.stage)).toContain('merge')
    expect(progress.some((p) => typeof p.etaSeconds === 'number' && p.etaSeconds > 0)).toBe(true)
    expect(events.find((e) => e.name === 'job.log')!.payload).toEqual({ jobId, line: 'hello' })
    expect(events.at(-1)).toEqual({ name: 'job.done', payload: { jobId, experimentId: 'e1', status: 'failed', error: { code: 'INTERNAL', message: 'disk full' } } })
  })

  it('cancels queued jobs without running them and running jobs cooperatively', async () => {
    const { emit } = recorder()
    const q = new JobQueue({ emit })
    const finished: string[] = []
    let steps = 0
    const a = q.enqueue({
      kind: 'merge',
      run: async (ctx) => { for (;;) { throwIfCancelled(ctx); steps++; await sleep(5) } },
      finish: (o) => { finished.push(`a:${o.status}`) },
    })
    let bRan = false
    const b = q.enqueue({ kind: 'merge', run: async () => { bRan = true }, finish: (o) => { finished.push(`b:${o.status}`) } })
    expect(q.cancel(b.jobId)).toBe(true)
    await sleep(30)
    expect(q.cancel(a.jobId)).toBe(true)
    expect((await a.done).status).toBe('cancelled')
    expect((await b.done).status).toBe('cancelled')
    expect(bRan).toBe(false)
    expect(steps).toBeGreaterThan(0)
    expect(finished.sort()).toEqual(['a:cancelled', 'b:cancelled'])
    expect(q.cancel(a.jobId)).toBe(false)
    expect(() => q.cancel('nope')).toThrow(/no job/)
  })

  it('a job that finishes while being cancelled still counts as cancelled', async () => {
    const q = new JobQueue({ emit: recorder().emit })
    const { jobId, done } = q.enqueue({ kind: 'merge', run: async () => { await sleep(20); return 1 } })
    await sleep(5)
    q.cancel(jobId)
    expect((await done).status).toBe('cancelled')
  })

  it('StageEta extrapolates the current stage and resets on a new stage', () => {
    let now = 0
    const eta = new StageEta(() => now)
    expect(eta.update('merge', 0)).toBeNull()
    now = 1000
    expect(eta.update('merge', 0.25)).toBeCloseTo(3, 9)
    now = 2000
    expect(eta.update('merge', 0.5)).toBeCloseTo(2, 9)
    // a new stage starts its own clock from where it is first reported
    expect(eta.update('eval', 0.5)).toBeNull()
    now = 3000
    expect(eta.update('eval', 0.75)).toBeCloseTo(1, 9)
    expect(eta.update('eval', 1)).toBe(0)
  })
})

describe('task runners', () => {
  it('child: runs a task in another process, forwarding progress and logs', async () => {
    const runner = createTaskRunner('child')
    const seen: string[] = []
    const r = await runner.run<{ doubled: number[]; pid: number }>({ module: TASKS, export: 'echo' }, { value: [1, 2, 3] }, {
      progress: (s, f, m) => seen.push(`${s}:${f}:${m}`), log: (l) => seen.push(l),
    })
    expect(r.doubled).toEqual([2, 4, 6])
    expect(r.pid).not.toBe(process.pid)
    expect(seen).toEqual(['work:0.5:half', 'echo says hi'])
  })

  it('child: errors keep their code and message', async () => {
    await expect(createTaskRunner('child').run({ module: TASKS, export: 'fails' }, {}, {})).rejects.toMatchObject({ code: 'BAD_PARAM', message: 'fixture: scaling_factor must be ≥ 0' })
  })

  it('child: cooperative cancel stops the task; a task that ignores cancel is killed', async () => {
    const runner = createTaskRunner('child', { killGraceMs: 300 })
    const ac = new AbortController()
    const p = runner.run({ module: TASKS, export: 'cooperative' }, { steps: 1000, ms: 10 }, { signal: ac.signal, progress: (_s, f) => { if (f > 0.01) ac.abort() } })
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED' })

    const ac2 = new AbortController()
    const logs: string[] = []
    let pid = 0
    const killer = createTaskRunner('child', { killGraceMs: 300, onSpawn: (c) => { pid = c.pid! } })
    const t0 = Date.now()
    const p2 = killer.run({ module: TASKS, export: 'stubborn' }, { ms: 20_000 }, { signal: ac2.signal, log: (l) => logs.push(l), progress: () => setTimeout(() => ac2.abort(), 50) })
    await expect(p2).rejects.toMatchObject({ code: 'CANCELLED' })
    expect(Date.now() - t0).toBeLessThan(10_000)
    expect(logs.some((l) => /killing its process/.test(l))).toBe(true)
    expect(() => process.kill(pid, 0)).toThrow()
  })

  it('inline: same contract in this process', async () => {
    const r = await createTaskRunner('inline').run<{ pid: number; doubled: number[] }>({ module: TASKS, export: 'echo' }, { value: [4] }, {})
    expect(r).toEqual({ doubled: [8], pid: process.pid })
  })
})
