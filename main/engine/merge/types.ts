// The contract between the merge runner and the merge methods. A method reads a pool of models
// tensor by tensor and writes merged tensors to one sink (or one sink per task for the
// per-task methods EMR and TALL masks); the runner owns validation, progress and diagnostics.
import type { MethodInfo } from '#common/types'
import type { TensorSink, TensorSource } from '../tensors/source'
import type { TaskCtx } from '../util/task'
import type { MergeData } from './data'
import type { MergeCache } from './cache'

/** θ0 and the fine-tuned models θ_1..θ_N, in the order the user gave them (methods.md §29). */
export interface ModelPool {
  base: TensorSource
  models: TensorSource[]
  /** task names, one per model (used in diagnostics and per-task outputs); defaults to model labels */
  names?: string[]
}

/** Parameter values after validation: every declared parameter present, defaults filled in. */
export type ResolvedParams = Record<string, unknown>

/** Per-method diagnostics kept with the result (λ per layer, kept fractions, spectra, loss curves …). */
export class Diagnostics {
  readonly values: Record<string, unknown> = {}
  readonly perTensor: Record<string, Record<string, unknown>> = {}
  set(key: string, value: unknown): void { this.values[key] = value }
  tensor(name: string, value: Record<string, unknown>): void {
    this.perTensor[name] = { ...(this.perTensor[name] ?? {}), ...value }
  }
  toJSON(): Record<string, unknown> {
    return Object.keys(this.perTensor).length ? { ...this.values, perTensor: this.perTensor } : { ...this.values }
  }
}

/** Everything a method needs for one run. */
export interface MergeJob<P extends ResolvedParams = ResolvedParams> {
  method: string
  pool: ModelPool
  params: P
  seed: number
  /** one sink for single-model methods; one per task (pool order) for perTask methods */
  sinks: TensorSink[]
  ctx: TaskCtx
  diag: Diagnostics
  /** filled by the streaming helpers: tensors merged vs copied unchanged (integer buffers) */
  stats: { merged: number; copied: number }
  /** exemplars, evaluation images and heads for the data-dependent methods (merge/data.ts) */
  data?: MergeData
  /** content-keyed cache shared with other runs on the same pool (merge/cache.ts); absent: compute everything */
  cache?: MergeCache
}

export interface MergeMethod<P extends ResolvedParams = ResolvedParams> {
  info: MethodInfo
  /** cross-parameter and pool constraints (e.g. SLERP needs exactly two models); throw BAD_PARAM */
  check?(params: P, pool: ModelPool): void
  merge(job: MergeJob<P>): Promise<void>
}

export interface MergeResult {
  method: string
  params: ResolvedParams
  seed: number
  /** number of output models written (N for perTask methods, else 1) */
  outputs: number
  taskNames: string[]
  tensors: { merged: number; copied: number }
  seconds: number
  diagnostics: Record<string, unknown>
}

/** Helper so that method files keep their parameter object typed. */
export function defineMethod<P extends ResolvedParams>(m: MergeMethod<P>): MergeMethod<P> { return m }
