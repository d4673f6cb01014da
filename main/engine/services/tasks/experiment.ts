// The "run an experiment" task: open the pool, merge, keep the model (atomic HF folder) when asked,
// evaluate in memory when asked. Runs in the job's child process, so it takes and returns plain
// data only; all database writes stay in the engine host.
import type { EvalResult, FloatOutDType } from '#common/types'
import { MemorySink, type TensorMeta, type TensorSink, type TensorSource } from '../../tensors/source'
import type { TaskCtx } from '../../util/task'
import type { TaskRef } from '../../jobs/child'
import { moduleUrl } from '../../jobs/child'
import { delayedSink, DiscardSink, testTensorDelayMs, TeeSink } from './sinks'
import type { HfFolderSet } from '../../checkpoints/folder-set'

export interface ExperimentTaskInput {
  method: string
  params: Record<string, unknown>
  seed: number
  base: string
  models: string[]
  /** task names in model order */
  names: string[]
  /** write the merged model here (an HF folder, atomically) or null */
  modelDir: string | null
  dtype: FloatOutDType
  recipeYaml: string
  evaluate: { benchmark: string; evaluator: TaskRef } | null
  /** the workspace cache folder and the pool's content keys: merges reuse cached statistics (merge/cache.ts) */
  cache?: import('./merge-cache').RunCacheInput | null
}

export interface ExperimentTaskOutput {
  params: Record<string, unknown>
  diagnostics: Record<string, unknown>
  eval: EvalResult | null
  mergeSeconds: number
  peakRssBytes: number
  backend: string
  keptModel: boolean
  /** per-task methods: the tasks whose models were kept as modelDir/<task>/ (pool order); null otherwise */
  keptTasks: string[] | null
}

export type EvaluatorFn = (model: TensorSource | ((task: string) => TensorSource), opts: { benchmark: string }, ctx: TaskCtx) => Promise<EvalResult & { backend?: string }>

export async function runExperimentTask(input: ExperimentTaskInput, ctx: TaskCtx): Promise<ExperimentTaskOutput> {
  const [{ openModel }, { runMerge }, { getMethod }, { HfFolderWriter }] = await Promise.all([
    import('../../checkpoints/open'), import('../../merge/run'), import('../../merge/registry'), import('../../checkpoints/export'),
  ])
  const perTask = getMethod(input.method).info.perTask === true
  ctx.progress?.('open', 0, 'opening checkpoints')
  const base = await openModel(input.base)
  const models: TensorSource[] = []
  const opened = [base]
  try {
    for (const m of input.models) { const s = await openModel(m); opened.push(s); models.push(s) }
    const delay = testTensorDelayMs()
    const memSinks: MemorySink[] = []
    let writer: InstanceType<typeof HfFolderWriter> | null = null
    let kept: HfFolderSet | null = null
    const sinks: TensorSink[] = []
    if (perTask) {
      // One model per task: evaluated in memory and, when kept, written to modelDir/<task>/ under one
      // temporary parent that is renamed into place only once all N are complete.
      kept = input.modelDir ? await (await import('./per-task-folders')).openKeptTaskFolders({ ...input, modelDir: input.modelDir }, base) : null
      for (let i = 0; i < models.length; i++) {
        const parts: TensorSink[] = []
        if (input.evaluate) { const s = new MemorySink(); memSinks.push(s); parts.push(s) }
        if (kept) parts.push(kept.writers[i]!)
        if (parts.length === 0) parts.push(new DiscardSink())
        sinks.push(delayedSink(parts.length === 1 ? parts[0]! : new TeeSink(parts), delay))
      }
    } else {
      const parts: TensorSink[] = []
      if (input.evaluate) { const s = new MemorySink(); memSinks.push(s); parts.push(s) }
      if (input.modelDir) {
        const plan: TensorMeta[] = base.names().map((n) => base.meta(n))
        writer = new HfFolderWriter({ outDir: input.modelDir, baseDir: base.dir, plan, dtype: input.dtype, recipeYaml: input.recipeYaml, overwrite: true })
        parts.push(writer)
      }
      if (parts.length === 0) parts.push(new DiscardSink())
      sinks.push(delayedSink(parts.length === 1 ? parts[0]! : new TeeSink(parts), delay))
    }
    // data-dependent methods read exemplars / unlabeled test images of the benchmark's tasks,
    // in pool order; a pool without a benchmark gets runMerge's "needs data" error
    const data = getMethod(input.method).info.family === 'data-dependent' && input.evaluate?.benchmark === 'mini8'
      ? await import('../../merge/data-mini8').then(async ({ mini8MergeData }) => mini8MergeData(await (await import('../../benchmark/mini8')).loadMini8(), input.names))
      : undefined
    let merged
    try {
      merged = await runMerge({
        data,
        cache: input.cache ? (await import('./merge-cache')).openRunCache(input.cache) : undefined,
        method: input.method, params: input.params, seed: input.seed, pool: { base, models, names: input.names },
        ...(perTask ? { sinks } : { sink: sinks[0] }), ctx,
      })
      if (writer) { ctx.progress?.('write', 1, 'committing model folder'); await writer.commit() }
      if (kept) { ctx.progress?.('write', 1, `committing ${kept.writers.length} task model folders`); await kept.commit() }
    } catch (e) {
      await writer?.abort()
      await kept?.abort()
      throw e
    }
    let evalResult: (EvalResult & { backend?: string }) | null = null
    if (input.evaluate) {
      const mod = (await import(moduleUrl(input.evaluate.evaluator.module))) as Record<string, EvaluatorFn>
      const fn = mod[input.evaluate.evaluator.export]
      if (typeof fn !== 'function') throw new Error(`${input.evaluate.evaluator.module} has no evaluator ${input.evaluate.evaluator.export}`)
      const sources = memSinks.map((s, i) => s.toSource(perTask ? `merged/${input.names[i]}` : 'merged'))
      const model = perTask ? (task: string) => sources[Math.max(0, input.names.indexOf(task))]! : sources[0]!
      evalResult = await fn(model, { benchmark: input.evaluate.benchmark }, ctx)
    }
    const { backend, ...evalOnly } = evalResult ?? { backend: undefined }
    return {
      params: merged.params, diagnostics: merged.diagnostics, eval: evalResult ? (evalOnly as EvalResult) : null,
      mergeSeconds: merged.seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024,
      backend: backend ?? 'typescript', keptModel: writer !== null || kept !== null, keptTasks: kept ? [...input.names] : null,
    }
  } finally {
    for (const s of opened) await s.close?.().catch(() => undefined)
  }
}
