// Issue 2's must-show: the engine status page, opened through `amalgam serve` (or in Electron).
import { test, expect, go, snap } from './fixtures'

test('the status page shows the tensor backend, native linear algebra and threads', async ({ app }, info) => {
  await go(app, 'status')
  await expect(app.getByTestId('tensor-backend')).toHaveText(/^(tensorflow|wasm|cpu)$/)
  await expect(app.getByTestId('native-linalg')).toHaveText(/^(on|off)$/)
  await expect(app.getByTestId('threads')).toHaveText(/^[1-9]\d*$/)
  await expect(app.getByTestId('engine-version')).toHaveText(/^\d+\.\d+\.\d+/)
  await expect(app.getByTestId('connection')).toContainText('connected')
  await snap(app, info, 'status')
})

test('a wrong token is refused and the page says so', async ({ app }, info) => {
  test.skip(info.project.name !== 'web', 'tokens exist only for amalgam serve')
  const url = new URL(process.env.AMALGAM_E2E_URL!)
  url.searchParams.set('token', '0'.repeat(32))
  await app.evaluate(() => sessionStorage.clear())
  await app.goto(url.href)
  await expect(app.getByRole('alert')).toContainText('Not connected to the engine')
  await expect(app.getByTestId('connection')).toContainText('closed')
})

test('an engine restart is shown to the user', async ({ app }, info) => {
  test.skip(info.project.name !== 'web', 'in Electron a restart comes from main/app when the utility process dies')
  await go(app, 'status')
  await expect(app.getByTestId('tensor-backend')).toBeVisible()
  const url = new URL(process.env.AMALGAM_E2E_URL!)
  const res = await app.request.post(`${url.origin}/__test/emit?token=${process.env.AMALGAM_E2E_TOKEN}`, {
    data: { name: 'engine.restarted', payload: { reason: 'the engine process exited with code 137; restarted' } },
  })
  expect(res.status()).toBe(204)
  const banner = app.getByTestId('restart-banner')
  await expect(banner).toContainText('exited with code 137')
  await banner.getByRole('button', { name: 'Dismiss' }).click()
  await expect(banner).toHaveCount(0)
})
