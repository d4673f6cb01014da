// An in-memory engine implementing the whole contract, for store tests (and UI previews). Jobs do
// not run by themselves: tests drive them with step()/finish() so progress and cancel are deterministic.
import type { CallCtx, EngineEvents, EventName, Handlers, In, RunRequest } from '#common/contract'
import type { CompareTable, ExperimentRecord, JobInfo, MethodInfo, PoolRecord, WorkspaceInfo } from '#common/types'
import { AmalgamError } from '#common/errors'

export const TASKS = ['mnist', 'fashion', 'kmnist', 'digits', 'letters', 'shapes', 'texture', 'uci']

export const METHODS: MethodInfo[] = [
  {
    name: 'task_arithmetic', title: 'Task Arithmetic', family: 'data-free',
    description: 'Adds the scaled sum of task vectors to the base.', citation: 'Ilharco et al., ICLR 2023',
    params: [{ name: 'scaling_coef', type: 'number', default: 0.3, min: 0, max: 2, description: 'λ applied to the summed task vectors' }],
    presets: [{ name: 'paper', params: { scaling_coef: 0.3 } }],
  },
  {
    name: 'ties_merging', title: 'TIES-Merging', family: 'data-free',
    description: 'Trim, elect sign, disjoint merge.', citation: 'Yadav et al., NeurIPS 2023',
    params: [
      { name: 'scaling_coef', type: 'number', default: 0.3, min: 0, max: 2, description: 'λ' },
      { name: 'threshold', type: 'number', default: 0.2, min: 0, max: 1, description: 'fraction of entries kept per task vector' },
      { name: 'merge_func', type: 'enum', default: 'sum', choices: ['sum', 'mean', 'max'], description: 'disjoint merge' },
    ],
  },
]

type Emit = <E extends EventName>(name: E, payload: EngineEvents[E]) => void

export interface FakeEngine extends Handlers {
  emitter: { emit: Emit | null }
  experiments: ExperimentRecord[]
  jobs: Map<string, JobInfo & { cancelled?: boolean }>
  /** advance a running job */
  step(jobId: string, fraction: number, stage?: string): void
  finish(jobId: string, status?: 'done' | 'failed'): void
  seedExperiments(n: number): void
  calls: string[]
}

export function createFakeEngine(): FakeEngine {
  let ws: WorkspaceInfo | null = null
  const recent: string[] = []
  const pools: PoolRecord[] = []
  const experiments: ExperimentRecord[] = []
  const jobs = new Map<string, JobInfo & { cancelled?: boolean }>()
  const calls: string[] = []
  const emitter: { emit: Emit | null } = { emit: null }
  let n = 0
  const emit: Emit = (name, payload) => emitter.emit?.(name, payload)
  const needWs = () => { if (!ws) throw new AmalgamError('NOT_FOUND', 'no workspace is open') }
  const rec = (id: string, method: string, params: Record<string, unknown>, i: number): ExperimentRecord => ({
    id, name: `${method}-${i}`, method, params, seed: 0, poolId: pools[0]?.id ?? 'p', benchmark: 'mini8', status: 'done',
    createdAt: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(), durationMs: 1000 + i, engineVersion: '0.1.0', backend: 'cpu',
    metrics: Object.fromEntries(TASKS.map((t, k) => [t, ((i * 7 + k * 13) % 50) / 100 + 0.45])),
    average: 0.5 + (i % 40) / 100, normalized: 0.6 + (i % 30) / 100, tags: i % 10 === 0 ? ['ten'] : [], starred: false, artifactDir: `/ws/runs/${id}/model`,
  })

  const startJob = (req: RunRequest, ctx: CallCtx): { jobId: string; experimentId: string } => {
    needWs()
    if (!pools.some((p) => p.id === req.poolId)) throw new AmalgamError('NOT_FOUND', `pool ${req.poolId} not found`)
    if (!METHODS.some((m) => m.name === req.method)) throw new AmalgamError('BAD_PARAM', `unknown method ${req.method}`)
    const jobId = `j${++n}`, experimentId = `e${n}`
    const r = rec(experimentId, req.method, req.params ?? {}, experiments.length)
    r.status = 'running'; r.name = req.name ?? r.name; r.metrics = null; r.average = null; r.normalized = null
    experiments.push(r)
    jobs.set(jobId, { id: jobId, kind: 'merge', experimentId, status: 'running', stage: 'merge', fraction: 0 })
    void ctx
    return { jobId, experimentId }
  }

  const h: Handlers = {
    'engine.status': async () => ({ version: '0.1.0', node: 'v20.20.2', platform: 'linux x64', tensorBackend: 'wasm', tensorBackendReason: 'fake', wasmSimd: true, wasmThreads: 1, gpu: null, native: { loaded: true, blas: 'OpenBLAS', threads: 2 }, threads: 2, memory: { totalBytes: 24e9, rssBytes: 3e8 } }),
    'methods.list': async () => structuredClone(METHODS),
    'checkpoints.inspect': async ({ path }) => {
      if (!path.startsWith('/')) throw new AmalgamError('BAD_FILE', `${path}: not found`)
      return { path, format: 'hf-folder', files: ['model.safetensors'], shards: 1, tensorCount: 10, parameterCount: 1000, bytes: 4000, dtypes: { F32: 10 } }
    },
    'checkpoints.hash': async ({ path }) => ({ files: [{ file: `${path}/model.safetensors`, sha256: 'ab'.repeat(32), bytes: 4000 }] }),
    'checkpoints.check': async ({ base, models }) => {
      const bad = models.filter((m) => m.includes('bad'))
      return { ok: bad.length === 0, base, models, tensorCount: 10, parameterCount: 1000, dtypeMix: {}, estimatedPeakBytes: 1e6,
        issues: bad.map((m) => ({ kind: 'shape' as const, model: m, tensor: 'w', detail: 'shape [4,3] ≠ base [3,4]' })) }
    },
    'workspace.current': async () => ws,
    'workspace.open': async ({ dir, create }) => {
      if (!create && !recent.includes(dir)) throw new AmalgamError('NOT_FOUND', `${dir}: not an Amalgam workspace`)
      ws = { dir, name: dir.split('/').pop()!, schemaVersion: 1, experiments: experiments.length, pools: pools.length, cacheBytes: 0 }
      if (!recent.includes(dir)) recent.unshift(dir)
      emit('workspace.changed', { dir })
      return ws
    },
    'workspace.recent': async () => [...recent],
    'workspace.clearCache': async () => ({ freedBytes: 0 }),
    'pools.list': async () => { needWs(); return structuredClone(pools) },
    'pools.add': async ({ name, base, models }) => {
      needWs()
      const p = { id: `p${++n}`, name, base, models, createdAt: new Date().toISOString() }
      pools.push(p); ws!.pools = pools.length
      return p
    },
    'pools.addBenchmark': async () => {
      needWs()
      const p = { id: `p${++n}`, name: 'mini8', base: '/res/mini8/pretrained', models: TASKS.map((t) => `/res/mini8/${t}`), createdAt: new Date().toISOString(), benchmark: 'mini8' }
      pools.push(p); ws!.pools = pools.length
      return p
    },
    'pools.similarity': async ({ poolId }) => {
      const p = pools.find((x) => x.id === poolId)
      if (!p) throw new AmalgamError('NOT_FOUND', `pool ${poolId} not found`)
      const k = p.models.length
      return { models: p.models, cosine: Array.from({ length: k }, (_, i) => Array.from({ length: k }, (_, j) => (i === j ? 1 : 0.1 + ((i + j) % 5) / 20))), layerNorms: [{ tensor: 'layer0', norms: p.models.map((_, i) => 1 + i / 10) }] }
    },
    'runs.start': async (req, ctx) => startJob(req, ctx),
    'runs.sweep': async (req, ctx) => {
      const [key, values] = Object.entries(req.grid)[0]
      return values.map((v) => startJob({ ...req, params: { ...req.params, [key]: v } }, ctx))
    },
    'jobs.list': async () => [...jobs.values()].map(({ cancelled: _c, ...j }) => j),
    'jobs.cancel': async ({ jobId }) => {
      const j = jobs.get(jobId)
      if (!j) throw new AmalgamError('NOT_FOUND', `job ${jobId} not found`)
      if (j.status !== 'running' && j.status !== 'queued') return { cancelled: false }
      j.cancelled = true; j.status = 'cancelled'
      const e = experiments.find((x) => x.id === j.experimentId); if (e) e.status = 'cancelled'
      emit('job.done', { jobId, experimentId: j.experimentId, status: 'cancelled' })
      return { cancelled: true }
    },
    'experiments.list': async (q) => {
      let rows = experiments.filter((e) =>
        (!q.search || `${e.name} ${e.method} ${e.tags.join(' ')}`.toLowerCase().includes(q.search.toLowerCase())) &&
        (!q.method || e.method === q.method) && (!q.status || e.status === q.status) && (!q.tag || e.tags.includes(q.tag)) && (!q.starred || e.starred))
      const key = q.sort ?? 'createdAt'
      const val = (e: ExperimentRecord): number | string => key.startsWith('metrics.') ? e.metrics?.[key.slice(8)] ?? -1 : ((e as unknown as Record<string, number | string>)[key] ?? '')
      rows = [...rows].sort((a, b) => (val(a) < val(b) ? -1 : val(a) > val(b) ? 1 : 0) * (q.desc ? -1 : 1))
      const off = q.offset ?? 0
      return { total: rows.length, rows: structuredClone(rows.slice(off, off + (q.limit ?? 100))) }
    },
    'experiments.get': async ({ id }) => {
      const e = experiments.find((x) => x.id === id)
      if (!e) throw new AmalgamError('NOT_FOUND', `experiment ${id} not found`)
      return { ...structuredClone(e), recipe: `method: ${e.method}\n` }
    },
    'experiments.update': async ({ id, ...patch }) => {
      const e = experiments.find((x) => x.id === id)
      if (!e) throw new AmalgamError('NOT_FOUND', `experiment ${id} not found`)
      Object.assign(e, Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)))
      return structuredClone(e)
    },
    'experiments.compare': async ({ ids, reference }) => {
      const rs = ids.map((id) => experiments.find((x) => x.id === id) ?? (() => { throw new AmalgamError('NOT_FOUND', `experiment ${id} not found`) })())
      const bestPerTask: Record<string, string> = {}
      for (const t of TASKS) { let b = rs[0]; for (const r of rs) if ((r.metrics?.[t] ?? 0) > (b.metrics?.[t] ?? 0)) b = r; bestPerTask[t] = b.id }
      const table: CompareTable = {
        tasks: TASKS,
        rows: rs.map((r) => ({ id: r.id, name: r.name, method: r.method, params: r.params, accuracy: r.metrics ?? {}, average: r.average ?? null, normalized: r.normalized ?? null, best: Object.values(bestPerTask).filter((x) => x === r.id).length })),
        bestPerTask,
        paramDiff: [],
      }
      if (reference) table.reference = [{ name: 'Pretrained', kind: 'pretrained', accuracy: Object.fromEntries(TASKS.map((t) => [t, 0.3])), average: 0.3, normalized: 0.35, seconds: 1 }]
      return table
    },
    'experiments.export': async ({ id, out }) => {
      if (!experiments.some((x) => x.id === id)) throw new AmalgamError('NOT_FOUND', `experiment ${id} not found`)
      const jobId = `j${++n}`
      jobs.set(jobId, { id: jobId, kind: 'export', experimentId: id, status: 'running', stage: `export → ${out}`, fraction: 0 })
      return { jobId }
    },
    'experiments.cardPreview': async ({ id, task }) => ({ markdown: `---\nbase_model: pretrained\ntags: [merge, amalgam]\n---\n# ${id}${task ? ` · ${task}` : ''}\n` }),
    'bench.reference': async () => ({ benchmark: 'mini8', tasks: TASKS, rows: [] }),
    'eval.model': async ({ experimentId }) => ({ benchmark: 'mini8', tasks: TASKS, perTask: {}, average: 0.5, seconds: 1, ...{ experimentId: undefined } }),
  }

  // record every call (tests assert on what the stores asked for)
  const recorded = Object.fromEntries(Object.entries(h).map(([m, fn]) => [m, async (p: In<never>, c: CallCtx) => { calls.push(m); return (fn as (p: unknown, c: CallCtx) => Promise<unknown>)(p, c) }])) as unknown as Handlers

  return Object.assign(recorded, {
    emitter, experiments, jobs, calls,
    step(jobId: string, fraction: number, stage = 'merge') {
      const j = jobs.get(jobId)!
      j.fraction = fraction; j.stage = stage
      emit('job.progress', { jobId, experimentId: j.experimentId, stage, fraction, etaSeconds: 10 * (1 - fraction) })
      emit('job.log', { jobId, line: `${stage} ${Math.round(fraction * 100)}%` })
    },
    finish(jobId: string, status: 'done' | 'failed' = 'done') {
      const j = jobs.get(jobId)!
      j.status = status; j.fraction = 1
      const e = experiments.find((x) => x.id === j.experimentId)
      if (e && j.kind === 'merge') Object.assign(e, rec(e.id, e.method, e.params, experiments.indexOf(e)), { status, name: e.name })
      emit('job.done', { jobId, experimentId: j.experimentId, status, error: status === 'failed' ? { code: 'INTERNAL', message: 'boom' } : undefined })
    },
    seedExperiments(k: number) {
      for (let i = 0; i < k; i++) experiments.push(rec(`s${i}`, i % 2 ? 'ties_merging' : 'task_arithmetic', i % 2 ? { scaling_coef: 0.3, threshold: 0.2 } : { scaling_coef: (i % 10) / 10 }, i))
    },
  })
}
