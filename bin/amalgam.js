#!/usr/bin/env node
// The `amalgam` command. The engine is TypeScript run through tsx; the loader must be active in
// worker threads and child processes too, so we re-exec Node with `--import tsx` (execArgv is
// inherited by workers) instead of registering it only in this thread.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const entry = fileURLToPath(new URL('../main/cli/bin.ts', import.meta.url))
const tsx = import.meta.resolve('tsx')
const child = spawn(process.execPath, ['--import', tsx, ...process.execArgv, entry, ...process.argv.slice(2)], { stdio: 'inherit' })
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => {
  if (signal) process.kill(process.pid, signal)
  else process.exit(code ?? 1)
})
