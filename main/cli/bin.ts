// Process entry used by bin/amalgam.js (tests import ./main instead).
import { main, keepAlive } from './main'

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
    if (!keepAlive) setTimeout(() => process.exit(code), 20).unref()
  },
  (e) => {
    process.stderr.write(`amalgam: ${e instanceof Error ? e.message : String(e)}\n`)
    process.exit(1)
  },
)
