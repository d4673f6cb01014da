// Refreshes the README's screenshots from a real session (skipped unless AMALGAM_SCREENSHOTS_DIR is
// set): the mini-8 pool, a Task Arithmetic λ sweep, TIES and DARE, then history, compare, diagnostics.
//   AMALGAM_SCREENSHOTS_DIR=docs/screenshots npx playwright test --project=web docs-screenshots
import { test, expect, go, snap, createWorkspace, loadMini8, queueRun, waitJobsSettled } from './fixtures'

test('README screenshots from a real workspace', async ({ app, workspaceDir }, info) => {
  test.skip(!process.env.AMALGAM_SCREENSHOTS_DIR || info.project.name !== 'web', 'set AMALGAM_SCREENSHOTS_DIR to refresh the README screenshots')
  await createWorkspace(app, workspaceDir)
  await loadMini8(app)
  await go(app, 'runs')
  await app.getByTestId('method-task_arithmetic').click()
  await app.getByTestId('run-name').fill('ta')
  await app.getByTestId('sweep-toggle').check()
  await app.getByTestId('sweep-key-0').selectOption('scaling_factor')
  await app.getByTestId('sweep-values-0').fill('0.1, 0.2, 0.3, 0.4, 0.5, 0.7')
  await app.getByTestId('queue-run').click()
  await queueRun(app, 'ties_merging', 'ties')
  await queueRun(app, 'dare_task_arithmetic', 'dare-ta')
  await go(app, 'runs')
  await app.getByTestId('method-ties_merging').click()
  await expect(app.locator('[data-status="running"]').first()).toBeVisible({ timeout: 60_000 })
  await snap(app, info, 'runs')
  await waitJobsSettled(app)

  await go(app, 'history')
  await expect(app.getByTestId('history-count')).toHaveText('8 experiments')
  const table = app.getByTestId('history-table')
  await table.focus()
  await table.press('ArrowDown')
  await table.press('s')
  await snap(app, info, 'history')

  // compare the λ sweep with TIES and DARE, with the reference rows
  await app.getByTestId('history-search').fill('ta')
  await table.focus()
  for (let i = 0; i < 8; i++) { await table.press(' '); await table.press('ArrowDown') }
  await table.press('c')
  await app.getByTestId('reference-toggle').check()
  await expect(app.getByTestId('ref-row').first()).toBeVisible()
  await snap(app, info, 'compare')
  await app.getByTestId('compare-table').scrollIntoViewIfNeeded()
  await go(app, 'diagnostics')
  await expect(app.getByTestId('cosine-heatmap').locator('canvas').first()).toBeVisible({ timeout: 180_000 })
  await snap(app, info, 'diagnostics')
})
