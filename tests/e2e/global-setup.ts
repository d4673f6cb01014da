// Builds the app if needed and starts `amalgam serve` (the real engine) on a random port with a known
// token and a temporary app-data folder. The URL goes to the workers through process.env.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { FullConfig } from '@playwright/test'
import { electronBinary } from './electron-binary'

const root = resolve(import.meta.dirname, '../..')

export default async function globalSetup(config: FullConfig): Promise<() => Promise<void>> {
  if (!existsSync(join(root, 'out/renderer/index.html')) || !existsSync(join(root, 'out/main/index.js')) || process.env.AMALGAM_E2E_REBUILD) {
    const b = spawnSync(process.execPath, [join(root, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], { cwd: root, stdio: 'inherit' })
    if (b.status !== 0) throw new Error('electron-vite build failed; the e2e tests need the built app')
  }
  if (config.projects.some((p) => p.name === 'electron') && !electronBinary()) {
    process.stdout.write('[e2e] project electron: no Electron binary (node_modules/electron/dist is absent; set ELECTRON_PATH) — its tests will be skipped\n')
  }
  const tmp = mkdtempSync(join(tmpdir(), 'amalgam-e2e-'))
  process.env.AMALGAM_E2E_TMP = tmp
  // a tiny custom pool (and one mismatching model) for the pool spec
  const pool = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'tests/e2e/make-pool.ts'), join(tmp, 'tiny-pool')], { cwd: root, stdio: 'inherit' })
  if (pool.status !== 0) throw new Error('could not write the tiny e2e pool (tests/e2e/make-pool.ts)')
  const wantsWeb = config.projects.some((p) => p.name === 'web')
  if (!wantsWeb) return async () => rmSync(tmp, { recursive: true, force: true })

  const token = randomBytes(16).toString('hex')
  const child: ChildProcess = spawn(process.execPath, [join(root, 'bin/amalgam.js'), 'serve', '--port', '0', '--token', token, '--app-data', join(tmp, 'app-data'), '--test-hooks'], {
    cwd: root,
    env: { ...process.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (d) => { stderr += d; if (process.env.AMALGAM_E2E_VERBOSE) process.stderr.write(d) })
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`amalgam serve did not start within 120 s\n${stderr}`)), 120_000)
    let out = ''
    child.stdout!.on('data', (d) => {
      out += d
      const m = /Amalgam serving at (\S+)/.exec(out)
      if (m) { clearTimeout(timer); ok(m[1]) }
    })
    child.once('exit', (code) => { clearTimeout(timer); fail(new Error(`amalgam serve exited with ${code}\n${stderr}`)) })
  })
  child.stdout!.resume()
  process.env.AMALGAM_E2E_URL = url
  process.env.AMALGAM_E2E_TOKEN = token
  return async () => {
    child.kill('SIGTERM')
    await new Promise((r) => { child.once('exit', r); setTimeout(r, 5000) })
    rmSync(tmp, { recursive: true, force: true })
  }
}
