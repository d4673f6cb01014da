// Electron utility-process entry: the engine in its own process, so an OOM or a native crash in a
// merge kills only this process (main restarts it). Main sends one MessagePortMain per window through
// process.parentPort; each is served with the same engine. No 'electron' import: parentPort is a
// global of utility processes, and typing it structurally keeps this file loadable by plain Node tooling.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { EventHub, serve, type PortLike } from '#common/rpc'
import { validators } from '#common/validate'
import { createEngine } from '../engine/engine'

/** The parts of Electron's MessagePortMain we use. */
interface MainPort {
  on(event: 'message', fn: (e: { data: unknown }) => void): void
  on(event: 'close', fn: () => void): void
  postMessage(message: unknown): void
  start(): void
  close(): void
}
interface ParentPort {
  on(event: 'message', fn: (e: { data: unknown; ports: MainPort[] }) => void): void
  postMessage(message: unknown): void
}

/** Messages main sends to this process. */
export type HostInbound = { type: 'connect'; windowId: number } | { type: 'shutdown' }
/** Messages this process sends to main. */
export type HostOutbound = { type: 'ready' } | { type: 'fatal'; message: string } | { type: 'log'; line: string }

export function mainPortAdapter(p: MainPort): PortLike {
  const port: PortLike = {
    postMessage: (m) => p.postMessage(m),
    onmessage: null,
    onclose: null,
    close: () => p.close(),
  }
  p.on('message', (e) => port.onmessage?.({ data: e.data }))
  p.on('close', () => port.onclose?.('window port closed'))
  p.start()
  return port
}

/**
 * Bundled by electron-vite, this file lives in out/main/chunks/ next to the job entries the config
 * emits (child-entry.js, task-*.js); from source the services find their .ts task modules themselves.
 */
export function bundledTaskRefs(): { experiment: { module: string; export: string }; export: { module: string; export: string }; evaluator: { module: string; export: string } } | undefined {
  const here = dirname(fileURLToPath(import.meta.url))
  const at = (n: string) => join(here, n)
  if (!existsSync(at('task-experiment.js'))) return undefined
  return {
    experiment: { module: at('task-experiment.js'), export: 'runExperimentTask' },
    export: { module: at('task-export.js'), export: 'runExportTask' },
    evaluator: { module: at('task-evaluator.js'), export: 'evaluateOnBenchmark' },
  }
}

async function main(): Promise<void> {
  const parent = (process as unknown as { parentPort?: ParentPort }).parentPort
  if (!parent) throw new Error('main/hosts/utility.ts must run in an Electron utility process (process.parentPort is missing)')
  const say = (m: HostOutbound) => parent.postMessage(m)

  const hub = new EventHub()
  // ports can arrive while the engine is still starting; queue them rather than drop a window
  const early: MainPort[] = []
  let engine: Awaited<ReturnType<typeof createEngine>> | null = null
  const attach = (p: MainPort) => {
    if (!engine) { early.push(p); return }
    hub.add(serve(mainPortAdapter(p), engine, validators, {
      onInternalError: (m, e) => say({ type: 'log', line: `engine: ${m} failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}` }),
    }))
  }
  parent.on('message', (e) => {
    const msg = e.data as HostInbound
    if (msg?.type === 'connect' && e.ports[0]) attach(e.ports[0])
    else if (msg?.type === 'shutdown') void engine?.dispose().finally(() => process.exit(0))
  })

  try {
    engine = await createEngine({
      workspaceDir: process.env.AMALGAM_WORKSPACE || undefined,
      appDataDir: process.env.AMALGAM_USER_DATA || undefined,
      tasks: bundledTaskRefs(),
      emit: (n, v) => hub.emit(n, v),
      log: (line) => say({ type: 'log', line }),
    })
  } catch (e) {
    say({ type: 'fatal', message: e instanceof Error ? e.message : String(e) })
    process.exit(1)
  }
  for (const p of early.splice(0)) attach(p)
  say({ type: 'ready' })
}

void main()
