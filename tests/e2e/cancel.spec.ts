// Cancel a running job from the UI: confirmation first, then the engine stops it and says so.
import { test, expect, createWorkspace, loadMini8, go } from './fixtures'

test('cancels a running job after confirmation', async ({ app, workspaceDir }) => {
  await createWorkspace(app, workspaceDir)
  await loadMini8(app)
  await go(app, 'runs')
  // a sweep queues several evaluated runs, so one is running while the others wait
  await app.getByTestId('method-task_arithmetic').click()
  await app.getByTestId('run-name').fill('to-cancel')
  await app.getByTestId('sweep-toggle').check()
  await app.getByTestId('sweep-key-0').selectOption('scaling_factor')
  await app.getByTestId('sweep-values-0').fill('0.1, 0.2, 0.3, 0.4')
  await app.getByTestId('queue-run').click()
  await expect(app.getByTestId('queued-msg')).toContainText('Queued 4 runs')

  const running = app.locator('[data-status="running"]').first()
  await expect(running).toBeVisible({ timeout: 120_000 })
  const jobId = (await running.getAttribute('data-testid'))!
  const job = app.getByTestId(jobId)
  await job.getByTestId('cancel-job').click()
  // nothing happens until confirmed
  await expect(job.getByRole('alertdialog')).toContainText('partial output is discarded')
  await expect(job).toHaveAttribute('data-status', 'running')
  await job.getByTestId('cancel-job-yes').click()
  await expect(job).toHaveAttribute('data-status', 'cancelled', { timeout: 60_000 })

  // cancel the queued rest too so the engine is idle for the next spec
  const waiting = app.locator('[data-status="queued"], [data-status="running"]')
  for (let left = await waiting.count(); left > 0; left--) {
    const j = app.getByTestId((await waiting.first().getAttribute('data-testid'))!)
    await j.getByTestId('cancel-job').click()
    await j.getByTestId('cancel-job-yes').click()
    await expect(j).toHaveAttribute('data-status', 'cancelled', { timeout: 60_000 })
  }
  await expect(waiting).toHaveCount(0)
  await go(app, 'history')
  await app.getByTestId('history-search').fill('to-cancel')
  await expect(app.getByTestId('history-table').locator('.badge.st-cancelled').first()).toBeVisible()
})
