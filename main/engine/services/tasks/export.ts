// The export task: writes a Hugging Face folder for an experiment, atomically. From the kept model
// when the run kept one; otherwise the merge is replayed from the recipe straight into the folder
// (the seed and resolved parameters make it the same model). Per-task methods (EMR, TALL masks)
// have N models: all of them go to out/<task>/ under one atomic parent, or one of them to out/.
import type { FloatOutDType } from '#common/types'
import type { ModelCardInput } from '../../checkpoints/model-card'
import type { TensorMeta, TensorSink, TensorSource } from '../../tensors/source'
import type { TaskCtx } from '../../util/task'
import type { HfFolderSet, TaskFolder } from '../../checkpoints/folder-set'
import { delayedSink, DiscardSink, testTensorDelayMs } from './sinks'

export interface ExportTaskInput {
  out: string
  dtype: FloatOutDType
  shardBytes?: number
  recipeYaml: string
  card: ModelCardInput
  /** more files for the folder (report.json …) */
  extraFiles: Record<string, string>
  metadata: Record<string, string>
  /** the kept model folder, or null to re-merge */
  modelDir: string | null
  merge: { method: string; params: Record<string, unknown>; seed: number; base: string; models: string[]; names: string[] }
  /** per-task experiments: the task models to write ('all': out/<dir>/ each; 'one': the single task's model is out/) */
  perTask?: { mode: 'all' | 'one'; tasks: PerTaskExport[] }
}

export interface PerTaskExport extends TaskFolder {
  /** position in the pool, i.e. which of the method's N outputs */
  index: number
  /** the kept folder of this task, or null to re-merge */
  modelDir: string | null
  card: ModelCardInput
}

export interface ExportTaskOutput { outDir: string; files: string[]; shards: number; totalSize: number; tasks?: string[] }

export async function runExportTask(input: ExportTaskInput, ctx: TaskCtx): Promise<ExportTaskOutput> {
  const [{ openModel }, { HfFolderWriter, exportModel }] = await Promise.all([import('../../checkpoints/open'), import('../../checkpoints/export')])
  const common = {
    outDir: input.out, dtype: input.dtype, shardBytes: input.shardBytes, recipeYaml: input.recipeYaml,
    card: input.card, extraFiles: input.extraFiles, metadata: input.metadata,
  }
  const base = await openModel(input.merge.base)
  const delay = testTensorDelayMs()
  try {
    if (input.perTask) return await exportTaskModels(input, input.perTask, base, ctx)
    if (input.modelDir) {
      const src = await openModel(input.modelDir)
      try {
        const slow = delay > 0 ? withReadDelay(src, delay) : src
        const r = await exportModel(slow, { ...common, baseDir: base.dir, ctx })
        return { outDir: r.outDir, files: r.files, shards: r.shards, totalSize: r.totalSize }
      } finally {
        await src.close()
      }
    }
    const { runMerge } = await import('../../merge/run')
    const models = []
    for (const m of input.merge.models) models.push(await openModel(m))
    const plan: TensorMeta[] = base.names().map((n) => base.meta(n))
    const writer = new HfFolderWriter({ ...common, baseDir: base.dir, plan })
    try {
      await runMerge({ method: input.merge.method, params: input.merge.params, seed: input.merge.seed, pool: { base, models, names: input.merge.names }, sink: delayedSink(writer, delay), ctx })
      const r = await writer.commit()
      return { outDir: r.outDir, files: r.files, shards: r.shards, totalSize: r.totalSize }
    } catch (e) {
      await writer.abort()
      throw e
    } finally {
      for (const m of models) await m.close()
    }
  } finally {
    await base.close()
  }
}

// Test hook (see sinks.ts): slow reads so a kill lands in the middle of an export.
function withReadDelay(src: TensorSource, ms: number): TensorSource {
  const wait = () => new Promise<void>((r) => setTimeout(r, ms))
  return {
    label: src.label,
    names: () => src.names(),
    meta: (n) => src.meta(n),
    has: (n) => src.has(n),
    readF32: async (n) => { await wait(); return src.readF32(n) },
    readRaw: async (n) => { await wait(); return src.readRaw(n) },
  }
}

type OpenedBase = TensorSource & { dir: string; close(): Promise<void> }

/** Per-task export: from the kept task folders when all are there, else by replaying the merge into N sinks. */
async function exportTaskModels(input: ExportTaskInput, spec: NonNullable<ExportTaskInput['perTask']>, base: OpenedBase, ctx: TaskCtx): Promise<ExportTaskOutput> {
  const [{ openModel }, { HfFolderWriter, copyTensors }, { HfFolderSet: FolderSet }] = await Promise.all([
    import('../../checkpoints/open'), import('../../checkpoints/export'), import('../../checkpoints/folder-set'),
  ])
  const delay = testTensorDelayMs()
  const optsOf = (t: PerTaskExport, plan: TensorMeta[]) => ({
    baseDir: base.dir, plan, dtype: input.dtype, shardBytes: input.shardBytes, recipeYaml: input.recipeYaml,
    card: t.card, extraFiles: input.extraFiles, metadata: { ...input.metadata, amalgam_task: t.task },
  })
  const fromKept = spec.tasks.every((t) => t.modelDir !== null)
  const sources: TensorSource[] = []
  type Writer = InstanceType<typeof HfFolderWriter>
  let set: HfFolderSet | null = null
  let single: Writer | null = null
  try {
    let plans: TensorMeta[][]
    if (fromKept) {
      for (const t of spec.tasks) sources.push(await openModel(t.modelDir!))
      plans = sources.map((src) => src.names().map((n) => src.meta(n)))
    } else {
      const plan = base.names().map((n) => base.meta(n))
      plans = spec.tasks.map(() => plan)
    }
    let writers: Writer[]
    if (spec.mode === 'one') {
      if (spec.tasks.length !== 1) throw new Error(`export of one task model was given ${spec.tasks.length} tasks`)
      single = new HfFolderWriter({ ...optsOf(spec.tasks[0]!, plans[0]!), outDir: input.out })
      writers = [single]
    } else {
      set = await FolderSet.create(input.out, spec.tasks.map((t, i) => ({ task: t.task, dir: t.dir, opts: optsOf(t, plans[i]!) })), { method: input.merge.method })
      writers = set.writers
    }
    if (fromKept) {
      for (const [k, src] of sources.entries()) {
        const slow = delay > 0 ? withReadDelay(src, delay) : src
        await copyTensors(slow, writers[k]!, plans[k]!, ctx, (f, n) => ctx.progress?.('export', (k + f) / sources.length, `${spec.tasks[k]!.task}: ${n}`))
      }
    } else {
      const { runMerge } = await import('../../merge/run')
      const models: TensorSource[] = []
      try {
        for (const m of input.merge.models) models.push(await openModel(m))
        // the method writes all N models; the ones not asked for are discarded
        const sinks = input.merge.models.map(() => new DiscardSink() as TensorSink)
        for (const [k, t] of spec.tasks.entries()) sinks[t.index] = delayedSink(writers[k]!, delay)
        await runMerge({ method: input.merge.method, params: input.merge.params, seed: input.merge.seed, pool: { base, models, names: input.merge.names }, sinks, ctx })
      } finally {
        for (const m of models) await m.close?.()
      }
    }
    if (single) {
      const r = await single.commit()
      return { outDir: r.outDir, files: r.files, shards: r.shards, totalSize: r.totalSize, tasks: [spec.tasks[0]!.task] }
    }
    const r = await set!.commit()
    return {
      outDir: r.outDir, files: r.tasks.flatMap((t) => t.files.map((f) => `${t.dir}/${f}`)), shards: r.tasks.reduce((a, t) => a + t.shards, 0),
      totalSize: r.tasks.reduce((a, t) => a + t.totalSize, 0), tasks: r.tasks.map((t) => t.task),
    }
  } catch (e) {
    await single?.abort()
    await set?.abort()
    throw e
  } finally {
    for (const src of sources) await src.close?.()
  }
}
