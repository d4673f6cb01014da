import { afterEach, describe, expect, it } from 'vitest'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { rm } from 'node:fs/promises'
import { openSafetensors } from '../../../main/engine/safetensors/reader'
import { parseRecipe } from '../../../main/engine/recipe'
import { disposeHarness, harness, noCtx, runAndWait, type Harness } from './fixtures/setup'
import { makeTempDir } from '../../fixtures/make-tiny-checkpoints'

let h: Harness | null = null
afterEach(async () => {
  if (!h) return
  await disposeHarness(h)
  h = null
})


describe('workspace services', () => {
  it('opens a workspace, lists it as recent, reports info', async () => {
    h = await harness()
    const info = await h.svc['workspace.current'](undefined, noCtx)
    expect(info).toMatchObject({ dir: h.dir, experiments: 0, pools: 0 })
    expect(info!.schemaVersion).toBeGreaterThanOrEqual(3)
    expect(await h.svc['workspace.recent'](undefined, noCtx)).toEqual([h.dir])
    for (const d of ['models', 'runs', 'cache', 'amalgam.db']) expect(existsSync(join(h.dir, d))).toBe(true)
    const other = await makeTempDir('amalgam-ws2-')
    await expect(h.svc['workspace.open']({ dir: join(other, 'nope') }, noCtx)).rejects.toThrow(/not an Amalgam workspace/)
    await h.svc['workspace.open']({ dir: join(other, 'new'), create: true }, noCtx)
    expect((await h.svc['workspace.recent'](undefined, noCtx))[0]).toBe(join(other, 'new'))
    expect(h.events.some((e) => e.name === 'workspace.changed')).toBe(true)
    await rm(other, { recursive: true, force: true })
  })

  it('registers pools, rejects bad ones by name, and the benchmark pool once', async () => {
    h = await harness()
    const p = await h.svc['pools.add']({ name: 'tiny', base: h.pool.base, models: h.pool.models }, noCtx)
    expect(p.models).toEqual(h.pool.models)
    await expect(h.svc['pools.add']({ name: 'bad', base: h.pool.base, models: [join(h.pool.root, 'missing')] }, noCtx)).rejects.toThrow(/missing/)
    await expect(h.svc['pools.add']({ name: 'dup', base: h.pool.base, models: [h.pool.models[0]!, h.pool.models[0]!] }, noCtx)).rejects.toThrow(/listed twice/)
    const b1 = await h.svc['pools.addBenchmark']({ benchmark: 'mini8' }, noCtx)
    const b2 = await h.svc['pools.addBenchmark']({ benchmark: 'mini8' }, noCtx)
    expect(b2.id).toBe(b1.id)
    expect((await h.svc['pools.list'](undefined, noCtx)).length).toBe(2)
  })

  it('runs an experiment: record, recipe, eval.json, diagnostics, log, progress events', async () => {
    h = await harness()
    const pool = await h.svc['pools.addBenchmark']({ benchmark: 'mini8' }, noCtx)
    const r = await runAndWait(h, { poolId: pool.id, method: 'task_arithmetic', params: { scaling_factor: 0.5 }, tags: ['first'] })
    expect(r.status).toBe('done')
    const rec = await h.svc['experiments.get']({ id: r.experimentId }, noCtx)
    expect(rec).toMatchObject({ status: 'done', method: 'task_arithmetic', seed: 0, tags: ['first'], backend: 'fake', benchmark: 'mini8' })
    expect(Object.keys(rec.metrics!)).toEqual(['alpha', 'beta'])
    expect(rec.average).toBeCloseTo((rec.metrics!.alpha! + rec.metrics!.beta!) / 2, 12)
    expect(rec.durationMs).toBeGreaterThan(0)
    expect(rec.peakRssBytes).toBeGreaterThan(1e6)
    const recipe = parseRecipe(rec.recipe)
    expect(recipe.params.scaling_factor).toBe(0.5)
    expect(recipe.pool.base.files[0]!.sha256).toMatch(/^[0-9a-f]{64}$/)
    const run = join(h.dir, 'runs', r.experimentId)
    expect(readdirSync(run).sort()).toEqual(['diagnostics.json', 'eval.json', 'log.txt', 'recipe.yaml'])
    const report = JSON.parse(readFileSync(join(run, 'eval.json'), 'utf8'))
    expect(report.alpha.accuracy).toBe(rec.metrics!.alpha)
    expect(report.model_info.method).toBe('task_arithmetic')
    expect(rec.log).toMatch(/experiment .*task_arithmetic/)
    const progress = h.events.filter((e) => e.name === 'job.progress').map((e) => (e.payload as { stage: string }).stage)
    expect(progress).toContain('hash')
    const done = h.events.find((e) => e.name === 'job.done')!.payload as { status: string; experimentId: string }
    expect(done).toMatchObject({ status: 'done', experimentId: r.experimentId })
  })

  it('re-running an experiment from its recipe reproduces the same metrics', async () => {
    h = await harness()
    const pool = await h.svc['pools.addBenchmark']({ benchmark: 'mini8' }, noCtx)
    const a = await runAndWait(h, { poolId: pool.id, method: 'dare_task_arithmetic', params: { sparsity_ratio: 0.5, scaling_factor: 0.4 }, seed: 7 })
    expect(a.status).toBe('done')
    const ra = await h.svc['experiments.get']({ id: a.experimentId }, noCtx)
    const file = join(h.dir, 'runs', a.experimentId, 'recipe.yaml')
    const b = await h.svc.runRecipeFile(file)
    expect((await h.svc.waitJob(b.jobId)).status).toBe('done')
    const rb = await h.svc['experiments.get']({ id: b.experimentId }, noCtx)
    expect(rb.metrics).toEqual(ra.metrics)
    expect(rb.params).toEqual(ra.params)
    expect(rb.poolId).toBe(ra.poolId)
    // a different seed gives different DARE masks, hence different numbers: the test can fail
    const c = await runAndWait(h, { poolId: pool.id, method: 'dare_task_arithmetic', params: { sparsity_ratio: 0.5, scaling_factor: 0.4 }, seed: 8 })
    const rc = await h.svc['experiments.get']({ id: c.experimentId }, noCtx)
    expect(rc.metrics).not.toEqual(ra.metrics)
  })

  it('a recipe whose inputs changed is refused, naming the file', async () => {
    h = await harness()
    const pool = await h.svc['pools.addBenchmark']({ benchmark: 'mini8' }, noCtx)
    const a = await runAndWait(h, { poolId: pool.id, method: 'task_arithmetic' })
    const recipe = parseRecipe(readFileSync(join(h.dir, 'runs', a.experimentId, 'recipe.yaml'), 'utf8'))
    recipe.pool.models[1]!.files[0]!.sha256 = 'f'.repeat(64)
    const b = await h.svc.runRecipe(recipe)
    const o = await h.svc.waitJob(b.jobId)
    expect(o.status).toBe('failed')
    expect(o.error!.message).toMatch(/ft2.*changed/)
  })

  it('rejects unknown methods and parameters before queueing', async () => {
    h = await harness()
    const pool = await h.svc['pools.addBenchmark']({ benchmark: 'mini8' }, noCtx)
    await expect(h.svc['runs.start']({ poolId: pool.id, method: 'nope' }, noCtx)).rejects.toMatchObject({ code: 'UNKNOWN_METHOD' })
    await expect(h.svc['runs.start']({ poolId: pool.id, method: 'task_arithmetic', params: { lambda: 1 } }, noCtx)).rejects.toThrow(/no parameter lambda/)
    const plain = await h.svc['pools.add']({ name: 'plain', base: h.pool.base, models: h.pool.models }, noCtx)
    await expect(h.svc['runs.start']({ poolId: plain.id, method: 'task_arithmetic', evaluate: true }, noCtx)).rejects.toThrow(/not a benchmark pool/)
    // an invalid value is caught by the method's own validation inside the job
    const r = await runAndWait(h, { poolId: pool.id, method: 'task_arithmetic', params: { scaling_factor: 'big' } })
    expect(r.status).toBe('failed')
    const rec = await h.svc['experiments.get']({ id: r.experimentId }, noCtx)
    expect(rec.error).toMatch(/scaling_factor/)
  })

  it('sweeps a grid, compares with #best and differences only, updates tags/notes/stars', async () => {
    h = await harness()
    const pool = await h.svc['pools.addBenchmark']({ benchmark: 'mini8' }, noCtx)
    const runs = await h.svc['runs.sweep']({ poolId: pool.id, method: 'task_arithmetic', grid: { scaling_factor: [0.1, 0.6, 1.0] } }, noCtx)
    expect(runs).toHaveLength(3)
    for (const r of runs) expect((await h.svc.waitJob(r.jobId)).status).toBe('done')
    const ids = runs.map((r) => r.experimentId)
    const t = await h.svc['experiments.compare']({ ids }, noCtx)
    expect(t.tasks).toEqual(['alpha', 'beta'])
    expect(t.paramDiff.map((d) => d.key)).toEqual(['scaling_factor'])
    for (const task of t.tasks) {
      const best = Math.max(...t.rows.map((r) => r.accuracy[task]!))
      expect(t.rows.find((r) => r.id === t.bestPerTask[task])!.accuracy[task]).toBe(best)
    }
    expect(t.rows.reduce((a, r) => a + r.best, 0)).toBeGreaterThanOrEqual(2)
    await h.svc['experiments.update']({ id: ids[0]!, tags: ['keep', 'paper'], note: 'λ small', starred: true, name: 'small λ' }, noCtx)
    const starred = await h.svc['experiments.list']({ starred: true }, noCtx)
    expect(starred.rows.map((r) => r.id)).toEqual([ids[0]])
    expect(starred.rows[0]).toMatchObject({ name: 'small λ', note: 'λ small', tags: ['keep', 'paper'] })
    const sorted = await h.svc['experiments.list']({ sort: 'metric:alpha', desc: true }, noCtx)
    expect(sorted.rows[0]!.id).toBe(t.bestPerTask.alpha)
    expect((await h.svc['experiments.list']({ search: 'paper' }, noCtx)).total).toBe(1)
    expect((await h.svc['experiments.list']({ tag: sorted.rows[0]!.tags.find((x) => x.startsWith('sweep:'))! }, noCtx)).total).toBe(3)
    await expect(h.svc['experiments.update']({ id: 'missing', note: 'x' }, noCtx)).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('keeps the model when asked, exports it as an HF folder, previews the card', async () => {
    h = await harness()
    const pool = await h.svc['pools.addBenchmark']({ benchmark: 'mini8' }, noCtx)
    const r = await runAndWait(h, { poolId: pool.id, method: 'task_arithmetic', keepModel: true, name: 'kept' })
    const rec = await h.svc['experiments.get']({ id: r.experimentId }, noCtx)
    expect(rec.artifactDir).toBe(join(h.dir, 'runs', r.experimentId, 'model'))
    expect(existsSync(join(rec.artifactDir!, 'model.safetensors'))).toBe(true)
    const card = await h.svc['experiments.cardPreview']({ id: r.experimentId }, noCtx)
    expect(card.markdown).toMatch(/task_arithmetic/)
    expect(card.markdown).toMatch(/alpha/)
    const outRoot = await makeTempDir('amalgam-export-')
    const out = join(outRoot, 'merged')
    const { jobId } = await h.svc['experiments.export']({ id: r.experimentId, out, dtype: 'bf16' }, noCtx)
    const o = await h.svc.waitJob(jobId)
    expect(o.status, o.error?.message).toBe('done')
    const files = readdirSync(out)
    expect(files).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'README.md', 'report.json']))
    const st = await openSafetensors(join(out, 'model.safetensors'))
    const dtypes = new Set([...st.tensors.values()].map((e) => e.dtype))
    expect([...dtypes]).toEqual(['BF16'])
    await st.close()
    // no temp siblings left next to the export
    expect(readdirSync(outRoot)).toEqual(['merged'])
    await rm(outRoot, { recursive: true, force: true })
  })

  it('cancels a queued and a running job; the cancelled run leaves no model', async () => {
    h = await harness()
    const pool = await h.svc['pools.addBenchmark']({ benchmark: 'mini8' }, noCtx)
    process.env.AMALGAM_TEST_TENSOR_DELAY_MS = '30'
    try {
      const a = await h.svc['runs.start']({ poolId: pool.id, method: 'task_arithmetic', keepModel: true }, noCtx)
      const b = await h.svc['runs.start']({ poolId: pool.id, method: 'task_arithmetic', keepModel: true }, noCtx)
      const jobs = await h.svc['jobs.list'](undefined, noCtx)
      expect(jobs.find((j) => j.id === b.jobId)!.status).toBe('queued')
      expect((await h.svc['jobs.cancel']({ jobId: b.jobId }, noCtx)).cancelled).toBe(true)
      // wait until a is merging, then cancel it
      for (let i = 0; i < 200 && !h.events.some((e) => e.name === 'job.progress' && (e.payload as { jobId: string; stage: string }).jobId === a.jobId && /merge|task_arithmetic/.test((e.payload as { stage: string }).stage)); i++) {
        await new Promise((r) => setTimeout(r, 20))
      }
      expect((await h.svc['jobs.cancel']({ jobId: a.jobId }, noCtx)).cancelled).toBe(true)
      expect((await h.svc.waitJob(a.jobId)).status).toBe('cancelled')
      expect((await h.svc.waitJob(b.jobId)).status).toBe('cancelled')
      for (const id of [a.experimentId, b.experimentId]) {
        const rec = await h.svc['experiments.get']({ id }, noCtx)
        expect(rec.status).toBe('cancelled')
        const dir = join(h.dir, 'runs', id)
        const left = existsSync(dir) ? readdirSync(dir) : []
        expect(left.filter((n) => n !== 'log.txt' && n !== 'recipe.yaml')).toEqual([])
      }
    } finally {
      delete process.env.AMALGAM_TEST_TENSOR_DELAY_MS
    }
  })

  it('computes task-vector similarity once and serves it from the cache after', async () => {
    h = await harness({}, 3)
    const pool = await h.svc['pools.add']({ name: 'three', base: h.pool.base, models: h.pool.models }, noCtx)
    const s1 = await h.svc['pools.similarity']({ poolId: pool.id }, noCtx)
    expect(s1.models).toEqual(['ft1', 'ft2', 'ft3'])
    expect(s1.cosine).toHaveLength(3)
    for (let i = 0; i < 3; i++) {
      expect(s1.cosine[i]![i]).toBeCloseTo(1, 12)
      for (let j = 0; j < 3; j++) { expect(s1.cosine[i]![j]).toBeCloseTo(s1.cosine[j]![i]!, 12); expect(Math.abs(s1.cosine[i]![j]!)).toBeLessThanOrEqual(1 + 1e-12) }
    }
    expect(s1.layerNorms.length).toBeGreaterThan(5)
    expect(s1.layerNorms[0]!.norms).toHaveLength(3)
    const info = await h.svc['workspace.current'](undefined, noCtx)
    expect(info!.cacheBytes).toBeGreaterThan(0)
    const s2 = await h.svc['pools.similarity']({ poolId: pool.id }, noCtx)
    expect(s2).toEqual(s1)
    const freed = await h.svc['workspace.clearCache'](undefined, noCtx)
    expect(freed.freedBytes).toBe(info!.cacheBytes)
    expect((await h.svc['workspace.current'](undefined, noCtx))!.cacheBytes).toBe(0)
  })

  it('runs the same experiment in a child process (the default runner) with the same numbers', async () => {
    h = await harness()
    const pool = await h.svc['pools.addBenchmark']({ benchmark: 'mini8' }, noCtx)
    const inline = await runAndWait(h, { poolId: pool.id, method: 'ties_merging', params: { threshold: 40 } })
    await h.svc.close()
    const child = h.make({ runner: 'child' })
    await child.ready
    h.svc = child
    const r = await runAndWait(h, { poolId: pool.id, method: 'ties_merging', params: { threshold: 40 } })
    expect(r.status, r.error?.message).toBe('done')
    const a = await h.svc['experiments.get']({ id: inline.experimentId }, noCtx)
    const b = await h.svc['experiments.get']({ id: r.experimentId }, noCtx)
    expect(b.metrics).toEqual(a.metrics)
    expect(b.peakRssBytes).toBeGreaterThan(0)
  })

  it('runs a mergekit config through the same path (import → pool → experiment)', async () => {
    h = await harness()
    const cfg = join(h.pool.root, 'merge.yml')
    writeFileSync(cfg, 'merge_method: task_arithmetic\nbase_model: ./base\nmodels:\n  - model: ./ft1\n    parameters: {weight: 1}\n  - model: ./ft2\n    parameters: {weight: 1}\nparameters: {lambda: 0.4}\ndtype: float16\ntokenizer_source: base\n')
    const r = await h.svc.runRecipeFile(cfg)
    expect(r.warnings.some((w) => /tokenizer_source/.test(w))).toBe(true)
    expect((await h.svc.waitJob(r.jobId)).status).toBe('done')
    const rec = await h.svc['experiments.get']({ id: r.experimentId }, noCtx)
    expect(rec).toMatchObject({ method: 'task_arithmetic', params: { scaling_factor: 0.4 }, benchmark: null, metrics: null })
    expect(parseRecipe(rec.recipe).output.dtype).toBe('f16')
  })

  it('compare attaches the benchmark reference rows when asked', async () => {
    const ref = [{ name: 'Individual', kind: 'expert' as const, accuracy: { alpha: 0.9, beta: 0.8 }, average: 0.85, normalized: 1, seconds: 0 }]
    h = await harness({ deps: { loadBenchmark: async () => ({ name: 'mini8', tasks: ['alpha', 'beta'], base: '', models: [] }), referenceRows: async () => ref } })
    const pool = await h.svc['pools.add']({ name: 'bench', base: h.pool.base, models: h.pool.models }, noCtx)
    // a benchmark pool registered by hand is still a benchmark pool only through addBenchmark
    await expect(h.svc['runs.start']({ poolId: pool.id, method: 'task_arithmetic', evaluate: true }, noCtx)).rejects.toThrow(/not a benchmark pool/)
    h.svc.workspaceHandle().db.prepare("UPDATE pools SET benchmark = 'mini8' WHERE id = ?").run(pool.id)
    const a = await runAndWait(h, { poolId: pool.id, method: 'task_arithmetic' })
    const b = await runAndWait(h, { poolId: pool.id, method: 'simple_average' })
    const t = await h.svc['experiments.compare']({ ids: [a.experimentId, b.experimentId], reference: true }, noCtx)
    expect(t.reference).toEqual(ref)
    expect(t.paramDiff.map((d) => d.key)).toEqual(['method', 'scaling_factor'])
    expect((await h.svc['experiments.compare']({ ids: [a.experimentId] }, noCtx)).reference).toBeUndefined()
  })
})
