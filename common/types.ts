// Data shapes that cross the engine boundary (IPC, CLI --json, stored records).
// Pure TypeScript: no node:, electron or DOM imports (the "common" layer).

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL'
export type FloatOutDType = 'f32' | 'bf16' | 'f16'

export interface TensorHeader { name: string; dtype: DType; shape: number[]; bytes: number; file: string }

export interface CheckpointInfo {
  path: string
  format: 'safetensors' | 'hf-folder' | 'sharded-hf-folder'
  files: string[]
  shards: number
  tensorCount: number
  parameterCount: number
  bytes: number
  dtypes: Record<string, number>          // dtype → tensor count
  config?: { architectures?: string[]; modelType?: string; dtype?: string; hiddenSize?: number; layers?: number }
  metadata?: Record<string, string>
  tensors?: Array<Omit<TensorHeader, 'file'>>  // present on request (inspect --tensors)
}

export interface PoolCheckIssue { kind: 'missing' | 'extra' | 'shape' | 'dtype' | 'nonfinite' | 'unreadable'; model: string; tensor?: string; detail: string }
export interface PoolCheck {
  ok: boolean
  base: string
  models: string[]
  tensorCount: number
  parameterCount: number
  dtypeMix: Record<string, Record<string, number>>   // model path → dtype → count
  issues: PoolCheckIssue[]
  estimatedPeakBytes: number
}

export type ParamType = 'number' | 'integer' | 'boolean' | 'enum' | 'string' | 'number[]'
export interface ParamSpec {
  name: string
  type: ParamType
  default: unknown
  min?: number
  max?: number
  choices?: string[]
  description: string
  citation?: string
}
export interface MethodInfo {
  name: string
  title: string
  family: 'data-free' | 'data-dependent'
  description: string
  citation: string
  params: ParamSpec[]
  /** true when the method returns one model per task (EMR, TALL masks) */
  perTask?: boolean
  presets?: Array<{ name: string; params: Record<string, unknown>; note?: string }>
}

export interface BackendReport {
  version: string
  node: string
  platform: string
  tensorBackend: string          // 'tensorflow' | 'wasm' | 'cpu'
  tensorBackendReason: string
  wasmSimd?: boolean
  wasmThreads?: number
  gpu?: string | null
  native: { loaded: boolean; reason?: string; blas?: string; threads?: number }
  threads: number
  memory: { totalBytes: number; rssBytes: number }
}

export interface EvalTaskResult { accuracy: number; loss: number; n: number }
export interface EvalResult {
  benchmark: string
  tasks: string[]
  perTask: Record<string, EvalTaskResult>
  average: number
  normalized?: number
  seconds: number
}

export interface BenchRow {
  name: string
  kind: 'pretrained' | 'expert' | 'multitask' | 'method'
  method?: string
  params?: Record<string, unknown>
  accuracy: Record<string, number>
  average: number
  normalized: number | null
  seconds: number
}
export interface BenchReport { benchmark: string; tasks: string[]; rows: BenchRow[] }

export type ExperimentStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled'
export interface ExperimentRecord {
  id: string
  name: string
  method: string
  params: Record<string, unknown>
  seed: number
  poolId: string
  benchmark: string | null
  status: ExperimentStatus
  error?: string | null
  createdAt: string
  startedAt?: string | null
  endedAt?: string | null
  durationMs?: number | null
  engineVersion: string
  backend: string
  metrics?: Record<string, number> | null     // task → accuracy
  average?: number | null
  normalized?: number | null
  peakRssBytes?: number | null
  tags: string[]
  note?: string
  starred: boolean
  artifactDir?: string | null
  /** per-task methods (EMR, TALL masks) that kept their models: the task names, one folder each under artifactDir */
  keptTasks?: string[] | null
}

export interface PoolRecord { id: string; name: string; base: string; models: string[]; createdAt: string; benchmark?: string | null }
export interface WorkspaceInfo { dir: string; name: string; schemaVersion: number; experiments: number; pools: number; cacheBytes: number }

export interface JobInfo { id: string; kind: 'merge' | 'eval' | 'export' | 'bench'; experimentId?: string; status: ExperimentStatus; stage: string; fraction: number; etaSeconds?: number | null; startedAt?: string }

export interface HistoryQuery { search?: string; method?: string; status?: ExperimentStatus; tag?: string; starred?: boolean; sort?: string; desc?: boolean; limit?: number; offset?: number }

export interface CompareTable {
  tasks: string[]
  rows: Array<{ id: string; name: string; method: string; params: Record<string, unknown>; accuracy: Record<string, number>; average: number | null; normalized: number | null; best: number }>
  bestPerTask: Record<string, string>     // task → experiment id
  paramDiff: Array<{ key: string; values: Record<string, unknown> }>
  reference?: BenchRow[]
}
