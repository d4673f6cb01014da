// The export view with a per-task experiment (TALL masks kept one model per task): it lists the
// tasks, exports all of them by default and one when chosen; a single-model run shows no task list.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mount, type VueWrapper } from '@vue/test-utils'
import type { ExperimentRecord } from '#common/types'
import type { In } from '#common/contract'
import { flush, setup, type Harness } from './harness'
import { useWorkspaceStore } from '../../renderer/src/stores/workspace'
import ExportView from '../../renderer/src/views/ExportView.vue'

let h: Harness
let view: VueWrapper | null = null
let asked: Array<In<'experiments.export'>> = []
beforeEach(async () => {
  h = setup()
  asked = []
  const original = h.fake['experiments.export']
  h.fake['experiments.export'] = async (p, c) => { asked.push(p); return original(p, c) }
  expect(await useWorkspaceStore().open('/tmp/ws-export', true)).toBe(true)
  const rec = (id: string, method: string, keptTasks: string[] | null): ExperimentRecord => ({
    id, name: `${method} run`, method, params: {}, seed: 0, poolId: 'p', benchmark: null, status: 'done', createdAt: '2026-01-01T00:00:00.000Z',
    engineVersion: '0.1.0', backend: 'cpu', tags: [], starred: false, artifactDir: `/ws/runs/${id}/model`, keptTasks,
  })
  h.fake.experiments.push(rec('pt', 'tall_mask_task_arithmetic', ['mnist', 'svhn', 'cars']), rec('one', 'task_arithmetic', null))
})
afterEach(() => { view?.unmount(); view = null; h.close() })

async function choose(id: string): Promise<VueWrapper> {
  view ??= mount(ExportView)
  await flush()
  await view.get('[data-testid="export-experiment"]').setValue(id)
  await flush()
  return view
}

describe('export view', () => {
  it('lists the task models of a per-task experiment and exports all of them by default', async () => {
    const v = await choose('pt')
    expect(v.get('[data-testid="export-tasks"]').text()).toContain('mnist, svhn, cars')
    const options = v.findAll('[data-testid="export-task"] option').map((o) => o.text())
    expect(options).toEqual(['all 3 tasks, one folder each (destination/<task>/)', 'only mnist', 'only svhn', 'only cars'])
    await v.get('[data-testid="export-out"]').setValue('/tmp/out-all')
    await v.get('[data-testid="export-run"]').trigger('click')
    await flush()
    expect(asked).toHaveLength(1)
    expect(asked[0]).toMatchObject({ id: 'pt', out: '/tmp/out-all' })
    expect(asked[0]!.task).toBeUndefined()
  })

  it('exports one chosen task', async () => {
    const v = await choose('pt')
    await v.get('[data-testid="export-task"]').setValue('svhn')
    await flush()
    expect(v.get('[data-testid="card-preview"]').text()).toContain('# pt · svhn')
    await v.get('[data-testid="export-out"]').setValue('/tmp/out-svhn')
    await v.get('[data-testid="export-run"]').trigger('click')
    await flush()
    expect(asked.map((a) => [a.out, a.task])).toEqual([['/tmp/out-svhn', 'svhn']])
  })

  it('shows no task choice for a single-model experiment', async () => {
    const v = await choose('one')
    expect(v.find('[data-testid="export-tasks"]').exists()).toBe(false)
  })
})
