// runs.start / runs.sweep / recipes.run: turn a request into an experiment record, a recipe and a
// job; the job hashes the inputs, runs the experiment task (merge → keep → evaluate) through the
// task runner, and records the outcome. No partial artifact survives a failed or cancelled run.
import { randomBytes } from 'node:crypto'
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, type WriteStream } from 'node:fs'
import { join, resolve } from 'node:path'
import type { In, Out, RunRequest } from '#common/contract'
import type { EvalResult, MethodInfo, PoolRecord } from '#common/types'
import { AmalgamError } from '#common/errors'
import { ENGINE_VERSION } from '../version'
import { writeFileAtomic } from '../util/atomic'
import { RECIPE_FORMAT, serialiseRecipe, type Recipe } from '../recipe'
import type { JobCtx, JobOutcome } from '../jobs/queue'
import type { ServiceState } from './state'
import { addPool, filesOf, poolFingerprint, poolMemberKeys, poolTaskNames } from './pools'
import type { ExperimentTaskInput, ExperimentTaskOutput } from './tasks/experiment'

export function newExperimentId(now = new Date()): string {
  // Sortable by time, readable in a folder listing, unique without coordination.
  return `${now.toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`
}

export function defaultRunName(method: string, params: Record<string, unknown>): string {
  const p = Object.entries(params).filter(([, v]) => typeof v !== 'object' || v === null).slice(0, 3).map(([k, v]) => `${k}=${String(v)}`)
  return p.length ? `${method} ${p.join(' ')}` : method
}

interface StartOptions {
  /** recipe re-run: inputs must hash to these values */
  expect?: Recipe
  dtype?: Recipe['output']['dtype']
  extraTags?: string[]
}

export async function startRun(s: ServiceState, req: RunRequest, o: StartOptions = {}): Promise<Out<'runs.start'>> {
  const ws = s.workspace()
  if (!req || typeof req.poolId !== 'string') throw new AmalgamError('BAD_PARAM', 'runs.start: poolId must be a pool id')
  const pool = ws.pools.get(req.poolId)
  const info = await methodInfo(s, req.method)
  const params = { ...(req.params ?? {}) }
  for (const k of Object.keys(params)) {
    if (!info.params.some((p) => p.name === k)) {
      throw new AmalgamError('BAD_PARAM', `${info.name} has no parameter ${k} (parameters: ${info.params.map((p) => p.name).join(', ') || 'none'})`, { field: `params.${k}` })
    }
  }
  const seed = req.seed ?? 0
  if (!Number.isSafeInteger(seed) || seed < 0) throw new AmalgamError('BAD_PARAM', `seed must be a non-negative integer, got ${seed}`, { field: 'seed' })
  const evaluate = req.evaluate ?? pool.benchmark != null
  if (evaluate && !pool.benchmark) throw new AmalgamError('BAD_REQUEST', `pool ${pool.name} is not a benchmark pool; run with evaluate: false, or use the mini8 pool`)
  const keepModel = req.keepModel ?? false
  const dtype = o.dtype ?? 'f32'
  const id = newExperimentId()
  const run = ws.run(id)
  mkdirSync(run.dir, { recursive: true })
  const tags = [...new Set([...(req.tags ?? []), ...(o.extraTags ?? [])])]
  ws.experiments.insert({
    id, name: req.name?.trim() || defaultRunName(info.name, params), method: info.name, params, seed, poolId: pool.id,
    benchmark: evaluate ? pool.benchmark! : null, engineVersion: ENGINE_VERSION, backend: 'pending',
    recipeYaml: '', tags, artifactDir: null,
  })
  const jobId = `job-${id}`
  ws.jobs.insert(jobId, 'merge', id, null)
  const log = new RunLog(run.log)
  const t0 = Date.now()
  let recipe: Recipe | null = null
  s.queue.enqueue<ExperimentTaskOutput>({
    kind: 'merge',
    experimentId: id,
    run: async (ctx: JobCtx) => {
      const logCtx: JobCtx = { ...ctx, log: (line) => { log.write(`${new Date().toISOString()} ${line}\n`); ctx.log?.(line) } }
      ws.jobs.setStatus(jobId, 'running')
      ws.experiments.update(id, { status: 'running', startedAt: new Date().toISOString() })
      logCtx.log?.(`experiment ${id}: ${info.name} on pool ${pool.name} (seed ${seed})`)
      const files = await poolFingerprint(s, pool, ctx)
      recipe = buildRecipe(pool, files, info.name, params, seed, evaluate ? pool.benchmark! : null, dtype, keepModel, req.name ?? '')
      if (o.expect) checkExpectedInputs(o.expect, recipe)
      const yaml = serialiseRecipe(recipe)
      await writeFileAtomic(run.recipe, yaml)
      ws.experiments.update(id, { recipeYaml: yaml })
      const input: ExperimentTaskInput = {
        method: info.name, params, seed, base: pool.base, models: pool.models, names: poolTaskNames(pool),
        modelDir: keepModel ? run.model : null, dtype, recipeYaml: yaml,
        evaluate: evaluate ? { benchmark: pool.benchmark!, evaluator: s.tasks.evaluator } : null,
        cache: { dir: ws.cache.dir, keys: poolMemberKeys(pool, files) },
      }
      return s.runner.run<ExperimentTaskOutput>(s.tasks.experiment, input, logCtx)
    },
    finish: async (out: JobOutcome<ExperimentTaskOutput>) => {
      try {
        const endedAt = new Date().toISOString()
        if (out.status === 'done' && out.value) {
          const v = out.value
          let yaml = ''
          if (recipe) {
            // the recipe records the resolved parameters (defaults filled in), so a re-run needs nothing else
            const resolved: Recipe = { ...recipe, params: v.params }
            yaml = serialiseRecipe(resolved)
            await writeFileAtomic(run.recipe, yaml)
          }
          await writeFileAtomic(run.diagnostics, JSON.stringify(v.diagnostics, null, 2) + '\n')
          if (v.eval) await writeFileAtomic(run.eval, JSON.stringify(fusionBenchReport(v.eval, info.name, v.params), null, 2) + '\n')
          ws.experiments.update(id, {
            status: 'done', params: v.params, endedAt, durationMs: Date.now() - t0, backend: v.backend,
            metrics: v.eval ? Object.fromEntries(Object.entries(v.eval.perTask).map(([t, r]) => [t, r.accuracy])) : null,
            average: v.eval?.average ?? null, normalized: v.eval?.normalized ?? null, peakRssBytes: v.peakRssBytes,
            artifactDir: v.keptModel ? run.model : null, keptTasks: v.keptTasks ?? null, ...(yaml ? { recipeYaml: yaml } : {}),
          })
          ws.jobs.setStatus(jobId, 'done')
        } else {
          removeRunArtifacts(run.dir)
          const msg = out.error?.message ?? out.status
          log.write(`${endedAt} ${out.status}: ${msg}\n`)
          ws.experiments.update(id, { status: out.status === 'cancelled' ? 'cancelled' : 'failed', error: msg, endedAt, durationMs: Date.now() - t0, backend: 'none' })
          ws.jobs.setStatus(jobId, out.status, msg)
        }
      } finally {
        await log.close()
      }
    },
  }, jobId)
  return { jobId, experimentId: id }
}

/** runs/<id>/log.txt, opened on the first line so a queued sweep does not hold hundreds of files open. */
class RunLog {
  private stream: WriteStream | null = null
  constructor(private readonly path: string) {}
  write(text: string): void {
    this.stream ??= createWriteStream(this.path, { flags: 'a' })
    this.stream.write(text)
  }
  close(): Promise<void> {
    const st = this.stream
    this.stream = null
    return st ? new Promise<void>((r) => st.end(() => r())) : Promise.resolve()
  }
}

/** Removes everything of a failed run but its log, recipe and diagnostics: the model, temp dirs, eval. */
function removeRunArtifacts(dir: string): void {
  if (!existsSync(dir)) return
  for (const name of readdirSync(dir)) {
    if (name === 'log.txt' || name === 'recipe.yaml' || name === 'diagnostics.json') continue
    rmSync(join(dir, name), { recursive: true, force: true })
  }
}

export async function startSweep(s: ServiceState, req: In<'runs.sweep'>): Promise<Out<'runs.sweep'>> {
  const keys = Object.keys(req?.grid ?? {})
  if (keys.length < 1 || keys.length > 2) throw new AmalgamError('BAD_PARAM', `a sweep varies one or two parameters; grid has ${keys.length}`, { field: 'grid' })
  for (const k of keys) {
    const v = req.grid[k]
    if (!Array.isArray(v) || v.length === 0) throw new AmalgamError('BAD_PARAM', `grid.${k} must be a non-empty list of values`, { field: `grid.${k}` })
  }
  const [a, b] = keys as [string, string | undefined]
  const combos: Array<Record<string, unknown>> = []
  for (const x of req.grid[a]!) {
    if (b === undefined) combos.push({ [a]: x })
    else for (const y of req.grid[b]!) combos.push({ [a]: x, [b]: y })
  }
  if (combos.length > 200) throw new AmalgamError('BAD_PARAM', `the grid has ${combos.length} points; at most 200 per sweep`, { field: 'grid' })
  // validate once up front so a bad key fails the call rather than 200 jobs
  const info = await methodInfo(s, req.method)
  for (const k of keys) if (!info.params.some((p) => p.name === k)) throw new AmalgamError('BAD_PARAM', `${info.name} has no parameter ${k}`, { field: `grid.${k}` })
  const sweepTag = `sweep:${newExperimentId().slice(-6)}`
  const { grid: _grid, ...base } = req
  const out: Out<'runs.sweep'> = []
  for (const c of combos) {
    const params = { ...(base.params ?? {}), ...c }
    const name = base.name ? `${base.name} ${Object.entries(c).map(([k, v]) => `${k}=${String(v)}`).join(' ')}` : undefined
    out.push(await startRun(s, { ...base, params, name }, { extraTags: [sweepTag] }))
  }
  return out
}

/** Re-runs a recipe: inputs are found by path and must still hash to the recorded sha256. */
export async function runRecipe(s: ServiceState, recipe: Recipe, opts: { tags?: string[] } = {}): Promise<Out<'runs.start'>> {
  const ws = s.workspace()
  for (const m of [recipe.pool.base, ...recipe.pool.models]) {
    for (const f of m.files) {
      const p = resolve(m.path, f.file)
      if (!existsSync(p)) throw new AmalgamError('NOT_FOUND', `recipe input ${p} does not exist (pool.${m === recipe.pool.base ? 'base' : 'models'} ${m.path})`)
    }
  }
  const base = resolve(recipe.pool.base.path)
  const models = recipe.pool.models.map((m) => resolve(m.path))
  let pool: PoolRecord | null = ws.pools.findByMembers(base, models)
  // a recipe evaluated on a benchmark needs the benchmark pool; a merge-only recipe takes any match
  if (pool && recipe.benchmark && pool.benchmark !== recipe.benchmark) pool = null
  pool ??= await addPool(s, { name: recipe.name ? `${recipe.name} pool` : `pool of ${models.length} models`, base, models, benchmark: recipe.benchmark })
  return startRun(s, {
    poolId: pool.id, method: recipe.method, params: recipe.params, seed: recipe.seed, name: recipe.name || undefined,
    keepModel: recipe.output.keepModel, evaluate: recipe.benchmark !== null, tags: opts.tags,
  }, { expect: recipe, dtype: recipe.output.dtype })
}

function checkExpectedInputs(expect: Recipe, actual: Recipe): void {
  const want = [expect.pool.base, ...expect.pool.models]
  const got = [actual.pool.base, ...actual.pool.models]
  for (const [i, w] of want.entries()) {
    const g = got[i]!
    for (const f of w.files) {
      const h = g.files.find((x) => x.file === f.file)
      if (!h) throw new AmalgamError('POOL_MISMATCH', `recipe input ${join(w.path, f.file)} is not part of the model folder any more`)
      if (h.sha256 !== f.sha256) throw new AmalgamError('POOL_MISMATCH', `recipe input ${join(w.path, f.file)} changed: sha256 ${h.sha256.slice(0, 12)}… but the recipe recorded ${f.sha256.slice(0, 12)}…`)
    }
  }
}

function buildRecipe(pool: PoolRecord, files: Awaited<ReturnType<typeof poolFingerprint>>, method: string, params: Record<string, unknown>, seed: number,
  benchmark: string | null, dtype: Recipe['output']['dtype'], keepModel: boolean, name: string): Recipe {
  return {
    format: RECIPE_FORMAT, name, engineVersion: ENGINE_VERSION, method, params, seed,
    pool: { base: { path: pool.base, files: filesOf(files, pool.base) }, models: pool.models.map((m) => ({ path: m, files: filesOf(files, m) })) },
    benchmark, output: { dtype, keepModel },
  }
}

async function methodInfo(s: ServiceState, name: string): Promise<MethodInfo> {
  if (typeof name !== 'string' || !name) throw new AmalgamError('BAD_PARAM', 'method must be a method name', { field: 'method' })
  const all = await s.deps.listMethods()
  const info = all.find((m) => m.name === name)
  if (!info) throw new AmalgamError('UNKNOWN_METHOD', `unknown merge method "${name}" (known: ${all.map((m) => m.name).join(', ')})`)
  return info
}

/** FusionBench's report.json shape: {model_info, <task>: {accuracy, loss}, average}. */
export function fusionBenchReport(r: EvalResult, method: string, params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { model_info: { method, params, benchmark: r.benchmark } }
  for (const t of r.tasks) out[t] = { accuracy: r.perTask[t]!.accuracy, loss: r.perTask[t]!.loss }
  out.average = { accuracy: r.average, ...(r.normalized !== undefined ? { normalized_accuracy: r.normalized } : {}) }
  return out
}

/**
 * eval.model: evaluates a finished experiment again on its benchmark (after a benchmark rebuild,
 * or for a merge-only run). The merge is replayed in memory from the recorded parameters and seed,
 * as an 'eval' job, so it queues behind other heavy work and can be cancelled.
 */
export async function evaluateExperiment(s: ServiceState, p: In<'eval.model'>): Promise<EvalResult> {
  const ws = s.workspace()
  const rec = ws.experiments.get(p.experimentId)
  const pool = ws.pools.get(rec.poolId)
  if (!pool.benchmark) throw new AmalgamError('BAD_REQUEST', `experiment ${rec.id} was run on pool ${pool.name}, which is not a benchmark pool`)
  if (rec.status !== 'done') throw new AmalgamError('BAD_REQUEST', `experiment ${rec.id} is ${rec.status}; only finished experiments can be evaluated`)
  const input: ExperimentTaskInput = {
    method: rec.method, params: rec.params, seed: rec.seed, base: pool.base, models: pool.models, names: poolTaskNames(pool),
    modelDir: null, dtype: 'f32', recipeYaml: ws.experiments.recipe(rec.id),
    evaluate: { benchmark: pool.benchmark, evaluator: s.tasks.evaluator },
  }
  // the replay reuses what the original run cached (activation statistics …) under the pool's content keys
  const { done } = s.queue.enqueue<ExperimentTaskOutput>({
    kind: 'eval', experimentId: rec.id,
    run: async (ctx) => s.runner.run(s.tasks.experiment, { ...input, cache: { dir: ws.cache.dir, keys: poolMemberKeys(pool, await poolFingerprint(s, pool, ctx)) } }, ctx),
  })
  const out = await done
  if (out.status !== 'done' || !out.value?.eval) {
    throw out.error ? new AmalgamError(out.error.code, out.error.message) : new AmalgamError('INTERNAL', `evaluation of ${rec.id} produced no result`)
  }
  return out.value.eval
}
