// The workspace services: the contract's workspace/pools/runs/jobs/experiments methods, plus the
// recipe entry points the CLI uses. The engine composer spreads the returned object into its
// Handlers; `close()` cancels running jobs and closes the database.
import { readFile } from 'node:fs/promises'
import type { Handlers } from '#common/contract'
import { AmalgamError } from '#common/errors'
import { importMergekit, parseRecipe, type MergekitImport, type Recipe } from '../recipe'
import { ServiceState, type WorkspaceServicesOptions } from './state'
import { addBenchmarkPool, addPool, poolSimilarity } from './pools'
import { evaluateExperiment, runRecipe, startRun, startSweep } from './runs'
import { cardPreview, compareExperiments, exportExperiment, getExperiment, updateExperiment } from './experiments'
import type { Workspace } from '../workspace/workspace'

export type WorkspaceMethod =
  | 'workspace.current' | 'workspace.open' | 'workspace.recent' | 'workspace.clearCache'
  | 'pools.list' | 'pools.add' | 'pools.addBenchmark' | 'pools.similarity'
  | 'runs.start' | 'runs.sweep' | 'jobs.list' | 'jobs.cancel'
  | 'experiments.list' | 'experiments.get' | 'experiments.update' | 'experiments.compare' | 'experiments.export' | 'experiments.cardPreview'
  | 'eval.model'

export type WorkspaceHandlers = Pick<Handlers, WorkspaceMethod>

export interface WorkspaceServices extends WorkspaceHandlers {
  /** `amalgam run RECIPE.yaml`: an Amalgam recipe, or a mergekit config (detected by merge_method) */
  runRecipeFile(path: string, opts?: { tags?: string[]; pool?: { benchmark?: string } }): Promise<{ jobId: string; experimentId: string; warnings: string[] }>
  runRecipe(recipe: Recipe): Promise<{ jobId: string; experimentId: string }>
  /** the recipe YAML of an experiment, for `amalgam history --recipe` and re-runs */
  recipeOf(id: string): Promise<string>
  /** waits for a job to settle (CLI `run` waits for its experiment) */
  waitJob(jobId: string): Promise<{ status: 'done' | 'failed' | 'cancelled'; error?: { code: string; message: string } }>
  /** the open workspace (engine-internal callers: eval.model, bench) */
  workspaceHandle(): Workspace
  close(): Promise<void>
  /** alias of close() for the engine composer */
  dispose(): Promise<void>
}

export function createWorkspaceServices(opts: WorkspaceServicesOptions): WorkspaceServices & { ready: Promise<void> } {
  const s = new ServiceState(opts)
  const ready = opts.workspaceDir ? s.open(opts.workspaceDir, opts.create ?? true).then(() => undefined) : Promise.resolve()
  // an open failure is reported by the first call that needs the workspace, not as an unhandled rejection
  ready.catch(() => undefined)
  const ws = async () => { await ready; return s.workspace() }

  return {
    ready,
    async 'workspace.current'() {
      await ready.catch(() => undefined)
      return s.current ? s.current.info() : null
    },
    async 'workspace.open'(p) {
      await ready.catch(() => undefined)
      if (typeof p?.dir !== 'string' || !p.dir.trim()) throw new AmalgamError('BAD_PARAM', 'dir must be a folder path', { field: 'dir' })
      return (await s.open(p.dir, p.create ?? false)).info()
    },
    async 'workspace.recent'() { return s.recent.list() },
    async 'workspace.clearCache'() { return (await ws()).cache.clear() },

    async 'pools.list'() { return (await ws()).pools.list() },
    async 'pools.add'(p) { await ws(); return addPool(s, p) },
    async 'pools.addBenchmark'(p) { await ws(); return addBenchmarkPool(s, p) },
    async 'pools.similarity'(p) { await ws(); return poolSimilarity(s, p) },

    async 'runs.start'(p) { await ws(); return startRun(s, p) },
    async 'runs.sweep'(p) { await ws(); return startSweep(s, p) },
    async 'jobs.list'() { return s.queue.list() },
    async 'jobs.cancel'(p) { return { cancelled: s.queue.cancel(p.jobId) } },

    async 'experiments.list'(q) { return (await ws()).experiments.list(q ?? {}) },
    async 'experiments.get'(p) { await ws(); return getExperiment(s, p) },
    async 'experiments.update'(p) { await ws(); return updateExperiment(s, p) },
    async 'experiments.compare'(p) { await ws(); return compareExperiments(s, p) },
    async 'experiments.export'(p) { await ws(); return exportExperiment(s, p) },
    async 'experiments.cardPreview'(p) { await ws(); return cardPreview(s, p) },
    async 'eval.model'(p) { await ws(); return evaluateExperiment(s, p) },

    async runRecipeFile(path, o = {}) {
      await ws()
      const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => { throw new AmalgamError('NOT_FOUND', `cannot read recipe ${path}: ${e.code ?? e.message}`) })
      if (/^\s*merge_method\s*:/m.test(text)) {
        const imp: MergekitImport = importMergekit(text, path, await s.deps.listMethods())
        const pool = await addPool(s, { name: `mergekit ${imp.method}`, base: imp.base, models: imp.models, benchmark: o.pool?.benchmark ?? null })
        const r = await startRun(s, { poolId: pool.id, method: imp.method, params: imp.params, tags: o.tags, evaluate: pool.benchmark != null }, { dtype: imp.dtype })
        return { ...r, warnings: imp.warnings }
      }
      return { ...(await runRecipe(s, parseRecipe(text, path), o)), warnings: [] }
    },
    async runRecipe(recipe) { await ws(); return runRecipe(s, recipe) },
    async recipeOf(id) {
      const w = await ws()
      const yaml = w.experiments.recipe(id)
      if (!yaml) throw new AmalgamError('NOT_FOUND', `experiment ${id} has no recipe yet (its inputs are still being hashed)`)
      return yaml
    },
    async waitJob(jobId) {
      const o = await s.queue.wait(jobId)
      return { status: o.status, error: o.error }
    },
    workspaceHandle: () => s.workspace(),
    close: () => s.close(),
    dispose: () => s.close(),
  }
}

export type { WorkspaceServicesOptions }
