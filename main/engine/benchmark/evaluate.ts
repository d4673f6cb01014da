// Evaluation on mini-8: the FusionBench protocol (§28.3) at small scale. Each task's images go
// through the (merged) vision tower; its frozen head scores them; top-1 accuracy and mean
// cross-entropy per task, the unweighted average, and normalised accuracy (merged ÷ Individual,
// per task, then averaged) against the stored expert accuracies.
import type { EvalResult, EvalTaskResult, BenchRow } from '#common/types'
import { AmalgamError } from '#common/errors'
import { type TaskCtx, throwIfCancelled, tick } from '../util/task'
import type { TensorSource } from '../tensors/source'
import { ClipVision } from '../model/clip-vision'
import { getModelTf } from '../model/tf'
import { embedSet, scoreWithHead } from './features'
import { loadMini8, type Mini8 } from './mini8'

export type ModelArg = TensorSource | ((task: string) => TensorSource | Promise<TensorSource>)

export interface EvaluateOptions {
  tasks?: string[]
  split?: 'test' | 'val'
  batchSize?: number
  /** the benchmark to use (default: loadMini8()) */
  bench?: Mini8
  /** denominators for `normalized`; default: the stored Individual accuracies of the split */
  individual?: Record<string, number> | null
}

export async function evaluate(model: ModelArg, opts: EvaluateOptions = {}, ctx?: TaskCtx): Promise<EvalResult> {
  const t0 = performance.now()
  await getModelTf()
  const bench = opts.bench ?? (await loadMini8())
  const split = opts.split ?? 'test'
  const tasks = opts.tasks ?? bench.tasks
  for (const t of tasks) if (!bench.tasks.includes(t)) throw new AmalgamError('BAD_PARAM', `evaluate: unknown mini-8 task ${t} (tasks: ${bench.tasks.join(', ')})`)
  const batch = opts.batchSize ?? 250
  if (!Number.isInteger(batch) || batch < 1) throw new AmalgamError('BAD_PARAM', `evaluate: batchSize must be a positive integer (got ${batch})`)
  const total = tasks.reduce((s, t) => s + bench.data(t, split).count, 0)
  let done = 0
  const perTask: Record<string, EvalTaskResult> = {}
  let shared: ClipVision | null = null
  try {
    if (typeof model !== 'function') shared = await ClipVision.load(bench.config, model, model.label)
    for (const task of tasks) {
      throwIfCancelled(ctx, 'evaluation')
      const set = bench.data(task, split)
      const head = await bench.head(task)
      let vm = shared
      if (!vm) {
        const src = await (model as (t: string) => TensorSource | Promise<TensorSource>)(task)
        vm = await ClipVision.load(bench.config, src, src.label)
      }
      try {
        const base = done
        const feats = await embedSet(vm, set, bench.manifest.imageSize, batch, async (k) => {
          ctx?.progress?.('evaluate', (base + k) / total, `${task} ${k}/${set.count}`)
          await tick()
          throwIfCancelled(ctx, 'evaluation')
        })
        if (feats.length / set.count !== head.dim) throw new AmalgamError('POOL_MISMATCH', `mini-8 head ${task} has dimension ${head.dim} but the model gives ${feats.length / set.count}`)
        const s = scoreWithHead(feats, set.labels, head)
        perTask[task] = { accuracy: s.correct / set.count, loss: s.lossSum / set.count, n: set.count }
      } finally {
        if (vm !== shared) vm.dispose()
      }
      done += set.count
      ctx?.log?.(`${task}: accuracy ${(perTask[task].accuracy * 100).toFixed(2)} %, loss ${perTask[task].loss.toFixed(4)}`)
    }
  } finally {
    shared?.dispose()
  }
  const average = tasks.reduce((s, t) => s + perTask[t].accuracy, 0) / tasks.length
  const ind = opts.individual !== undefined ? opts.individual : bench.individualAccuracy(split)
  const result: EvalResult = { benchmark: bench.name, tasks: [...tasks], perTask, average, seconds: (performance.now() - t0) / 1000 }
  const norm = normalizedAccuracy(Object.fromEntries(tasks.map((t) => [t, perTask[t].accuracy])), ind)
  if (norm !== null) result.normalized = norm
  return result
}

/** mean over tasks of accuracy ÷ Individual accuracy; null when a denominator is missing or zero */
export function normalizedAccuracy(acc: Record<string, number>, individual: Record<string, number> | null | undefined): number | null {
  if (!individual) return null
  const tasks = Object.keys(acc)
  if (tasks.length === 0 || tasks.some((t) => !(individual[t] > 0))) return null
  return tasks.reduce((s, t) => s + acc[t] / individual[t], 0) / tasks.length
}

export function toBenchRow(name: string, kind: BenchRow['kind'], r: EvalResult, extra: Partial<BenchRow> = {}): BenchRow {
  return {
    name, kind, accuracy: Object.fromEntries(r.tasks.map((t) => [t, r.perTask[t].accuracy])),
    average: r.average, normalized: r.normalized ?? null, seconds: r.seconds, ...extra,
  }
}
