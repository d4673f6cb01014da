// Per-task methods (TALL masks, EMR) write one model per task. With keepModel a workspace run keeps
// all N as runs/<id>/model/<task>/ (atomically: all or nothing), the record says which tasks, and
// export writes all N (out/<task>/) or one (--task).
import { afterEach, describe, expect, it } from 'vitest'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { disposeHarness, harness, noCtx, runAndWait, type Harness } from './fixtures/setup'
import { makeTempDir } from '../../fixtures/make-tiny-checkpoints'
import { openModel } from '../../../main/engine/checkpoints/open'
import { openSafetensors } from '../../../main/engine/safetensors/reader'
import { runMerge } from '../../../main/engine/merge/run'
import { MemorySink, type TensorSource } from '../../../main/engine/tensors/source'
import { PER_TASK_MANIFEST, HfFolderSet, taskFolderNames } from '../../../main/engine/checkpoints/folder-set'
import { main } from '../../../main/cli/main'

const METHOD = 'tall_mask_task_arithmetic'
const PARAMS = { tall_mask_lambda: 0.4 }
const TASKS = ['ft1', 'ft2', 'ft3']

let h: Harness | null = null
const extra: Array<() => Promise<void>> = []
afterEach(async () => {
  delete process.env.AMALGAM_TEST_TENSOR_DELAY_MS
  for (const c of extra.splice(0)) await c()
  if (!h) return
  await disposeHarness(h)
  h = null
})


async function tempOut(): Promise<string> {
  const d = await makeTempDir('amalgam-pt-export-')
  extra.push(() => rm(d, { recursive: true, force: true }))
  return d
}

/** The method's N outputs computed in memory, straight through runMerge. */
async function inMemory(hh: Harness): Promise<TensorSource[]> {
  const base = await openModel(hh.pool.base)
  const models = await Promise.all(hh.pool.models.map((m) => openModel(m)))
  try {
    const sinks = models.map(() => new MemorySink())
    await runMerge({ method: METHOD, params: PARAMS, seed: 0, pool: { base, models, names: TASKS }, sinks })
    return sinks.map((s, i) => s.toSource(`memory/${TASKS[i]}`))
  } finally {
    for (const m of [base, ...models]) await m.close()
  }
}

async function expectSameTensors(dir: string, want: TensorSource): Promise<void> {
  const got = await openModel(dir)
  try {
    expect(got.names().sort()).toEqual(want.names().sort())
    for (const n of want.names()) {
      if (want.meta(n).dtype !== 'F32') continue
      expect(got.meta(n).shape, n).toEqual(want.meta(n).shape)
      expect(Buffer.from((await got.readF32(n)).buffer).equals(Buffer.from((await want.readF32(n)).buffer)), n).toBe(true)
    }
  } finally { await got.close() }
}

/** Runs TALL masks with keepModel on a three-model "benchmark" pool. */
async function keptRun(): Promise<{ hh: Harness; id: string; poolId: string }> {
  const hh = await harness({}, 3)
  h = hh
  const pool = await hh.svc['pools.addBenchmark']({ benchmark: 'mini8' }, noCtx)
  const r = await runAndWait(hh, { poolId: pool.id, method: METHOD, params: PARAMS, keepModel: true })
  expect(r.status, r.error?.message).toBe('done')
  return { hh, id: r.experimentId, poolId: pool.id }
}

describe('task folder names', () => {
  it('are filesystem-safe, never hidden, unique case-insensitively, and avoid reserved names', () => {
    expect(taskFolderNames(['mnist', 'Cars 196', 'a/b', '../x', '', 'MNIST', 'con', 'amalgam_tasks.json', 'mnist']))
      .toEqual(['mnist', 'Cars_196', 'a_b', 'x', 'task5', 'MNIST-2', '_con', 'amalgam_tasks.json-2', 'mnist-3'])
  })

  it('an aborted folder set leaves neither the target nor its temporary parent', async () => {
    const root = await tempOut()
    const plan = [{ name: 'w', shape: [2, 3], dtype: 'F32' as const }]
    const set = await HfFolderSet.create(join(root, 'set'), taskFolderNames(['a', 'b']).map((dir, i) => ({ task: ['a', 'b'][i]!, dir, opts: { plan } })))
    await set.writers[0]!.write('w', [2, 3], new Float32Array(6).fill(1))
    expect(readdirSync(root)).toHaveLength(1) // the temporary parent
    await set.abort()
    expect(readdirSync(root)).toEqual([])
  })
})

describe('per-task methods in a workspace run', () => {
  it('keepModel keeps all N models as runs/<id>/model/<task>/, equal to the in-memory outputs; the record says so', async () => {
    const { hh, id, poolId } = await keptRun()
    const rec = await hh.svc['experiments.get']({ id }, noCtx)
    const modelDir = join(hh.dir, 'runs', id, 'model')
    expect(rec.artifactDir).toBe(modelDir)
    expect(rec.keptTasks).toEqual(TASKS)
    // the list view sees it too (the export view's candidates come from there)
    expect((await hh.svc['experiments.list']({}, noCtx)).rows.find((r) => r.id === id)!.keptTasks).toEqual(TASKS)
    expect(readdirSync(modelDir).sort()).toEqual([PER_TASK_MANIFEST, ...TASKS])
    expect(readdirSync(join(hh.dir, 'runs', id)).sort()).toEqual(['diagnostics.json', 'eval.json', 'log.txt', 'model', 'recipe.yaml'])
    const manifest = JSON.parse(readFileSync(join(modelDir, PER_TASK_MANIFEST), 'utf8'))
    expect(manifest).toEqual({ format: 'amalgam-per-task/1', method: METHOD, tasks: TASKS.map((t) => ({ task: t, dir: t })) })
    const mem = await inMemory(hh)
    for (const [i, t] of TASKS.entries()) {
      await expectSameTensors(join(modelDir, t), mem[i]!)
      expect(readFileSync(join(modelDir, t, 'README.md'), 'utf8')).toContain(`model for task **${t}**`)
      const st = await openSafetensors(join(modelDir, t, 'model.safetensors'))
      expect(st.metadata.amalgam_task).toBe(t)
      await st.close()
    }
    // the three models really differ (TALL masks are task-specific), so the comparison above can fail
    expect(Buffer.from((await mem[0]!.readF32('vision_model.encoder.layers.0.mlp.fc1.weight')).buffer)
      .equals(Buffer.from((await mem[1]!.readF32('vision_model.encoder.layers.0.mlp.fc1.weight')).buffer))).toBe(false)
    // keeping tees the writes: evaluation sees the same models as a run that keeps nothing
    const plain = await runAndWait(hh, { poolId, method: METHOD, params: PARAMS })
    const p = await hh.svc['experiments.get']({ id: plain.experimentId }, noCtx)
    expect(p.metrics).toEqual(rec.metrics)
    expect(p.keptTasks).toBeNull()
    expect(p.artifactDir).toBeNull()
  })

  it('a cancel in the middle of writing the N folders leaves no model and no temporary folder', async () => {
    const hh = await harness({}, 3)
    h = hh
    const pool = await hh.svc['pools.add']({ name: 'p', base: hh.pool.base, models: hh.pool.models }, noCtx)
    process.env.AMALGAM_TEST_TENSOR_DELAY_MS = '15'
    const r = await hh.svc['runs.start']({ poolId: pool.id, method: METHOD, params: PARAMS, keepModel: true, evaluate: false }, noCtx)
    const runDir = join(hh.dir, 'runs', r.experimentId)
    const tmpParent = () => (existsSync(runDir) ? readdirSync(runDir).find((n) => n.startsWith('model.tmp-')) : undefined)
    // wait until a task folder is being written inside the temporary parent: truly mid-write
    for (let i = 0; i < 500; i++) {
      const t = tmpParent()
      if (t && readdirSync(join(runDir, t)).length > 0) break
      await new Promise((res) => setTimeout(res, 10))
    }
    expect(tmpParent()).toBeDefined()
    expect((await hh.svc['jobs.cancel']({ jobId: r.jobId }, noCtx)).cancelled).toBe(true)
    expect((await hh.svc.waitJob(r.jobId)).status).toBe('cancelled')
    const rec = await hh.svc['experiments.get']({ id: r.experimentId }, noCtx)
    expect(rec.status).toBe('cancelled')
    expect(rec.artifactDir).toBeNull()
    expect(rec.keptTasks).toBeNull()
    expect(readdirSync(runDir).filter((n) => n !== 'log.txt' && n !== 'recipe.yaml')).toEqual([])
  })

  it('kill -9 of the job process while writing the N folders: failed, nothing left', async () => {
    const hh = await harness({}, 3)
    h = hh
    await hh.svc.close()
    const pids: number[] = []
    hh.svc = hh.make({ runner: 'child', onSpawn: (c) => { pids.push(c.pid!) } })
    await hh.svc.ready
    const pool = await hh.svc['pools.add']({ name: 'p', base: hh.pool.base, models: hh.pool.models }, noCtx)
    process.env.AMALGAM_TEST_TENSOR_DELAY_MS = '30'
    const r = await hh.svc['runs.start']({ poolId: pool.id, method: METHOD, params: PARAMS, keepModel: true, evaluate: false }, noCtx)
    const runDir = join(hh.dir, 'runs', r.experimentId)
    for (let i = 0; i < 3000 && !(existsSync(runDir) && readdirSync(runDir).some((n) => n.startsWith('model.tmp-'))); i++) await new Promise((res) => setTimeout(res, 10))
    expect(readdirSync(runDir).some((n) => n.startsWith('model.tmp-'))).toBe(true)
    process.kill(pids[0]!, 'SIGKILL')
    const o = await hh.svc.waitJob(r.jobId)
    expect(o.status).toBe('failed')
    expect(readdirSync(runDir).filter((n) => n !== 'log.txt' && n !== 'recipe.yaml')).toEqual([])
  })
})

describe('export of a per-task experiment', () => {
  it('writes all N as out/<task>/ by default, or one with task; from the kept models or by re-merging', async () => {
    const { hh, id, poolId } = await keptRun()
    const kept = join(hh.dir, 'runs', id, 'model')
    const root = await tempOut()

    const all = join(root, 'all')
    const a = await hh.svc.waitJob((await hh.svc['experiments.export']({ id, out: all }, noCtx)).jobId)
    expect(a.status, a.error?.message).toBe('done')
    expect(readdirSync(all).sort()).toEqual([PER_TASK_MANIFEST, ...TASKS])
    for (const t of TASKS) {
      expect(readdirSync(join(all, t))).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'README.md', 'report.json', 'amalgam_recipe.yaml']))
      const src = await openModel(join(kept, t))
      try { await expectSameTensors(join(all, t), src) } finally { await src.close() }
      const card = readFileSync(join(all, t, 'README.md'), 'utf8')
      expect(card).toContain(`model for task **${t}**`)
      expect(card).toContain('- task: ' + t)
      // the preview of one task's card is what that folder got
      expect((await hh.svc['experiments.cardPreview']({ id, task: t }, noCtx)).markdown).toBe(card)
    }

    const one = join(root, 'one')
    const b = await hh.svc.waitJob((await hh.svc['experiments.export']({ id, out: one, task: 'ft2', dtype: 'bf16' }, noCtx)).jobId)
    expect(b.status, b.error?.message).toBe('done')
    expect(readdirSync(one)).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'README.md']))
    expect(existsSync(join(one, PER_TASK_MANIFEST))).toBe(false)
    const st = await openSafetensors(join(one, 'model.safetensors'))
    expect(st.metadata.amalgam_task).toBe('ft2')
    expect(new Set([...st.tensors.values()].map((e) => e.dtype))).toEqual(new Set(['BF16']))
    await st.close()

    // a per-task run that kept nothing exports by replaying the merge: the same N models
    const plain = await runAndWait(hh, { poolId, method: METHOD, params: PARAMS })
    const re = join(root, 're')
    const c = await hh.svc.waitJob((await hh.svc['experiments.export']({ id: plain.experimentId, out: re }, noCtx)).jobId)
    expect(c.status, c.error?.message).toBe('done')
    for (const t of TASKS) {
      const src = await openModel(join(kept, t))
      try { await expectSameTensors(join(re, t), src) } finally { await src.close() }
    }
    const reOne = join(root, 're-one')
    const d = await hh.svc.waitJob((await hh.svc['experiments.export']({ id: plain.experimentId, out: reOne, task: 'ft3' }, noCtx)).jobId)
    expect(d.status, d.error?.message).toBe('done')
    const src3 = await openModel(join(kept, 'ft3'))
    try { await expectSameTensors(reOne, src3) } finally { await src3.close() }
    // no temporary siblings anywhere
    expect(readdirSync(root).sort()).toEqual(['all', 'one', 're', 're-one'])
  })

  it('refuses a wrong task name listing the valid ones, and a task for a single-model experiment', async () => {
    const { hh, id, poolId } = await keptRun()
    const root = await tempOut()
    await expect(hh.svc['experiments.export']({ id, out: join(root, 'x'), task: 'nope' }, noCtx))
      .rejects.toMatchObject({ code: 'BAD_PARAM', message: expect.stringContaining('has no task "nope" (tasks: ft1, ft2, ft3)') })
    const single = await runAndWait(hh, { poolId, method: 'task_arithmetic', keepModel: true })
    await expect(hh.svc['experiments.export']({ id: single.experimentId, out: join(root, 'y'), task: 'ft1' }, noCtx))
      .rejects.toThrow(/has one merged model; a task can only be chosen for per-task methods \(.*tall_mask_task_arithmetic/)
    await expect(hh.svc['experiments.cardPreview']({ id, task: 'nope' }, noCtx)).rejects.toThrow(/tasks: ft1, ft2, ft3/)
    expect(readdirSync(root)).toEqual([])
  })

  it('amalgam export ID --task NAME, and all tasks with their folders listed', async () => {
    const { hh, id } = await keptRun()
    await hh.svc.close()
    const root = await tempOut()
    const io = () => { const out: string[] = []; const err: string[] = []; return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err } }
    const bad = io()
    expect(await main(['export', id, '--out', join(root, 'bad'), '--task', 'zzz', '--workspace', hh.dir], bad.io)).toBe(1)
    expect(bad.err.join('\n')).toMatch(/has no task "zzz" \(tasks: ft1, ft2, ft3\)/)
    const one = io()
    expect(await main(['export', id, '--out', join(root, 'one'), '--task', 'ft1', '--workspace', hh.dir], one.io), one.err.join('\n')).toBe(0)
    expect(one.out.join('\n')).toContain(`exported task ft1 of ${id}`)
    expect(existsSync(join(root, 'one', 'model.safetensors'))).toBe(true)
    const all = io()
    expect(await main(['export', id, '--out', join(root, 'all'), '--workspace', hh.dir, '--json'], all.io), all.err.join('\n')).toBe(0)
    const j = JSON.parse(all.out.join('\n'))
    expect(j.tasks).toEqual(TASKS.map((t) => ({ task: t, dir: join(root, 'all', t) })))
    for (const t of TASKS) expect(existsSync(join(root, 'all', t, 'model.safetensors'))).toBe(true)
    hh.svc = hh.make()
    await hh.svc.ready
  })
})
