// Opens the workspace services for a CLI command: the same engine code the app and the server use,
// in this process. The workspace comes from --workspace, AMALGAM_WORKSPACE or the OS default.
import type { EngineEvents, EventName } from '#common/contract'
import type { Io } from './main'

export async function openServices(dir: string | undefined, io: Io, opts: { create?: boolean; quiet?: boolean } = {}) {
  const [{ createWorkspaceServices }, { defaultWorkspaceDir }] = await Promise.all([import('../engine/services'), import('../engine/workspace/paths')])
  const workspaceDir = dir ?? process.env.AMALGAM_WORKSPACE ?? defaultWorkspaceDir()
  let last = ''
  const emit = <E extends EventName>(name: E, payload: EngineEvents[E]) => {
    if (opts.quiet) return
    if (name === 'job.progress') {
      const p = payload as EngineEvents['job.progress']
      const line = `${p.stage} ${(100 * p.fraction).toFixed(0).padStart(3)}%${p.etaSeconds ? ` eta ${Math.round(p.etaSeconds)}s` : ''} ${p.message ?? ''}`.slice(0, 100)
      if (line !== last) { process.stderr.write(`\r${line.padEnd(100)}`); last = line }
    } else if (name === 'job.log') io.err(`\n${(payload as EngineEvents['job.log']).line}`)
  }
  const services = createWorkspaceServices({ emit, workspaceDir, create: opts.create ?? true })
  await services.ready
  return { services, workspaceDir, endProgress: () => { if (last) process.stderr.write('\n'); last = '' } }
}

export const workspaceOption = { workspace: { type: 'string' as const } }

/** Handlers take a call context for events; CLI calls get their events through `emit` above. */
export const cliCtx = { emit: () => {} }
