// The child side of runInChild: imports the task module, runs the task with a TaskCtx whose
// progress/log go back over IPC and whose signal fires on a cancel message.
import { toWireError } from '#common/errors'
import type { TaskCtx } from '../util/task'
import type { ChildMessage, ParentMessage, TaskFn } from './protocol'

const ac = new AbortController()

function post(m: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve()
    process.send!(m, undefined, {}, () => resolve())
  })
}

// The engine host died (kill -9, crash): nobody will read the result, and the host's restart
// will clean up after us. Stop writing now rather than race that cleanup.
process.on('disconnect', () => process.exit(70))

process.on('message', (m: ParentMessage) => {
  if (m.t === 'cancel') { ac.abort(); return }
  if (m.t === 'run') void run(m)
})

async function run(m: Extract<ParentMessage, { t: 'run' }>): Promise<void> {
  const ctx: TaskCtx = {
    signal: ac.signal,
    progress: (stage, fraction, message) => { void post({ t: 'progress', stage, fraction, message }) },
    log: (line) => { void post({ t: 'log', line }) },
  }
  let code = 0
  try {
    const mod = (await import(m.module)) as Record<string, unknown>
    const fn = mod[m.export]
    if (typeof fn !== 'function') throw new Error(`${m.module} has no task function ${m.export}`)
    const value = await (fn as TaskFn)(m.input, ctx)
    await post({ t: 'result', value })
  } catch (e) {
    code = 1
    await post({ t: 'error', error: toWireError(e) })
  }
  process.exit(code)
}
