// Builds the OpenBLAS/LAPACKE addon with node-gyp. A failed build is not fatal: the engine
// falls back to its TypeScript linear algebra and `amalgam doctor` reports "native: off".
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const nativeDir = join(root, 'native')
const built = join(nativeDir, 'build', 'Release', 'amalgam_linalg.node')
if (!existsSync(join(nativeDir, 'binding.gyp'))) process.exit(0)
if (existsSync(built) && !process.argv.includes('--force')) process.exit(0)
if (process.env.AMALGAM_SKIP_NATIVE === '1') { console.log('[amalgam] native build skipped (AMALGAM_SKIP_NATIVE=1)'); process.exit(0) }
const gyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
const r = spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: nativeDir, stdio: 'inherit' })
if (r.status !== 0) {
  console.warn('[amalgam] native linear algebra did not build; using the TypeScript fallback.')
  console.warn('[amalgam] On Debian/Ubuntu: apt-get install -y libopenblas-dev liblapacke-dev, then npm run build:native')
}
