// The main job: merge the mini-8 pool with each method, evaluate every merged model on the eight
// test sets, and return rows in the seed papers' shape (reference rows first).
import type { BenchReport, BenchRow, MethodInfo } from '#common/types'
import { AmalgamError } from '#common/errors'
import { openModel } from '../checkpoints/open'
import { evaluate, toBenchRow } from '../benchmark/evaluate'
import { loadMini8, type Mini8 } from '../benchmark/mini8'
import { listMethods } from '../merge/registry'
import { runMerge } from '../merge/run'
import { mini8MergeData } from '../merge/data-mini8'
import type { ModelPool } from '../merge/types'
import { MemorySink, MemorySource, type TensorSource } from '../tensors/source'
import type { TaskCtx } from '../util/task'

export interface MethodRun { method: string; params?: Record<string, unknown> }
export interface BenchOptions { runs: MethodRun[]; seed?: number; split?: 'test' | 'val'; onRow?(row: BenchRow): void; onError?(method: string, e: unknown): void }

/** Methods `--method all` runs: everything registered that the benchmark can feed. */
export function benchMethods(): MethodInfo[] {
  // data-dependent methods are fed by mini8MergeData (exemplars, test images, heads)
  return listMethods().filter((m) => m.family === 'data-free' || m.family === 'data-dependent')
}

/** Read a whole model into memory once: mini-8 models are small and every method re-reads them. */
async function loadAll(src: TensorSource): Promise<TensorSource> {
  const t = new Map<string, { shape: number[]; data: Float32Array }>()
  for (const n of src.names()) {
    const m = src.meta(n)
    if (m.dtype === 'F32' || m.dtype === 'F16' || m.dtype === 'BF16' || m.dtype === 'F64') t.set(n, { shape: m.shape, data: await src.readF32(n) })
  }
  await src.close?.()
  return new MemorySource(t, src.label)
}

export async function mini8Pool(bench: Mini8): Promise<ModelPool> {
  const base = await loadAll(await openModel(bench.pretrainedDir))
  const models = await Promise.all(bench.tasks.map(async (t) => loadAll(await openModel(bench.expertDirs[t]))))
  return { base, models, names: [...bench.tasks] }
}

export async function referenceRows(bench: Mini8): Promise<BenchRow[]> {
  const ref = bench.reference()
  if (!ref) throw new AmalgamError('NOT_FOUND', `mini-8: ${bench.root}/reference.json is missing (run npm run build:mini8)`)
  return ref.rows
}

export async function runMini8Bench(o: BenchOptions, ctx: TaskCtx = {}): Promise<BenchReport> {
  const bench = await loadMini8()
  const rows: BenchRow[] = [...(await referenceRows(bench))]
  const pool = await mini8Pool(bench)
  const data = mini8MergeData(bench)
  const individual = bench.individualAccuracy(o.split ?? 'test')
  for (const r of o.runs) {
    try {
      const t0 = performance.now()
      const perTask = listMethods().find((m) => m.name === r.method)?.perTask
      const sinks = perTask ? bench.tasks.map(() => new MemorySink()) : [new MemorySink()]
      const res = await runMerge({ method: r.method, params: r.params, seed: o.seed ?? 0, pool, sink: perTask ? undefined : sinks[0], sinks: perTask ? sinks : undefined, ctx, data })
      const model = perTask ? (task: string) => sinks[bench.tasks.indexOf(task)].toSource(`${r.method}:${task}`) : sinks[0].toSource(r.method)
      const ev = await evaluate(model, { bench, split: o.split, individual }, ctx)
      const row = toBenchRow(r.method, 'method', ev, { method: r.method, params: res.params })
      row.seconds = (performance.now() - t0) / 1000
      rows.push(row)
      o.onRow?.(row)
    } catch (e) {
      if (o.onError) o.onError(r.method, e)
      else throw e
    }
  }
  return { benchmark: 'mini8', tasks: [...bench.tasks], rows }
}
