// Writes a tiny model pool for the custom-pool spec (run by the global setup with tsx):
// base, ft1, ft2 with the same shapes, and `odd` with a different hidden size (a mismatch).
//   tsx tests/e2e/make-pool.ts DIR
import { join } from 'node:path'
import { writeTinyClipFolder } from '../fixtures/make-tiny-checkpoints'

const dir = process.argv[2]
if (!dir) throw new Error('usage: make-pool.ts DIR')
await writeTinyClipFolder(join(dir, 'base'), { seed: 1 })
await writeTinyClipFolder(join(dir, 'ft1'), { seed: 2 })
await writeTinyClipFolder(join(dir, 'ft2'), { seed: 3, dtype: 'BF16' })
await writeTinyClipFolder(join(dir, 'odd'), { seed: 4, hidden: 12 })
