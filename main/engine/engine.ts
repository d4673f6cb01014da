// The engine as one object implementing the whole contract. Hosts (utility process, `amalgam serve`,
// tests) call createEngine() and serve the result; the return type is Handlers, so a method added to
// common/contract.ts without an implementation here fails `tsc`.
import type { EngineEvents, EventName, Handlers } from '#common/contract'
import { backendReport, initTensorBackend } from './backends/select'
import { inspectCheckpoint } from './checkpoints/inspect'
import { checkPool } from './checkpoints/pool-check'
import { sha256File } from './util/hash'
import { stat } from 'node:fs/promises'
import { createWorkspaceServices, type WorkspaceServicesOptions } from './services'

export type Emit = <E extends EventName>(name: E, payload: EngineEvents[E]) => void

export interface EngineOptions {
  /** open (creating if needed) this workspace at start; otherwise the UI picks one */
  workspaceDir?: string
  /** broadcast of engine events (job progress, logs) to every connected client */
  emit: Emit
  /** where the recent-workspaces list lives (the Electron host passes userData) */
  appDataDir?: string
  /** where the job task modules are (a bundled host points at its emitted .js files) */
  tasks?: WorkspaceServicesOptions['tasks']
  /** the one-line backend selection message (default: console.info) */
  log?: (line: string) => void
}

export type Engine = Handlers & { dispose(): Promise<void> }

export async function createEngine(opts: EngineOptions): Promise<Engine> {
  // the status page reports the backend the engine really uses, so select it before serving
  await initTensorBackend({ log: opts.log })
  const services = createWorkspaceServices({ emit: opts.emit, workspaceDir: opts.workspaceDir, appDataDir: opts.appDataDir, tasks: opts.tasks })

  const handlers: Handlers = {
    'engine.status': async () => backendReport(),
    // the method registry and the benchmark pull in the model code: load them on first use
    'methods.list': async () => (await import('./merge/registry')).listMethods(),
    'checkpoints.inspect': async ({ path, tensors }) => inspectCheckpoint(path, { tensors }),
    'checkpoints.check': async ({ base, models, scanNonFinite }) => checkPool(base, models, { scanNonFinite }),
    'checkpoints.hash': async ({ path }) => {
      const info = await inspectCheckpoint(path)
      const files = []
      for (const file of info.files) files.push({ file, sha256: await sha256File(file), bytes: (await stat(file)).size })
      return { files }
    },
    'bench.reference': async ({ benchmark }) => {
      const { loadMini8 } = await import('./benchmark/mini8')
      const { referenceRows } = await import('./benchmark/reference')
      const bench = await loadMini8()
      return { benchmark, tasks: [...bench.tasks], rows: await referenceRows(bench) }
    },

    'workspace.current': services['workspace.current'],
    'workspace.open': services['workspace.open'],
    'workspace.recent': services['workspace.recent'],
    'workspace.clearCache': services['workspace.clearCache'],
    'pools.list': services['pools.list'],
    'pools.add': services['pools.add'],
    'pools.addBenchmark': services['pools.addBenchmark'],
    'pools.similarity': services['pools.similarity'],
    'runs.start': services['runs.start'],
    'runs.sweep': services['runs.sweep'],
    'jobs.list': services['jobs.list'],
    'jobs.cancel': services['jobs.cancel'],
    'experiments.list': services['experiments.list'],
    'experiments.get': services['experiments.get'],
    'experiments.update': services['experiments.update'],
    'experiments.compare': services['experiments.compare'],
    'experiments.export': services['experiments.export'],
    'experiments.cardPreview': services['experiments.cardPreview'],
    'eval.model': services['eval.model'],
  }
  return { ...handlers, dispose: () => services.dispose() }
}
