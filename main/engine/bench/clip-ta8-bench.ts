// The FusionBench eight-task CLIP comparison from local files (docs/clip-ta8.md): the vision
// towers are merged, the text tower and projections come from the base, zero-shot heads are built
// once and cached. Reference rows: the pretrained vision tower and each fine-tuned expert on its task.
import type { BenchReport, BenchRow } from '#common/types'
import { openClipPool } from '../clip/pool'
import { evaluateClipTasks } from '../clip/evaluate'
import { ta8Layout, type Ta8Model } from '../clip/ta8'
import { normalizedAccuracy } from '../benchmark/evaluate'
import type { TaskCtx } from '../util/task'
import { rowFromEval, runMethods, type MethodRun } from './run-methods'
import type { BenchRow as Row } from '#common/types'

export interface ClipTa8Options {
  dataDir: string
  model?: Ta8Model
  runs: MethodRun[]
  seed?: number
  /** evaluate only the first N test images per task (smoke runs) */
  limit?: number
  batchSize?: number
  cacheDir?: string
  /** evaluate the pretrained model and the experts too (slow on CPU: 9 extra evaluations) */
  reference?: boolean
  onRow?(row: BenchRow): void
  onError?(method: string, e: unknown): void
  onSkip?(method: string, why: string): void
}

export async function runClipTa8Bench(o: ClipTa8Options, ctx: TaskCtx = {}): Promise<BenchReport> {
  const layout = ta8Layout(o.dataDir, o.model)
  const tasks = layout.tasks.map((t) => ({ ...t, limit: o.limit }))
  const names = tasks.map((t) => t.name)
  const pool = await openClipPool(layout.base, layout.experts)
  const rows: Row[] = []
  let expertAccuracy = layout.expertAccuracy
  const evaluate = (model: Parameters<typeof evaluateClipTasks>[0]['visionModel'], c: TaskCtx) =>
    evaluateClipTasks({ visionModel: model, base: layout.base, tasks, batchSize: o.batchSize, cacheDir: o.cacheDir, expertAccuracy, benchmark: 'clip-ta8' }, c)
  try {
    if (o.reference) {
      const pre = rowFromEval('pretrained', 'pretrained', await evaluate(pool.base, ctx))
      o.onRow?.(pre)
      const ind = await evaluate((task: string) => pool.models[names.indexOf(task)], ctx)
      expertAccuracy = Object.fromEntries(names.map((t) => [t, ind.perTask[t].accuracy]))
      // every row is normalised against the experts measured in this run, the pretrained one too
      // (it was evaluated before those accuracies existed)
      pre.normalized = normalizedAccuracy(pre.accuracy, expertAccuracy)
      const indRow = rowFromEval('Individual', 'expert', ind, { normalized: normalizedAccuracy(expertAccuracy, expertAccuracy) })
      rows.push(pre, indRow)
      o.onRow?.(indRow)
    }
    rows.push(...(await runMethods({ runs: o.runs, pool: { base: pool.base, models: pool.models, names }, tasks: names, seed: o.seed, evaluate, onRow: o.onRow, onError: o.onError, onSkip: o.onSkip }, ctx)))
  } finally {
    await pool.close()
  }
  return { benchmark: 'clip-ta8', tasks: names, rows }
}
