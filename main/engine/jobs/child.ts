// Runs a task function in a child Node process so that a job that ignores cancellation (a long
// native call, a stuck read) can still be stopped: cancel is first sent as a message (the task's
// AbortSignal fires, cooperative), and the process is SIGKILLed if it has not exited after a grace
// period. Writers inside the task use atomic folders, so a kill leaves only temp dirs that startup
// cleanup removes.
//
// Launch choice: `fork(child-entry, { execArgv: ['--import', <tsx loader>] })` when the entry is a
// .ts file (CLI under tsx, vitest), plain `fork` when it is .js (an electron-vite bundle must emit
// jobs/child-entry.js and the task modules as separate entries next to this file). worker_threads
// were not used: a worker sharing the engine's heap cannot be killed without risking the host's
// native state (tfjs, better-sqlite3), and its OOM would take the host down with it.
import { fork, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { AmalgamError, CancelledError, fromWireError, type WireError } from '#common/errors'
import type { TaskCtx } from '../util/task'
import type { ChildMessage, ParentMessage } from './protocol'

export interface TaskRef { module: string; export: string }

export interface RunInChildOptions {
  task: TaskRef
  input: unknown
  ctx: TaskCtx
  /** ms between the cancel message and SIGKILL */
  killGraceMs?: number
  env?: NodeJS.ProcessEnv
  /** called once the child is spawned (tests record the pid) */
  onSpawn?(child: ChildProcess): void
}

export function childEntryPath(): string {
  const ts = fileURLToPath(new URL('./child-entry.ts', import.meta.url))
  if (existsSync(ts)) return ts
  return fileURLToPath(new URL('./child-entry.js', import.meta.url))
}

let tsxLoader: string | null = null
function tsxLoaderUrl(): string {
  // Resolved from this file, not from the cwd: `--import tsx` would look in the user's folder.
  tsxLoader ??= pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
  return tsxLoader
}

/** Absolute module path or file URL → the URL the child imports. */
export function moduleUrl(p: string): string { return p.startsWith('file:') ? p : pathToFileURL(p).href }

export function runInChild<T>(o: RunInChildOptions): Promise<T> {
  const entry = childEntryPath()
  const execArgv = entry.endsWith('.ts') ? ['--import', tsxLoaderUrl()] : []
  return new Promise<T>((resolve, reject) => {
    const child = fork(entry, [], {
      execArgv,
      // Inside Electron, process.execPath is the Electron binary: ELECTRON_RUN_AS_NODE makes it a
      // plain Node for the job process instead of a second app instance.
      env: { ...process.env, ...(process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {}), ...o.env },
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    o.onSpawn?.(child)
    let result: { ok: true; value: T } | { ok: false; error: WireError } | null = null
    let killTimer: NodeJS.Timeout | null = null
    const forward = (stream: NodeJS.ReadableStream | null) => {
      if (!stream) return
      let buf = ''
      stream.setEncoding('utf8')
      stream.on('data', (d: string) => {
        buf += d
        let i
        while ((i = buf.indexOf('\n')) >= 0) { o.ctx.log?.(buf.slice(0, i)); buf = buf.slice(i + 1) }
      })
      stream.on('end', () => { if (buf) o.ctx.log?.(buf) })
    }
    forward(child.stdout)
    forward(child.stderr)
    const onAbort = () => {
      send(child, { t: 'cancel' })
      killTimer ??= setTimeout(() => {
        o.ctx.log?.(`job did not stop within ${o.killGraceMs ?? 3000} ms of cancel; killing its process ${child.pid}`)
        child.kill('SIGKILL')
      }, o.killGraceMs ?? 3000)
    }
    child.on('message', (m: ChildMessage) => {
      if (m.t === 'progress') o.ctx.progress?.(m.stage, m.fraction, m.message)
      else if (m.t === 'log') o.ctx.log?.(m.line)
      else if (m.t === 'result') result = { ok: true, value: m.value as T }
      else if (m.t === 'error') result = { ok: false, error: m.error }
    })
    child.on('error', (e) => { result ??= { ok: false, error: { code: 'INTERNAL', message: `job process: ${e.message}` } } })
    child.on('exit', (code, signal) => {
      if (killTimer) clearTimeout(killTimer)
      o.ctx.signal?.removeEventListener('abort', onAbort)
      if (o.ctx.signal?.aborted && !(result && result.ok)) return reject(new CancelledError('job'))
      if (result?.ok) return resolve(result.value)
      if (result) return reject(fromWireError(result.error))
      reject(new AmalgamError('INTERNAL', `job process exited without a result (${signal ? `signal ${signal}` : `exit code ${code}`})`))
    })
    if (o.ctx.signal?.aborted) onAbort()
    else o.ctx.signal?.addEventListener('abort', onAbort, { once: true })
    send(child, { t: 'run', module: moduleUrl(o.task.module), export: o.task.export, input: o.input })
  })
}

function send(child: ChildProcess, m: ParentMessage): void {
  if (child.connected) child.send(m, (err) => { if (err) child.kill('SIGKILL') })
}
