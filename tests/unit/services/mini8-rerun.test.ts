// With the real mini-8 benchmark built (npm run build:mini8), a recipe re-run reproduces the same
// metrics with the real in-memory evaluation. Skipped, saying why, where mini-8 is not built.
import { afterAll, describe, expect, it } from 'vitest'
import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { defaultMini8Root } from '../../../main/engine/benchmark/mini8'
import { createWorkspaceServices } from '../../../main/engine/services'
import { makeTempDir } from '../../fixtures/make-tiny-checkpoints'

const root = defaultMini8Root()
const built = existsSync(join(root, 'data', 'manifest.json')) && existsSync(join(root, 'models', 'pretrained', 'model.safetensors')) && existsSync(join(root, 'models', 'mnist', 'model.safetensors'))
const ctx = { emit: () => undefined }
let dir = ''
afterAll(async () => { if (dir) await rm(dir, { recursive: true, force: true }) })

describe.skipIf(!built)(`recipe re-run on the real mini-8 (${built ? 'built' : `not built at ${root}`})`, () => {
  it('reproduces every per-task accuracy exactly', async () => {
    dir = await makeTempDir('amalgam-mini8-rerun-')
    const svc = createWorkspaceServices({ emit: () => undefined, workspaceDir: dir, appDataDir: dir, runner: 'inline' })
    try {
      const pool = await svc['pools.addBenchmark']({ benchmark: 'mini8' }, ctx)
      const a = await svc['runs.start']({ poolId: pool.id, method: 'dare_task_arithmetic', seed: 3 }, ctx)
      expect((await svc.waitJob(a.jobId)).status).toBe('done')
      const b = await svc.runRecipeFile(join(dir, 'runs', a.experimentId, 'recipe.yaml'))
      expect((await svc.waitJob(b.jobId)).status).toBe('done')
      const ra = await svc['experiments.get']({ id: a.experimentId }, ctx)
      const rb = await svc['experiments.get']({ id: b.experimentId }, ctx)
      expect(Object.keys(ra.metrics!)).toHaveLength(8)
      expect(rb.metrics).toEqual(ra.metrics)
      expect(rb.average).toBe(ra.average)
    } finally {
      await svc.close()
    }
  })
})
