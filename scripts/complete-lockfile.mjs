// The registry this project is built against serves only the linux-x64 (and some arm64) builds of
// rollup's per-platform packages, so `npm install` writes a lockfile without the others, and
// `npm ci` then refuses the lockfile as out of sync. This fills in those optional entries with
// their os/cpu/libc constraints (derived from the package names), which makes npm ci skip them on
// every other platform without fetching anything. Run after any `npm install` that rewrites the lock.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const file = join(import.meta.dirname, '..', 'package-lock.json')
const lock = JSON.parse(readFileSync(file, 'utf8'))
const CPU = { 'arm-eabi': 'arm', arm: 'arm', arm64: 'arm64', x64: 'x64', ia32: 'ia32', loong64: 'loong64', ppc64: 'ppc64', riscv64: 'riscv64', s390x: 's390x' }
const LIBC = { gnu: 'glibc', gnueabihf: 'glibc', musl: 'musl', musleabihf: 'musl' }
const platformOf = (name) => {
  const m = /^@rollup\/rollup-(android|darwin|freebsd|linux|openbsd|openharmony|win32)-(arm-eabi|arm|arm64|x64|ia32|loong64|ppc64|riscv64|s390x)(?:-(gnu|gnueabihf|musl|musleabihf|msvc))?$/.exec(name)
  if (!m) return null
  return { os: [m[1]], cpu: [CPU[m[2]]], ...(m[3] && LIBC[m[3]] ? { libc: [LIBC[m[3]]] } : {}) }
}
let added = 0
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const at = `${path ? `${path}/` : ''}node_modules/${dep}`
    const hoisted = `node_modules/${dep}`
    if (lock.packages[at] || lock.packages[hoisted]) continue
    const p = platformOf(dep)
    if (!p) continue
    lock.packages[hoisted] = { version, ...p, ...(entry.dev ? { dev: true } : {}), license: 'MIT', optional: true }
    added++
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)))
writeFileSync(file, JSON.stringify(lock, null, 2) + '\n')
console.log(`complete-lockfile: added ${added} platform entr${added === 1 ? 'y' : 'ies'}`)
