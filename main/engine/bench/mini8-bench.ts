// The main job: merge the mini-8 pool with each method, evaluate every merged model on the eight
// test sets, and return rows in the seed papers' shape (reference rows first).
import type { BenchReport, BenchRow, MethodInfo } from '#common/types'
import { AmalgamError } from '#common/errors'
import { openModel } from '../checkpoints/open'
import { evaluate } from '../benchmark/evaluate'
import { loadMini8, type Mini8 } from '../benchmark/mini8'
import { listMethods } from '../merge/registry'
import { mini8MergeData } from '../merge/data-mini8'
import { memoryMergeCache, modelContentKey, type PoolContentKeys } from '../merge/cache'
import { sha256File } from '../util/hash'
import type { ModelPool } from '../merge/types'
import { MemorySource, type TensorSource } from '../tensors/source'
import type { TaskCtx } from '../util/task'
import { runMethods, type MethodRun } from './run-methods'

export type { MethodRun }
export interface BenchOptions {
  runs: MethodRun[]
  seed?: number
  split?: 'test' | 'val'
  /** ignore MINI8_PRESETS and run every method at its own (FusionBench) defaults */
  pureDefaults?: boolean
  onRow?(row: BenchRow): void
  onError?(method: string, e: unknown): void
  onSkip?(method: string, why: string): void
}

/**
 * Benchmark presets: parameters mini-8 runs with unless the user sets them. FusionBench's 1000
 * AdaMerging steps are tuned for CLIP on eight large test sets; on mini-8's 500-image test sets the
 * layer-wise variant overfits the entropy objective (45.8 % avg at 1000 steps vs 60.6 % at 200) and
 * each run takes 10–14 minutes on two cores. WUDI's Adam moves each entry by about lr per step
 * whatever the weights' scale: FusionBench's lr 1e-5 × 400 steps (≤ 4e-3) barely leaves the
 * unscaled Σ τ start on mini-8 (37.3 %); 1e-4 reaches 64.0 % (1e-3: 63.6, 1e-2: 63.8).
 * docs/benchmarks.md records both.
 */
export const MINI8_PRESETS: Record<string, Record<string, unknown>> = {
  task_wise_adamerging: { max_steps: 200 },
  layer_wise_adamerging: { max_steps: 200 },
  layer_wise_adamerging_doge_ta: { max_steps: 200 },
  wudi: { lr: 1e-4 },
}

/** Methods `--method all` runs: everything registered (data-dependent ones are fed by mini8MergeData). */
export function benchMethods(): MethodInfo[] {
  return listMethods()
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

/** Content keys of the pool's models (sha256 of their weight files) for the run's merge cache. */
export async function mini8ContentKeys(bench: Mini8): Promise<PoolContentKeys> {
  const key = async (dir: string): Promise<string> => {
    const m = await openModel(dir)
    try { return modelContentKey(await Promise.all(m.files.map((f) => sha256File(f)))) } finally { await m.close?.() }
  }
  return { base: await key(bench.pretrainedDir), models: await Promise.all(bench.tasks.map((t) => key(bench.expertDirs[t]))) }
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
  const individual = bench.individualAccuracy(o.split ?? 'test')
  const runs = o.runs.map((r) => (o.pureDefaults ? r : { ...r, params: { ...(MINI8_PRESETS[r.method] ?? {}), ...(r.params ?? {}) } }))
  rows.push(...(await runMethods({
    runs, pool, tasks: [...bench.tasks], seed: o.seed,
    // one in-memory cache for the whole run: LOT, RegMean and CAT share the experts' activation statistics
    mergeExtras: { data: mini8MergeData(bench), cache: memoryMergeCache(await mini8ContentKeys(bench)) },
    evaluate: (model, c) => evaluate(model, { bench, split: o.split, individual }, c),
    onRow: o.onRow, onError: o.onError, onSkip: o.onSkip,
  }, ctx)))
  return { benchmark: 'mini8', tasks: [...bench.tasks], rows }
}
