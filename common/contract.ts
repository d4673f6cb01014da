// The one contract between the renderer (or any client) and the engine host.
// Every method here must have a handler (createEngine returns Handlers, so tsc enforces it)
// and a runtime validator in ./validate.ts (the renderer is untrusted).
import type {
  BackendReport, BenchReport, CheckpointInfo, CompareTable, EvalResult, ExperimentRecord, FloatOutDType,
  HistoryQuery, JobInfo, MethodInfo, PoolCheck, PoolRecord, WorkspaceInfo,
} from './types'
import type { WireError } from './errors'

export interface RunRequest {
  poolId: string
  method: string
  params?: Record<string, unknown>
  seed?: number
  name?: string
  tags?: string[]
  /** keep the merged model in runs/<id>/model (otherwise only metrics are kept) */
  keepModel?: boolean
  evaluate?: boolean
}

export interface EngineMethods {
  'engine.status': { in: void; out: BackendReport }
  'methods.list': { in: void; out: MethodInfo[] }
  'checkpoints.inspect': { in: { path: string; tensors?: boolean }; out: CheckpointInfo }
  'checkpoints.check': { in: { base: string; models: string[]; scanNonFinite?: boolean }; out: PoolCheck }
  /** SHA-256 of each weight file of a checkpoint (model cards in the pool view; reads every byte) */
  'checkpoints.hash': { in: { path: string }; out: { files: Array<{ file: string; sha256: string; bytes: number }> } }

  'workspace.current': { in: void; out: WorkspaceInfo | null }
  'workspace.open': { in: { dir: string; create?: boolean }; out: WorkspaceInfo }
  'workspace.recent': { in: void; out: string[] }
  'workspace.clearCache': { in: void; out: { freedBytes: number } }

  'pools.list': { in: void; out: PoolRecord[] }
  'pools.add': { in: { name: string; base: string; models: string[] }; out: PoolRecord }
  'pools.addBenchmark': { in: { benchmark: 'mini8' }; out: PoolRecord }
  'pools.similarity': { in: { poolId: string }; out: { models: string[]; cosine: number[][]; layerNorms: Array<{ tensor: string; norms: number[] }> } }

  'runs.start': { in: RunRequest; out: { jobId: string; experimentId: string } }
  'runs.sweep': { in: RunRequest & { grid: Record<string, unknown[]> }; out: Array<{ jobId: string; experimentId: string }> }
  'jobs.list': { in: void; out: JobInfo[] }
  'jobs.cancel': { in: { jobId: string }; out: { cancelled: boolean } }

  'experiments.list': { in: HistoryQuery; out: { total: number; rows: ExperimentRecord[] } }
  'experiments.get': { in: { id: string }; out: ExperimentRecord & { recipe: string; diagnostics?: unknown; log?: string } }
  'experiments.update': { in: { id: string; tags?: string[]; note?: string; starred?: boolean; name?: string }; out: ExperimentRecord }
  'experiments.compare': { in: { ids: string[]; reference?: boolean }; out: CompareTable }
  /** per-task experiments (EMR, TALL masks): all N models as out/<task>/, or with `task` that one model as out/ */
  'experiments.export': { in: { id: string; out: string; dtype?: FloatOutDType; shardBytes?: number; task?: string }; out: { jobId: string } }
  /** with `task`: the card of that task's model of a per-task experiment */
  'experiments.cardPreview': { in: { id: string; task?: string }; out: { markdown: string } }

  'bench.reference': { in: { benchmark: 'mini8' }; out: BenchReport }
  'eval.model': { in: { experimentId: string }; out: EvalResult }
}

export interface EngineEvents {
  'job.progress': { jobId: string; experimentId?: string; stage: string; fraction: number; etaSeconds?: number | null; message?: string }
  'job.log': { jobId: string; line: string }
  'job.done': { jobId: string; experimentId?: string; status: 'done' | 'failed' | 'cancelled'; error?: WireError }
  'engine.restarted': { reason: string }
  'workspace.changed': { dir: string }
}

/** What only the desktop shell can do. Browser mode supplies a fallback with the same type. */
export interface DesktopApi {
  kind: 'electron' | 'browser'
  pickDirectory(title?: string): Promise<string | null>
  pickCheckpoints(): Promise<string[]>
  reveal(path: string): Promise<void>
  setProgress(fraction: number | null): Promise<void>
}

export type Method = keyof EngineMethods
export type In<M extends Method> = EngineMethods[M]['in']
export type Out<M extends Method> = EngineMethods[M]['out']
export type EventName = keyof EngineEvents

export interface CallCtx { emit<E extends EventName>(name: E, payload: EngineEvents[E]): void }
export type Handlers = { [M in Method]: (params: In<M>, ctx: CallCtx) => Promise<Out<M>> }
