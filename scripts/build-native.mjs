// Builds the OpenBLAS/LAPACKE addon with node-gyp. A failed build is not fatal: the engine
// falls back to its TypeScript linear algebra and `amalgam doctor` reports "native: off".
//
// node-gyp candidates, in order: the one npm passes to install scripts (npm_config_node_gyp),
// npm's bundled copy next to this Node, then one installed in the project. We do not depend on
// node-gyp ourselves: node-gyp 13 pulls an undici that needs Node ≥ 22 (zstd) and fails on Node 20.
// Headers: an explicit nodedir (npm config / env), else the distro's /usr/include/node when it
// has node_api.h, so the build works offline.
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

const gyps = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter((p, i, all) => p && existsSync(p) && all.indexOf(p) === i)

const args = ['rebuild']
const nodedir = process.env.npm_config_nodedir || (existsSync('/usr/include/node/node_api.h') ? '/usr' : '')
if (nodedir) args.push(`--nodedir=${nodedir}`)

let ok = false
for (const gyp of gyps) {
  console.log(`[amalgam] building native linear algebra with ${gyp}`)
  const r = spawnSync(process.execPath, [gyp, ...args], { cwd: nativeDir, stdio: 'inherit' })
  if (r.status === 0 && existsSync(built)) { ok = true; break }
}
if (!ok) {
  console.warn('[amalgam] native linear algebra did not build; using the TypeScript fallback.')
  console.warn('[amalgam] On Debian/Ubuntu: apt-get install -y libopenblas-dev liblapacke-dev, then npm run build:native')
}
