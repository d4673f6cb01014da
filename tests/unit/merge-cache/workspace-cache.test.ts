// The merge cache in a workspace: pool members keyed by their files' sha256, the mini-8 data by
// its content; with the real mini-8 built, a second RegMean run on the benchmark pool takes the
// activation statistics of the first from <workspace>/cache and reports the hits.
import { afterAll, describe, expect, it } from 'vitest'
import { existsSync, readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { PoolRecord } from '#common/types'
import { defaultMini8Root, loadMini8 } from '../../../main/engine/benchmark/mini8'
import { mini8DataFingerprint } from '../../../main/engine/merge/data-mini8'
import { cacheKey } from '../../../main/engine/merge/cache'
import { poolMemberKeys } from '../../../main/engine/services/pools'
import { createWorkspaceServices } from '../../../main/engine/services'
import type { PoolFile } from '../../../main/engine/store/pools'
import { makeTempDir } from '../../fixtures/make-tiny-checkpoints'

const root = defaultMini8Root()
const built = existsSync(join(root, 'data', 'manifest.json')) && existsSync(join(root, 'models', 'pretrained', 'model.safetensors')) && existsSync(join(root, 'models', 'mnist', 'model.safetensors'))
const ctx = { emit: () => undefined }
let dir = ''
afterAll(async () => { if (dir) await rm(dir, { recursive: true, force: true }) })

describe('pool member keys', () => {
  const pool = { id: 'p', name: 'p', base: '/m/base', models: ['/m/a', '/m/b'] } as PoolRecord
  const file = (model: string, path: string, s: string): PoolFile => ({ model, path, size: 1, sha256: cacheKey(s) })
  const files = [file('/m/base', '/m/base/model.safetensors', 'base'), file('/m/a', '/m/a/model.safetensors', 'a'), file('/m/b', '/m/b/model.safetensors', 'b')]
  it('come from content: moved folders keep them, a re-saved file changes one', () => {
    const k = poolMemberKeys(pool, files)
    const moved = poolMemberKeys({ ...pool, base: '/n/base', models: ['/n/a', '/n/b'] }, files.map((f) => ({ ...f, model: f.model.replace('/m/', '/n/'), path: f.path.replace('/m/', '/n/') })))
    expect(moved).toEqual(k)
    const resaved = poolMemberKeys(pool, files.map((f) => (f.model === '/m/b' ? { ...f, sha256: cacheKey('b2') } : f)))
    expect(resaved.base).toBe(k.base)
    expect(resaved.models[0]).toBe(k.models[0])
    expect(resaved.models[1]).not.toBe(k.models[1])
    expect(() => poolMemberKeys(pool, files.slice(0, 2))).toThrow(/\/m\/b has no fingerprinted files/)
  })
})

describe.skipIf(!built)(`merge cache on the real mini-8 (${built ? 'built' : `not built at ${root}`})`, () => {
  it('mini-8 data fingerprint: stable across loads, follows the task order', async () => {
    const a = await loadMini8(), b = await loadMini8()
    expect(mini8DataFingerprint(a)).toBe(mini8DataFingerprint(b))
    expect(mini8DataFingerprint(a, [...a.tasks].reverse())).not.toBe(mini8DataFingerprint(a))
  })

  it('a second RegMean run hits the workspace cache and reproduces the metrics', async () => {
    dir = await makeTempDir('amalgam-ws-merge-cache-')
    const svc = createWorkspaceServices({ emit: () => undefined, workspaceDir: dir, appDataDir: dir, runner: 'inline' })
    try {
      const pool = await svc['pools.addBenchmark']({ benchmark: 'mini8' }, ctx)
      const params = { num_regmean_examples: 8, batch_size: 8 }
      const a = await svc['runs.start']({ poolId: pool.id, method: 'regmean', seed: 1, params }, ctx)
      expect((await svc.waitJob(a.jobId)).status).toBe('done')
      const size = (await svc['workspace.current'](undefined, ctx))!.cacheBytes
      expect(size).toBeGreaterThan(0)
      const b = await svc['runs.start']({ poolId: pool.id, method: 'regmean', seed: 1, params }, ctx)
      expect((await svc.waitJob(b.jobId)).status).toBe('done')
      const diag = (id: string) => JSON.parse(readFileSync(join(dir, 'runs', id, 'diagnostics.json'), 'utf8')) as { cache?: { hits: number; misses: number } }
      expect(diag(a.experimentId).cache).toMatchObject({ hits: 0, misses: 8 })
      expect(diag(b.experimentId).cache).toMatchObject({ hits: 8, misses: 0 })
      const ra = await svc['experiments.get']({ id: a.experimentId }, ctx)
      const rb = await svc['experiments.get']({ id: b.experimentId }, ctx)
      expect(rb.metrics).toEqual(ra.metrics)
      // eval.model replays the merge with the same cache: the same accuracies
      const ev = await svc['eval.model']({ experimentId: a.experimentId }, ctx)
      expect(Object.fromEntries(Object.entries(ev.perTask).map(([t, r]) => [t, r.accuracy]))).toEqual(ra.metrics)
    } finally {
      await svc.close()
    }
  })
})
