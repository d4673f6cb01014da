// Two projects run the same specs: `web` (Debian Chromium through `amalgam serve`, always) and
// `electron` (the real app; skipped with a message where no Electron binary is installed).
// Never run `npx playwright install`: the browser is the system's /usr/bin/chromium.
import { defineConfig } from '@playwright/test'

const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic']

export default defineConfig({
  testDir: 'tests/e2e',
  testMatch: /.*\.spec\.ts$/,
  // one engine, one CPU budget: run specs one after another
  workers: 1,
  fullyParallel: false,
  timeout: 10 * 60_000,
  expect: { timeout: 20_000 },
  outputDir: 'test-results/e2e',
  reporter: [['list'], ['json', { outputFile: 'test-results/e2e/results.json' }]],
  globalSetup: './tests/e2e/global-setup.ts',
  use: {
    viewport: { width: 1440, height: 900 },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    actionTimeout: 30_000,
  },
  projects: [
    {
      name: 'web',
      use: { browserName: 'chromium', launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: chromiumArgs } },
    },
    // Chromium options here too: Playwright may create a page fixture before the Electron gate skips
    { name: 'electron', use: { browserName: 'chromium', launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: chromiumArgs } } },
  ],
})
