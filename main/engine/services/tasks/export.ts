// The export task: writes a Hugging Face folder for an experiment, atomically. From the kept model
// when the run kept one; otherwise the merge is replayed from the recipe straight into the folder
// (the seed and resolved parameters make it the same model).
import type { FloatOutDType } from '#common/types'
import type { ModelCardInput } from '../../checkpoints/model-card'
import type { TensorMeta, TensorSource } from '../../tensors/source'
import type { TaskCtx } from '../../util/task'
import { delayedSink, testTensorDelayMs } from './sinks'

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
}

export interface ExportTaskOutput { outDir: string; files: string[]; shards: number; totalSize: number }

export async function runExportTask(input: ExportTaskInput, ctx: TaskCtx): Promise<ExportTaskOutput> {
  const [{ openModel }, { HfFolderWriter, exportModel }] = await Promise.all([import('../../checkpoints/open'), import('../../checkpoints/export')])
  const common = {
    outDir: input.out, dtype: input.dtype, shardBytes: input.shardBytes, recipeYaml: input.recipeYaml,
    card: input.card, extraFiles: input.extraFiles, metadata: input.metadata,
  }
  const base = await openModel(input.merge.base)
  const delay = testTensorDelayMs()
  try {
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
