import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { flush, setup, type Harness } from './harness'
import { createPinia, setActivePinia } from 'pinia'
import { useEngineStore } from '../../renderer/src/stores/engine'
import { useWorkspaceStore } from '../../renderer/src/stores/workspace'
import { usePoolsStore } from '../../renderer/src/stores/pools'
import { useJobsStore } from '../../renderer/src/stores/jobs'
import { useHistoryStore, PAGE } from '../../renderer/src/stores/history'
import { useCompareStore } from '../../renderer/src/stores/compare'
import { defaultsOf, paramError, useMethodsStore } from '../../renderer/src/stores/methods'
import { METHODS } from './fake-engine'

let h: Harness
beforeEach(() => { h = setup() })
afterEach(() => h.close())

async function withWorkspace() {
  const ws = useWorkspaceStore()
  expect(await ws.open('/tmp/ws1', true)).toBe(true)
  return ws
}

describe('engine store', () => {
  it('loads the status report', async () => {
    const s = useEngineStore()
    await s.refresh()
    expect(s.status?.tensorBackend).toBe('wasm')
    expect(s.status?.native.loaded).toBe(true)
    expect(s.error).toBeNull()
  })
  it('keeps the restart reason until dismissed', async () => {
    const s = useEngineStore()
    s.engineRestarted('exited with code 137')
    expect(s.restartNotice).toBe('exited with code 137')
    s.dismissRestart()
    expect(s.restartNotice).toBeNull()
  })
})

describe('workspace store', () => {
  it('creates a workspace, lists it as recent and sees it is fresh', async () => {
    const ws = await withWorkspace()
    expect(ws.current?.dir).toBe('/tmp/ws1')
    expect(ws.recent).toEqual(['/tmp/ws1'])
    expect(ws.isFresh).toBe(true)
  })
  it('shows the engine error with its code when opening a folder that is not a workspace', async () => {
    const ws = useWorkspaceStore()
    expect(await ws.open('/nope', false)).toBe(false)
    expect(ws.error).toBe('/nope: not an Amalgam workspace (NOT_FOUND)')
    expect(ws.current).toBeNull()
  })
})

describe('pools store', () => {
  it('adds the mini-8 benchmark and selects it', async () => {
    await withWorkspace()
    const pools = usePoolsStore()
    const p = await pools.addBenchmark()
    expect(p?.name).toBe('mini8')
    expect(pools.selected?.id).toBe(p!.id)
    expect(pools.pools).toHaveLength(1)
  })
  it('runs the pre-run check and adds nothing when it fails', async () => {
    await withWorkspace()
    const pools = usePoolsStore()
    expect(await pools.add('x', '/base', ['/m1', '/bad-model'])).toBeNull()
    expect(pools.check?.ok).toBe(false)
    expect(pools.check?.issues[0]).toMatchObject({ kind: 'shape', model: '/bad-model', tensor: 'w' })
    expect(h.fake.calls).not.toContain('pools.add')
    const ok = await pools.add('good', '/base', ['/m1', '/m2'])
    expect(ok?.name).toBe('good')
    expect(pools.pools.map((p) => p.name)).toEqual(['good'])
  })
  it('shows the field the engine rejected', async () => {
    await withWorkspace()
    const pools = usePoolsStore()
    await pools.checkPaths('/base', [])
    expect(pools.error).toBe('checkpoints.check: models must have at least 1 item (BAD_REQUEST)')
  })
  it('computes a model card hash on request', async () => {
    const pools = usePoolsStore()
    expect(await pools.hash('/m1')).toBe('ab'.repeat(32))
    expect(pools.hashes['/m1']).toBe('ab'.repeat(32))
  })
  it('keeps a per-path error card for unreadable checkpoints', async () => {
    const pools = usePoolsStore()
    await pools.inspect('relative/path')
    expect(pools.cards['relative/path']).toEqual({ error: 'relative/path: not found (BAD_FILE)' })
  })
})

describe('jobs store', () => {
  it('follows progress, logs and completion events and drives the taskbar', async () => {
    await withWorkspace()
    const pools = usePoolsStore()
    const p = (await pools.addBenchmark())!
    const jobs = useJobsStore()
    await jobs.init()
    const done: string[] = []
    jobs.onDone((e) => done.push(`${e.jobId}:${e.status}`))
    const r = (await jobs.start({ poolId: p.id, method: 'task_arithmetic', params: { scaling_coef: 0.3 }, name: 'ta' }))!
    expect(jobs.jobs[r.jobId]).toMatchObject({ label: 'ta', status: 'queued', experimentId: r.experimentId })
    h.fake.step(r.jobId, 0.4, 'merge')
    await flush()
    expect(jobs.jobs[r.jobId]).toMatchObject({ status: 'running', stage: 'merge', fraction: 0.4, etaSeconds: 6 })
    expect(jobs.jobs[r.jobId].log).toEqual(['merge 40%'])
    expect(jobs.active).toHaveLength(1)
    expect(h.progress.at(-1)).toBeCloseTo(0.4)
    h.fake.finish(r.jobId)
    await flush()
    expect(jobs.jobs[r.jobId].status).toBe('done')
    expect(jobs.active).toHaveLength(0)
    expect(h.progress.at(-1)).toBeNull()
    expect(done).toEqual([`${r.jobId}:done`])
  })
  it('cancels a running job and reports the cancellation from the engine event', async () => {
    await withWorkspace()
    const p = (await usePoolsStore().addBenchmark())!
    const jobs = useJobsStore()
    await jobs.init()
    const r = (await jobs.start({ poolId: p.id, method: 'ties_merging' }))!
    h.fake.step(r.jobId, 0.2)
    await flush()
    expect(await jobs.cancel(r.jobId)).toBe(true)
    await flush()
    expect(jobs.jobs[r.jobId].status).toBe('cancelled')
    expect(await jobs.cancel(r.jobId)).toBe(false)
  })
  it('queues a sweep as one job per grid point', async () => {
    await withWorkspace()
    const p = (await usePoolsStore().addBenchmark())!
    const jobs = useJobsStore()
    const rs = await jobs.sweep({ poolId: p.id, method: 'task_arithmetic', params: { scaling_coef: 0.3 }, grid: { scaling_coef: [0.1, 0.2, 0.3] } })
    expect(rs).toHaveLength(3)
    expect(jobs.list.map((j) => j.label)).toEqual(['task_arithmetic · scaling_coef 3/3', 'task_arithmetic · scaling_coef 2/3', 'task_arithmetic · scaling_coef 1/3'])
    expect(h.fake.experiments.map((e) => e.params.scaling_coef)).toEqual([0.1, 0.2, 0.3])
  })
  it('shows only active or known jobs from the engine, and forgets finished ones on a workspace switch', async () => {
    await withWorkspace()
    const p = (await usePoolsStore().addBenchmark())!
    const jobs = useJobsStore()
    await jobs.init()
    const a = (await jobs.start({ poolId: p.id, method: 'task_arithmetic', name: 'a' }))!
    const b = (await jobs.start({ poolId: p.id, method: 'task_arithmetic', name: 'b' }))!
    h.fake.finish(a.jobId)
    await flush()
    // a fresh page: the engine knows both, the page shows only the running one
    setActivePinia(createPinia())
    const fresh = useJobsStore()
    await fresh.init()
    expect(fresh.list.map((j) => j.id)).toEqual([b.jobId])
    // the first page switches workspace: the finished job goes, the running one stays
    jobs.resetFinished()
    expect(jobs.list.map((j) => j.id)).toEqual([b.jobId])
  })
  it('reports an engine rejection instead of queuing', async () => {
    await withWorkspace()
    const jobs = useJobsStore()
    expect(await jobs.start({ poolId: 'nope', method: 'task_arithmetic' })).toBeNull()
    expect(jobs.error).toBe('pool nope not found (NOT_FOUND)')
    expect(jobs.list).toHaveLength(0)
  })
})

describe('history store', () => {
  it('loads 10 000 rows page by page, never all at once', async () => {
    await withWorkspace()
    h.fake.seedExperiments(10_000)
    const hist = useHistoryStore()
    await hist.reload()
    expect(hist.total).toBe(10_000)
    expect(hist.rows).toHaveLength(10_000)
    expect(hist.rows.filter(Boolean)).toHaveLength(PAGE)
    await hist.ensure(5000, 5040)
    expect(hist.rows[5000]).toBeDefined()
    expect(hist.rows[5039]).toBeDefined()
    expect(hist.rows.filter(Boolean)).toHaveLength(2 * PAGE)
    expect(hist.tasks).toContain('mnist')
    // newest first by default
    expect(hist.rows[0]!.id).toBe('s9999')
  })
  it('sorts, filters and searches in the engine', async () => {
    await withWorkspace()
    h.fake.seedExperiments(50)
    const hist = useHistoryStore()
    await hist.reload()
    hist.setSort('average')
    await flush()
    const avgs = hist.rows.filter(Boolean).map((r) => r!.average!)
    expect(avgs).toEqual([...avgs].sort((a, b) => b - a))
    hist.setSort('average')
    await flush()
    expect(hist.desc).toBe(false)
    hist.method = 'ties_merging'
    await hist.reload()
    expect(hist.total).toBe(25)
    hist.method = ''
    hist.search = 'ten'
    await hist.reload()
    expect(hist.rows.every((r) => r!.tags.includes('ten'))).toBe(true)
    expect(hist.total).toBe(5)
  })
  it('moves the keyboard cursor within bounds, selects and stars', async () => {
    await withWorkspace()
    h.fake.seedExperiments(5)
    const hist = useHistoryStore()
    await hist.reload()
    hist.moveCursor(-1)
    expect(hist.cursor).toBe(0)
    hist.moveCursor(10)
    expect(hist.cursor).toBe(4)
    const id = hist.current!.id
    hist.toggleSelected(id)
    expect(hist.selected).toEqual([id])
    hist.toggleSelected(id)
    expect(hist.selected).toEqual([])
    await hist.toggleStar(id)
    expect(hist.current!.starred).toBe(true)
    expect(h.fake.experiments.find((e) => e.id === id)!.starred).toBe(true)
  })
})

describe('compare store', () => {
  it('builds the comparison and the differences-only recipe diff', async () => {
    await withWorkspace()
    h.fake.seedExperiments(4)
    const cmp = useCompareStore()
    await cmp.load(['s0', 's1', 's2'])
    expect(cmp.table?.rows.map((r) => r.id)).toEqual(['s0', 's1', 's2'])
    expect(cmp.recipeRows.map((r) => r.key).sort()).toEqual(['method', 'scaling_coef', 'threshold'])
    await cmp.load(['s0', 's2'])
    // both task arithmetic, λ 0 vs 0.2: only λ differs
    expect(cmp.recipeRows).toEqual([{ key: 'scaling_coef', values: ['0', '0.2'], differs: true }])
    cmp.diffOnly = false
    expect(cmp.recipeRows.map((r) => r.key)).toEqual(['method', 'scaling_coef'])
    await cmp.setReference(true)
    expect(cmp.table?.reference?.[0].name).toBe('Pretrained')
  })
  it('shows a missing experiment as an error', async () => {
    await withWorkspace()
    const cmp = useCompareStore()
    await cmp.load(['zzz'])
    expect(cmp.error).toBe('experiment zzz not found (NOT_FOUND)')
    expect(cmp.table).toBeNull()
  })
})

describe('methods store and form checks', () => {
  it('loads the catalogue once and validates values against ParamSpecs', async () => {
    const m = useMethodsStore()
    await m.load()
    await m.load()
    expect(h.fake.calls.filter((c) => c === 'methods.list')).toHaveLength(1)
    const ties = m.byName('ties_merging')!
    expect(defaultsOf(ties)).toEqual({ scaling_coef: 0.3, threshold: 0.2, merge_func: 'sum' })
    const [lambda, threshold, func] = ties.params
    expect(paramError(lambda, 2.5)).toBe('must be ≤ 2')
    expect(paramError(threshold, Number.NaN)).toBe('must be a number')
    expect(paramError(func, 'median')).toBe('must be one of sum, mean, max')
    expect(paramError(func, 'max')).toBeNull()
    expect(paramError({ ...METHODS[0].params[0], type: 'integer' }, 1.5)).toBe('must be an integer')
    expect(paramError({ ...METHODS[0].params[0], type: 'number[]' }, [0.1, 3])).toBe('every value must be ≤ 2')
  })
})
