// A user's own checkpoints, entered by path: the pre-run check lists mismatches and adds nothing;
// a compatible pool is added with model cards, merged, and exported as a Hugging Face folder.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test, expect, go, snap, createWorkspace, tmp, waitJobsSettled } from './fixtures'

test('custom pool by path: mismatch listed, compatible pool merged and exported', async ({ app, workspaceDir }, info) => {
  const pool = join(tmp(), 'tiny-pool')
  await createWorkspace(app, workspaceDir)
  await go(app, 'pool')

  await app.getByTestId('pool-name').fill('tiny')
  await app.getByTestId('pool-base').fill('relative/base')
  await expect(app.getByText('must be an absolute path', { exact: true })).toBeVisible()
  await expect(app.getByTestId('pool-add')).toBeDisabled()

  await app.getByTestId('pool-base').fill(join(pool, 'base'))
  await app.getByTestId('pool-models').fill([join(pool, 'ft1'), join(pool, 'odd')].join('\n'))
  await app.getByTestId('pool-add').click()
  const result = app.getByTestId('pool-check-result')
  await expect(result).toContainText('nothing will start')
  await expect(result.locator('tbody tr').first()).toContainText('odd')
  await expect(app.getByTestId('pool-tiny')).toHaveCount(0)
  await snap(app, info, 'pool-mismatch')

  await app.getByTestId('pool-models').fill([join(pool, 'ft1'), join(pool, 'ft2')].join('\n'))
  await app.getByTestId('pool-add').click()
  await expect(app.getByTestId('pool-tiny')).toBeVisible()
  await expect(app.getByTestId('pool-check-result')).toContainText('Compatible')
  await expect(app.getByTestId('card-model')).toHaveCount(2)
  await expect(app.getByTestId('pool-detail')).toContainText('BF16')

  await go(app, 'runs')
  await app.getByTestId('method-task_arithmetic').click()
  await app.getByTestId('run-pool').selectOption({ label: 'tiny' })
  await app.getByTestId('run-name').fill('tiny-ta')
  await app.getByLabel("evaluate on the pool's tasks").uncheck()
  await app.getByTestId('queue-run').click()
  await waitJobsSettled(app, 120_000, 1)
  await expect(app.locator('[data-status="done"]')).toHaveCount(1)

  await go(app, 'history')
  await expect(app.getByTestId('history-count')).toHaveText('1 experiment')
  const table = app.getByTestId('history-table')
  await table.press('Enter')
  await app.getByTestId('history-details').getByRole('button', { name: 'Export…' }).click()
  await expect(app.getByTestId('card-preview')).toContainText('tags:')
  const out = join(workspaceDir, '..', `export-tiny-${info.project.name}`)
  await app.getByTestId('export-out').fill(out)
  await app.getByTestId('export-dtype').selectOption('bf16')
  await app.getByTestId('export-run').click()
  await expect(app.getByTestId('export-done')).toBeVisible({ timeout: 120_000 })
  await snap(app, info, 'export-tiny')
  expect(existsSync(join(out, 'model.safetensors'))).toBe(true)
  expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))).toBeTruthy()
  expect(readFileSync(join(out, 'README.md'), 'utf8')).toContain('amalgam')
})
