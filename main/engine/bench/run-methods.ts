// The method loop shared by every benchmark: merge with each method (one output, or one per task
// for per-task methods) into memory, evaluate, and turn the result into a table row.
import type { BenchRow, EvalResult } from '#common/types'
import { getMethod } from '../merge/registry'
import { runMerge } from '../merge/run'
import { validateParams } from '../merge/schema'
import type { ModelPool } from '../merge/types'
import { MemorySink, type TensorSource } from '../tensors/source'
import type { TaskCtx } from '../util/task'

export interface MethodRun { method: string; params?: Record<string, unknown> }
export type ModelForEval = TensorSource | ((task: string) => TensorSource)

export interface RunMethodsOptions {
  runs: MethodRun[]
  pool: ModelPool
  tasks: string[]
  seed?: number
  evaluate(model: ModelForEval, ctx: TaskCtx): Promise<EvalResult>
  /** extra runMerge options (e.g. a data provider for data-dependent methods) */
  mergeExtras?: Record<string, unknown>
  onRow?(row: BenchRow): void
  onError?(method: string, e: unknown): void
  /** methods whose pool constraints this pool does not meet (SLERP needs exactly 2 models …) */
  onSkip?(method: string, why: string): void
}

export function rowFromEval(name: string, kind: BenchRow['kind'], r: EvalResult, extra: Partial<BenchRow> = {}): BenchRow {
  return {
    name, kind, accuracy: Object.fromEntries(r.tasks.map((t) => [t, r.perTask[t].accuracy])),
    average: r.average, normalized: r.normalized ?? null, seconds: r.seconds, ...extra,
  }
}

export async function runMethods(o: RunMethodsOptions, ctx: TaskCtx = {}): Promise<BenchRow[]> {
  const rows: BenchRow[] = []
  for (const r of o.runs) {
    try {
      const t0 = performance.now()
      const m = getMethod(r.method)
      if (o.onSkip && m.check) {
        // a pool the method cannot take (e.g. SLERP with 8 models) is not a failure of the method
        try { m.check(validateParams(m.info, r.params ?? {}), o.pool) } catch (e) { o.onSkip(r.method, e instanceof Error ? e.message : String(e)); continue }
      }
      const perTask = m.info.perTask === true
      const sinks = perTask ? o.tasks.map(() => new MemorySink()) : [new MemorySink()]
      const res = await runMerge({
        method: r.method, params: r.params, seed: o.seed ?? 0, pool: o.pool, ctx, ...(o.mergeExtras ?? {}),
        ...(perTask ? { sinks } : { sink: sinks[0] }),
      })
      const model: ModelForEval = perTask ? (task: string) => sinks[o.tasks.indexOf(task)].toSource(`${r.method}:${task}`) : sinks[0].toSource(r.method)
      const ev = await o.evaluate(model, ctx)
      const row = rowFromEval(r.method, 'method', ev, { method: r.method, params: res.params })
      row.seconds = (performance.now() - t0) / 1000
      rows.push(row)
      o.onRow?.(row)
    } catch (e) {
      if (o.onError) o.onError(r.method, e)
      else throw e
    }
  }
  return rows
}
