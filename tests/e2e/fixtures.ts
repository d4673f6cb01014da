// One fixture set for both projects: `app` is the workbench page, in Chromium through `amalgam serve`
// (project web) or in the real Electron app (project electron, skipped without a binary).
import { test as base, expect, _electron, type Page, type TestInfo } from '@playwright/test'
import { copyFileSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'

import { electronBinary } from './electron-binary'

export const root = resolve(import.meta.dirname, '../..')
export const tmp = (): string => {
  const t = process.env.AMALGAM_E2E_TMP
  if (!t) throw new Error('AMALGAM_E2E_TMP is not set: run through playwright.config.ts (global setup)')
  return t
}

const safe = (s: string) => s.replace(/[^\w.-]+/g, '-').slice(0, 60)

const NO_ELECTRON = 'no Electron binary: node_modules/electron/dist is absent (installs without network access skip the download); set ELECTRON_PATH to run the electron project'

export const test = base.extend<{ app: Page; workspaceDir: string; electronGate: void }>({
  // runs first for every test, so the electron project skips before anything is launched
  electronGate: [async ({}, use, info) => {
    if (info.project.name === 'electron') test.skip(!electronBinary(), NO_ELECTRON)
    await use()
  }, { auto: true }],
  workspaceDir: async ({}, use, info) => {
    await use(join(tmp(), `ws-${info.project.name}-${safe(info.title)}-${info.retry}`))
  },
  app: async ({ page, electronGate }, use, info) => {
    void electronGate
    if (info.project.name === 'web') {
      const url = process.env.AMALGAM_E2E_URL
      if (!url) throw new Error('AMALGAM_E2E_URL is not set: the global setup did not start amalgam serve')
      await page.goto(url)
      await use(page)
      return
    }
    const exe = electronBinary()
    test.skip(!exe, NO_ELECTRON)
    const app = await _electron.launch({
      executablePath: exe!,
      args: [join(root, 'out/main/index.js'), '--no-sandbox'],
      env: { ...process.env, APP_DATA_DIR: join(tmp(), `electron-${safe(info.title)}`), AMALGAM_MINI8: join(root, 'resources/mini8') },
    })
    const win = await app.firstWindow()
    await use(win)
    await app.close()
  },
})
export { expect }

/** A screenshot of the current view, kept as a test artifact. */
export async function snap(page: Page, info: TestInfo, name: string): Promise<void> {
  const path = info.outputPath(`${name}.png`)
  // the view from its top, as a user lands on it (actions may have scrolled the content pane)
  await page.evaluate(() => document.querySelector('.content')?.scrollTo(0, 0))
  await page.screenshot({ path, fullPage: false })
  await info.attach(name, { path, contentType: 'image/png' })
  // AMALGAM_SCREENSHOTS_DIR=docs/screenshots refreshes the README's images from a real run
  const docs = process.env.AMALGAM_SCREENSHOTS_DIR
  if (docs && info.project.name === 'web' && /(journey|docs-screenshots|status)\.spec\.ts$/.test(info.file)) { mkdirSync(resolve(root, docs), { recursive: true }); copyFileSync(path, resolve(root, docs, `${name}.png`)) }
}

export async function go(page: Page, view: 'workspaces' | 'pool' | 'runs' | 'history' | 'compare' | 'diagnostics' | 'export' | 'status'): Promise<void> {
  await page.getByTestId(`nav-${view}`).click()
  await expect(page.getByTestId(`view-${view}`)).toBeVisible()
}

export async function createWorkspace(page: Page, dir: string): Promise<void> {
  await go(page, 'workspaces')
  await page.getByTestId('workspace-path').fill(dir)
  await page.getByTestId('create-workspace').click()
  const done = page.getByTestId('current-workspace').filter({ hasText: dir })
  const failed = page.getByTestId('workspace-error')
  await expect(done.or(failed)).toBeVisible({ timeout: 60_000 })
  if (await failed.isVisible()) throw new Error(`creating the workspace failed: ${await failed.innerText()}`)
}

export async function loadMini8(page: Page): Promise<void> {
  await expect(page.getByTestId('first-run')).toBeVisible()
  await page.getByTestId('load-mini8').click()
  await expect(page.getByTestId('view-runs')).toBeVisible({ timeout: 120_000 })
}

/** Queue one run of `method` from the Methods & runs view; returns the job row. */
export async function queueRun(page: Page, method: string, name: string, opts: { keepModel?: boolean; evaluate?: boolean } = {}) {
  await go(page, 'runs')
  await page.getByTestId(`method-${method}`).click()
  await expect(page.getByTestId('method-form')).toContainText(method === 'ties_merging' ? 'TIES' : '')
  await page.getByTestId('run-name').fill(name)
  if (opts.evaluate === false) await page.getByLabel("evaluate on the pool's tasks").uncheck()
  if (opts.keepModel === false) await page.getByLabel('keep the merged model (needed to export)').uncheck()
  await page.getByTestId('queue-run').click()
  await expect(page.getByTestId('queued-msg')).toContainText('Queued')
}

/** Wait until no job is queued or running, then check none failed. */
/**
 * Waits until no job is queued or running. `done`: also wait for that many finished jobs — right
 * after a click the list may not show the new jobs yet, and "nothing busy" would pass too early.
 */
export async function waitJobsSettled(page: Page, timeout = 8 * 60_000, done?: number): Promise<void> {
  if (done !== undefined) await expect(page.locator('[data-status="done"], [data-status="failed"]')).toHaveCount(done, { timeout })
  const busy = page.locator('[data-status="running"], [data-status="queued"]')
  await expect(busy).toHaveCount(0, { timeout })
  const failed = page.locator('[data-status="failed"]')
  if (await failed.count()) throw new Error(`a job failed: ${await failed.first().innerText()}`)
}

/** Add the tiny pool written by the global setup (base + ft1 + ft2) through the pool form. */
export async function addTinyPool(page: Page, name = 'tiny'): Promise<void> {
  const pool = join(tmp(), 'tiny-pool')
  await go(page, 'pool')
  await page.getByTestId('pool-name').fill(name)
  await page.getByTestId('pool-base').fill(join(pool, 'base'))
  await page.getByTestId('pool-models').fill([join(pool, 'ft1'), join(pool, 'ft2')].join('\n'))
  await page.getByTestId('pool-add').click()
  await expect(page.getByTestId(`pool-${name}`)).toBeVisible()
}
