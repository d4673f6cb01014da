// `npm test`: unit + component tests (vitest), a type check, then the browser end-to-end tests
// (build + Playwright in Debian's Chromium). Prints one closing line "N passed, N failed, N skipped"
// that CI reads, and exits non-zero if anything failed.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..')
const tmp = join(root, '.tmp')
mkdirSync(tmp, { recursive: true })
const totals = { passed: 0, failed: 0, skipped: 0 }
let broken = []

function step(name, cmd, args, env = {}) {
  console.log(`\n=== ${name}: ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
  if (r.status !== 0) broken.push(`${name} (exit ${r.status ?? r.signal})`)
  return r.status === 0
}

// 1. vitest (engine + ui projects)
const vitestJson = join(tmp, 'vitest.json')
step('unit', 'npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${vitestJson}`])
if (existsSync(vitestJson)) {
  const r = JSON.parse(readFileSync(vitestJson, 'utf8'))
  totals.passed += r.numPassedTests ?? 0
  totals.failed += (r.numFailedTests ?? 0)
  totals.skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0)
  if ((r.numFailedTestSuites ?? 0) > 0 && (r.numFailedTests ?? 0) === 0) totals.failed += r.numFailedTestSuites
} else totals.failed += 1

// 2. type check (counted as one test)
if (step('typecheck', 'npm', ['run', '--silent', 'typecheck'])) totals.passed += 1
else totals.failed += 1

// 3. end to end in Chromium through `amalgam serve`
if (process.env.AMALGAM_SKIP_E2E !== '1') {
  const pwJson = join(tmp, 'playwright.json')
  if (step('build', 'npx', ['electron-vite', 'build'])) {
    step('e2e', 'npx', ['playwright', 'test', '--reporter=list,json'], { PLAYWRIGHT_JSON_OUTPUT_NAME: pwJson })
    if (existsSync(pwJson)) {
      const s = JSON.parse(readFileSync(pwJson, 'utf8')).stats ?? {}
      totals.passed += (s.expected ?? 0) + (s.flaky ?? 0)
      totals.failed += s.unexpected ?? 0
      totals.skipped += s.skipped ?? 0
    } else totals.failed += 1
  } else totals.failed += 1
}

if (broken.length) console.log(`\nfailed steps: ${broken.join(', ')}`)
console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`)
process.exit(totals.failed > 0 || broken.length ? 1 : 0)
