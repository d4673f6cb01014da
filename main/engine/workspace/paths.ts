// Where Amalgam keeps things by default. The user can always pick another folder; the env vars
// exist because people keep models on a data drive and want to point the app there once
// (ux.md §4: LM Studio/Ollama users asked for exactly this).
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

export interface PathEnv { env?: NodeJS.ProcessEnv; platform?: NodeJS.Platform; home?: string }

/** The per-user application folder: recent-workspaces list and the default workspace live here. */
export function appDataDir(p: PathEnv = {}): string {
  const env = p.env ?? process.env
  const platform = p.platform ?? process.platform
  const home = p.home ?? homedir()
  if (env.AMALGAM_APP_DATA) return resolve(env.AMALGAM_APP_DATA)
  if (platform === 'win32') return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'Amalgam')
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'Amalgam')
  return join(env.XDG_DATA_HOME || join(home, '.local', 'share'), 'amalgam')
}

/** AMALGAM_WORKSPACE wins; otherwise `<app data>/workspaces/default`. A CLI --workspace beats both (the caller passes it). */
export function defaultWorkspaceDir(p: PathEnv = {}): string {
  const env = p.env ?? process.env
  if (env.AMALGAM_WORKSPACE) return resolve(env.AMALGAM_WORKSPACE)
  return join(appDataDir(p), 'workspaces', 'default')
}

export const WORKSPACE_DB = 'amalgam.db'

export interface WorkspacePaths { dir: string; db: string; models: string; runs: string; cache: string }

export function workspacePaths(dir: string): WorkspacePaths {
  const d = resolve(dir)
  return { dir: d, db: join(d, WORKSPACE_DB), models: join(d, 'models'), runs: join(d, 'runs'), cache: join(d, 'cache') }
}

/** Files of one run folder (runs/<id>/). */
export function runFiles(runsDir: string, id: string) {
  const dir = join(runsDir, id)
  return {
    dir,
    model: join(dir, 'model'),
    eval: join(dir, 'eval.json'),
    log: join(dir, 'log.txt'),
    diagnostics: join(dir, 'diagnostics.json'),
    recipe: join(dir, 'recipe.yaml'),
  }
}
export const RUN_FILE_NAMES: ReadonlySet<string> = new Set(['model', 'eval.json', 'log.txt', 'diagnostics.json', 'recipe.yaml'])
