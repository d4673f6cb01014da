// kill -9 of the engine host in the middle of a merge and of an export, then reopen: the
// database is intact, the job is failed with the reason, no partial folder is left.
import { afterEach, describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import Database from 'better-sqlite3'
import { makeTempDir, makeTinyPool, type TinyPool } from '../../fixtures/make-tiny-checkpoints'
import { createWorkspaceServices } from '../../../main/engine/services'
import { INTERRUPTED_REASON } from '../../../main/engine/workspace/workspace'
import { FAKE_EVALUATOR } from './fixtures/setup'

const HOST = fileURLToPath(new URL('./fixtures/host.ts', import.meta.url))
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href

interface Started { host: ChildProcess; lines: Array<Record<string, unknown>>; jobPids: number[] }

function startHost(args: string[]): Started {
  const host = spawn(process.execPath, ['--import', TSX, HOST, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const s: Started = { host, lines: [], jobPids: [] }
  let buf = ''
  host.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1)
      try {
        const o = JSON.parse(line) as Record<string, unknown>
        s.lines.push(o)
        if (typeof o.spawn === 'number') s.jobPids.push(o.spawn)
      } catch { /* not ours */ }
    }
  })
  host.stderr!.setEncoding('utf8').on('data', (d: string) => { s.lines.push({ stderr: d }) })
  return s
}

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now()
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const alive = (pid: number) => { try { process.kill(pid, 0); return true } catch { return false } }

async function killHard(s: Started): Promise<void> {
  const exited = new Promise((r) => s.host.once('exit', r))
  s.host.kill('SIGKILL')
  await exited
  // the job process notices its parent is gone (IPC disconnect) and exits on its own
  await until('job processes to exit', () => s.jobPids.every((p) => !alive(p)), 10_000)
}

let cleanup: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanup) await c(); cleanup = [] })

async function setup(): Promise<{ dir: string; appData: string; pool: TinyPool }> {
  const dir = await makeTempDir('amalgam-crash-ws-')
  const appData = await makeTempDir('amalgam-crash-app-')
  // more layers → more tensors → a merge long enough to be killed in the middle
  const pool = await makeTinyPool(2, { hidden: 8, layers: 4 })
  cleanup.push(() => pool.cleanup(), () => rm(dir, { recursive: true, force: true }), () => rm(appData, { recursive: true, force: true }))
  return { dir, appData, pool }
}

function integrity(dbFile: string): string {
  const db = new Database(dbFile, { readonly: true })
  try { return (db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join() } finally { db.close() }
}

async function reopen(dir: string, appData: string) {
  const events: Array<{ name: string; payload: unknown }> = []
  const svc = createWorkspaceServices({ emit: (name, payload) => { events.push({ name, payload }) }, workspaceDir: dir, appDataDir: appData, runner: 'inline', tasks: { evaluator: FAKE_EVALUATOR } })
  await svc.ready
  cleanup.unshift(() => svc.close())
  return { svc, events }
}

describe('crash safety (kill -9 of the engine host)', () => {
  it('in the middle of a merge: job failed with reason, no partial model, database intact', async () => {
    const { dir, appData, pool } = await setup()
    const s = startHost(['merge', dir, appData, pool.base, JSON.stringify(pool.models)])
    cleanup.push(async () => { if (s.host.exitCode === null) s.host.kill('SIGKILL') })
    await until('the merge to start', () => s.lines.some((l) => l.started), 60_000)
    const { experimentId, jobId } = s.lines.find((l) => l.started)!.started as { experimentId: string; jobId: string }
    const runDir = join(dir, 'runs', experimentId)
    // partial output on disk = truly in the middle of the merge
    await until('a partial model folder', () => existsSync(runDir) && readdirSync(runDir).some((n) => n.startsWith('model.tmp-')))
    await killHard(s)
    expect(readdirSync(runDir).some((n) => n.startsWith('model.tmp-'))).toBe(true)

    expect(integrity(join(dir, 'amalgam.db'))).toBe('ok')
    const { svc, events } = await reopen(dir, appData)
    const rec = await svc['experiments.get']({ id: experimentId }, { emit: () => undefined })
    expect(rec.status).toBe('failed')
    expect(rec.error).toBe(INTERRUPTED_REASON)
    expect(readdirSync(runDir).filter((n) => n !== 'log.txt' && n !== 'recipe.yaml')).toEqual([])
    expect(events.some((e) => e.name === 'engine.restarted' && /1 experiment was running/.test((e.payload as { reason: string }).reason))).toBe(true)
    const db = new Database(join(dir, 'amalgam.db'), { readonly: true })
    expect(db.prepare('SELECT status, error FROM jobs WHERE id = ?').get(jobId)).toEqual({ status: 'failed', error: INTERRUPTED_REASON })
    db.close()
  })

  it('in the middle of an export: job failed with reason, no partial folder, database intact', async () => {
    const { dir, appData, pool } = await setup()
    const outRoot = await makeTempDir('amalgam-crash-out-')
    cleanup.push(() => rm(outRoot, { recursive: true, force: true }))
    const out = join(outRoot, 'exported')
    const s = startHost(['export', dir, appData, pool.base, JSON.stringify(pool.models), out])
    cleanup.push(async () => { if (s.host.exitCode === null) s.host.kill('SIGKILL') })
    await until('the export to start', () => s.lines.some((l) => l.exporting || l.error), 60_000)
    const started = s.lines.find((l) => l.exporting)
    expect(started, JSON.stringify(s.lines.find((l) => l.error))).toBeTruthy()
    const { jobId, experimentId } = started!.exporting as { jobId: string; experimentId: string }
    await until('a partial export folder', () => readdirSync(outRoot).some((n) => n.startsWith('exported.tmp-')))
    await killHard(s)

    expect(integrity(join(dir, 'amalgam.db'))).toBe('ok')
    const { svc } = await reopen(dir, appData)
    expect(readdirSync(outRoot)).toEqual([])
    const db = new Database(join(dir, 'amalgam.db'), { readonly: true })
    expect(db.prepare('SELECT status, error FROM jobs WHERE id = ?').get(jobId)).toEqual({ status: 'failed', error: INTERRUPTED_REASON })
    db.close()
    // the experiment itself finished before the export and stays done, with its kept model
    const rec = await svc['experiments.get']({ id: experimentId }, { emit: () => undefined })
    expect(rec.status).toBe('done')
    expect(existsSync(join(rec.artifactDir!, 'model.safetensors'))).toBe(true)
  })

  it('kill -9 of the job process alone: the host marks the experiment failed and removes the partial model', async () => {
    const { dir, appData, pool } = await setup()
    const pids: number[] = []
    const svc = createWorkspaceServices({ emit: () => undefined, workspaceDir: dir, appDataDir: appData, runner: 'child', tasks: { evaluator: FAKE_EVALUATOR }, onSpawn: (c) => { pids.push(c.pid!) } })
    cleanup.unshift(() => svc.close())
    await svc.ready
    const ctx = { emit: () => undefined }
    const p = await svc['pools.add']({ name: 'p', base: pool.base, models: pool.models }, ctx)
    process.env.AMALGAM_TEST_TENSOR_DELAY_MS = '40'
    try {
      const r = await svc['runs.start']({ poolId: p.id, method: 'task_arithmetic', keepModel: true, evaluate: false }, ctx)
      const runDir = join(dir, 'runs', r.experimentId)
      await until('a partial model folder', () => existsSync(runDir) && readdirSync(runDir).some((n) => n.startsWith('model.tmp-')))
      process.kill(pids[0]!, 'SIGKILL')
      const o = await svc.waitJob(r.jobId)
      expect(o.status).toBe('failed')
      expect(o.error!.message).toMatch(/job process exited without a result \(signal SIGKILL\)/)
      const rec = await svc['experiments.get']({ id: r.experimentId }, ctx)
      expect(rec.status).toBe('failed')
      expect(readdirSync(runDir).filter((n) => n !== 'log.txt' && n !== 'recipe.yaml')).toEqual([])
      expect(integrity(join(dir, 'amalgam.db'))).toBe('ok')
    } finally {
      delete process.env.AMALGAM_TEST_TENSOR_DELAY_MS
    }
  })
})
